"""A throwaway PostgreSQL + PostGIS server for the tests: its own cluster in a temporary folder, on a free port."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

SETUP_HINT = "run scripts/setup as root, which installs postgresql and postgis"
DATABASE = "registry_test"


def find_bindir() -> Path:
    """The folder holding initdb and pg_ctl: ``pg_config --bindir``, else the newest /usr/lib/postgresql/*/bin."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip() or "/nonexistent"))
    installed = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    candidates += sorted(installed, key=lambda p: [int(x) for x in p.parent.name.split(".") if x.isdigit()],
                         reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise RuntimeError(f"PostgreSQL server binaries (initdb, pg_ctl) not found; {SETUP_HINT}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it for a socket bound to port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One running cluster with database ``registry_test`` that has PostGIS; ``url`` connects to it."""

    def __init__(self, bindir: Path, data_dir: Path, port: int) -> None:
        self.bindir, self.data_dir, self.port = bindir, data_dir, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        """Run a server binary; as the ``postgres`` user when we are root, because PostgreSQL refuses to run as root."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        cmd = [*prefix, str(self.bindir / args[0]), *args[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.data_dir, timeout=120)
        if proc.returncode != 0:
            log = self.data_dir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}{tail}")
        return proc

    @classmethod
    def start(cls) -> PostgresServer:
        """Create a fast (fsync off) cluster in a new folder under /tmp, start it and add PostGIS to ``registry_test``.

        The folder is made with mkdtemp in /tmp, not under pytest's tmp dirs, which the postgres user cannot enter.
        """
        bindir = find_bindir()
        data_dir = Path(tempfile.mkdtemp(prefix="registry-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(data_dir)
                raise RuntimeError(f"running as root but there is no 'postgres' user; {SETUP_HINT}") from None
            os.chown(data_dir, user.pw_uid, user.pw_gid)
        server = cls(bindir, data_dir, free_port())
        try:
            server._run("initdb", "-D", str(data_dir), "-A", "trust", "-U", "postgres", "--encoding=UTF8",
                        "--locale=C.UTF-8", "--no-sync")
            with open(data_dir / "postgresql.conf", "a") as conf:
                conf.write(f"port = {server.port}\nlisten_addresses = '127.0.0.1'\n"
                           f"unix_socket_directories = '{data_dir}'\n"
                           "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
            server.boot()
            with psycopg.connect(server.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {DATABASE}")
            with psycopg.connect(server.url, autocommit=True) as conn:
                try:
                    conn.execute("CREATE EXTENSION postgis")
                except psycopg.Error as e:
                    raise RuntimeError(f"the PostGIS extension is not available ({e}); {SETUP_HINT}") from e
        except BaseException:
            server.stop()
            raise
        return server

    def halt(self) -> None:
        """Shut the server down as an outage would (clients are cut off), keeping its data for ``boot``."""
        self._run("pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.data_dir))

    def boot(self) -> None:
        """Start the server process on its port and data: the first time, or again after ``halt``."""
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l",
                  str(self.data_dir / "server.log"))

    def stop(self) -> None:
        """Kill the server at once (its data is throwaway) and delete its folder; safe to call twice."""
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data_dir))
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
