"""A GeoPackage's large tables read column by column by GDAL, in a child process, for loading a registry whole.

GDAL's columnar (Arrow) reader hands over a table's columns without a Python object per value: five times faster
than rows through sqlite3 on a million features. It runs in a child process because GDAL links its own SQLite,
and two SQLite libraries with one file open in one process break each other's locks (closing one's file drops
the POSIX locks the other holds: https://www.sqlite.org/howtocorrupt.html, 2.2); this process's connections,
writers among them, never share a process with it. Each table is read in one read transaction of the child's;
the caller checks that no commit came between the tables (``gpkg._load_state``).

Run as a script (by path, importing no more than pyogrio and pyarrow) it is the child: it writes each table
named on its command line to stdout as a length and an Arrow IPC stream, in that order.
"""

from __future__ import annotations

import queue
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

_LENGTH = struct.Struct("<Q")


class ChildFailed(Exception):
    """The child could not read the tables (its last line of stderr says why)."""


class Tables:
    """``names``' tables of the GeoPackage at ``path`` as Arrow tables with their ``fid`` column, in that order, each
    as soon as the child has read it (the caller converts one while the child reads the next).

    The child starts at once, and needs about 0.3 s to import GDAL. A thread drains its output as it comes: had the
    child to wait until the caller asks for the next table, it could not read that one while the caller converts
    this one (on a million features the caller waited a third of a second for tables in all).
    """

    def __init__(self, path: str | Path, names: Sequence[str]) -> None:
        self.names = list(names)
        # a file, not a pipe: a pipe could fill with GDAL's warnings and stall the child; ``close`` closes it
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self._child = subprocess.Popen([sys.executable, "-P", __file__, str(path), *self.names],
                                           stdout=subprocess.PIPE, stderr=self._errors)
        except OSError as exc:  # no interpreter to run it (an embedded Python), or no process left to start
            self._errors.close()
            raise ChildFailed(str(exc)) from None
        self._read = 0
        self._received: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._drain = threading.Thread(target=self._receive, name="columnar-reader", daemon=True)
        self._drain.start()

    def _receive(self) -> None:
        """Put each table's stream, as it comes, in the queue, then None (at the end, or if the child stopped)."""
        out = self._child.stdout
        try:
            for _ in self.names:
                header = out.read(_LENGTH.size)
                if len(header) < _LENGTH.size:
                    break
                size = _LENGTH.unpack(header)[0]
                data = out.read(size)
                if len(data) < size:
                    break
                self._received.put(data)
        except OSError:  # the pipe failed: the caller is told why the child stopped
            pass
        self._received.put(None)

    def __iter__(self) -> Iterator[tuple[str, pa.Table]]:
        for name in self.names[self._read:]:
            data = self._received.get()
            if data is None:
                raise ChildFailed(self._failure())
            self._read += 1
            yield name, pa.ipc.open_stream(pa.py_buffer(data)).read_all()

    def _failure(self) -> str:
        """Why the child stopped: the last line it wrote to stderr."""
        code = self._child.wait()
        self._errors.seek(0)
        lines = self._errors.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {code}"

    def close(self) -> None:
        """Stop the child if the caller did not read every table, and release its pipe and file."""
        if self._read < len(self.names):
            self._child.kill()
        self._drain.join()
        self._child.stdout.close()
        self._child.wait()
        self._errors.close()

    def __enter__(self) -> Tables:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def text_objects(column: pa.ChunkedArray, texts: dict[str, str] | None = None,
                 order: np.ndarray | None = None) -> np.ndarray:
    """A column's values (in ``order`` if given) as the Python objects sqlite3 returns for them (text, int, float,
    None; dates as ISO text), each distinct text one object (``texts``'s if given: shared across the tables of a
    state)."""
    if pa.types.is_date(column.type):
        column = column.cast(pa.string())
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        values = np.empty(len(column), dtype=object)
        values[:] = column.to_pylist()
        return values if order is None else values[order]
    encoded = column.combine_chunks().dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    uniques = np.empty(len(distinct) + 1, dtype=object)  # the last one is None, for missing values
    uniques[:-1] = distinct if texts is None else [texts.setdefault(value, value) for value in distinct]
    indices = encoded.indices.fill_null(len(distinct)).to_numpy()
    return uniques[indices if order is None else indices[order]]


def column_values(column: pa.ChunkedArray, order: np.ndarray | None = None) -> np.ndarray:
    """A column's values in ``order``: numbers as a NumPy array of their type (a missing real as NaN) and so are
    integers and booleans with none missing, since made Python objects they would only be typed again (a fifth of
    a second for a hundred thousand projects); the rest as ``text_objects`` gives them."""
    numbers = pa.types.is_floating(column.type) or (
        column.null_count == 0 and (pa.types.is_integer(column.type) or pa.types.is_boolean(column.type)))
    if not numbers:
        return text_objects(column, order=order)
    values = column.to_numpy()
    return values if order is None else values[order]


def _main(path: str, names: Sequence[str]) -> None:
    """The child: each table of ``names`` read with its fids and written to stdout, length first."""
    # pyogrio imports these if it can, and needs none of them to read columns: refused, they no longer cost the
    # child most of its start (0.7 s of 0.9)
    for optional in ("geopandas", "pandas", "shapely", "pyproj"):
        sys.modules[optional] = None
    import pyogrio  # here: the parent needs only pyarrow

    out = sys.stdout.buffer
    for name in names:
        _, table = pyogrio.read_arrow(path, layer=name, return_fids=True)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        del table
        data = sink.getvalue()
        out.write(_LENGTH.pack(data.size))
        out.write(data)
        out.flush()


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2:])
