"""Accounts of the registry: who may sign in, with which role, for which lead department.

Only hashes are stored: a password (read by people, checked only at sign-in) as argon2, and an API token
(random, sent by programs on every request) as its SHA-256, cheap enough to check each time. ``add`` and
``reset`` hand the secrets out once. Roles (``model.ROLES``): a viewer reads; an editor changes the projects
of their lead department; an admin does everything, including accounts.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import model, script
from .errors import NotFound, ValidationError
from .i18n import gettext
from .store.base import Reader, Store, per_revision
from .store.edits import Author

ROLES = model.ROLES
_NAME = re.compile(r"[^\s:/\\]{1,64}")  # no ':' (HTTP Basic splits on it), no spaces or path separators
_HASHER = PasswordHasher()


@functools.cache
def _no_such_hash() -> str:
    """A hash verified for unknown names, so that they take as long (made on first sign-in, not at import:
    every command imports this module)."""
    return _HASHER.hash(secrets.token_urlsafe(16))



@dataclass(frozen=True)
class User:
    """A stored account, without its secrets. ``session_id`` names it in a session cookie together with a
    stamp of its password hash, so a reset or a disable ends the sessions signed in before."""

    name: str
    role: str
    department: str | None
    disabled: bool
    created_at: str
    session_id: str
    script: str | None = None  # the account's display script (zh-Hans or zh-Hant); None: as its browser asks

    @property
    def is_active(self) -> bool:
        return not self.disabled

    # Flask-Login's user protocol (it reads these; the library itself stays independent of Flask).
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return self.session_id


@dataclass(frozen=True)
class Credentials:
    """What ``add`` and ``reset`` give out once: the password for the sign-in page and the API token."""

    name: str
    password: str
    token: str


def token_hash(token: str) -> str:
    """The stored form of an API token: its SHA-256 in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(gettext("role must be one of %(roles)s, got %(value)s", roles=", ".join(ROLES),
                                      value=repr(role)), param="role")
    return role


def check_department(text: str | None, role: str) -> str | None:
    """The stored (Traditional) name of a lead department given by code or any script; editors need one."""
    if text is None or not text.strip():
        if role == "editor":
            names = model.accepted_names("lead_department", script.current())
            raise ValidationError(gettext("an editor needs --department: the lead department whose projects they edit "
                                          "(%(names)s)", names=names), param="department")
        return None
    stored = model.resolve_name("lead_department", text.strip())
    if stored is None:
        raise ValidationError(gettext("unknown department %(value)s; use one of %(names)s", value=repr(text),
                                      names=model.accepted_names("lead_department", script.current())),
                              param="department")
    return stored


def _row(store: Store, name: str) -> dict:
    rows = store.users()
    found = _records(rows[rows["name"] == name])
    if not found:
        raise NotFound(gettext("no account named %(name)s; `registry user list` shows the accounts", name=repr(name)),
                       param="name")
    return found[0]


def _user(row: dict) -> User:
    stamp = hashlib.sha256(f"{row['password_hash']}|{row['token_hash']}".encode()).hexdigest()[:16]
    return User(name=row["name"], role=row["role"], department=row["department"] or None,
                disabled=bool(row["disabled"]), created_at=row["created_at"], session_id=f"{stamp}:{row['name']}",
                script=row.get("script") or None)


def _new_secrets(row: dict) -> Credentials:
    password, token = secrets.token_urlsafe(12), secrets.token_urlsafe(32)
    row["password_hash"] = _HASHER.hash(password)
    row["token_hash"] = token_hash(token)
    return Credentials(row["name"], password, token)


def add(store: Store, name: str, role: str, department: str | None = None,
        chosen_script: str | None = None) -> Credentials:
    """Create an account (with its display script, if given) and return its password and token (stored only
    as hashes)."""
    if not _NAME.fullmatch(name or ""):
        raise ValidationError(gettext("account name %(name)s: 1-64 characters without spaces, ':', '/' or '\\'",
                                      name=repr(name)), param="name")
    role = check_role(role)
    department = check_department(department, role)
    if (store.users()["name"] == name).any():
        raise ValidationError(gettext("an account named %(name)s exists already; `registry user reset %(plain)s` gives "
                                      "it new credentials", name=repr(name), plain=name), param="name")
    row = {"name": name, "role": role, "department": department, "disabled": False,
           "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "script": script.parse(chosen_script, "script")}
    credentials = _new_secrets(row)
    store.save_user(row)
    return credentials


def list_users(store: Store) -> list[User]:
    """Every account, without secrets, by name."""
    return [_user(row) for row in _records(store.users())]


def disable(store: Store, name: str) -> User:
    """Refuse the account from now on (its password, token and sessions); reset gives it credentials again."""
    row = _row(store, name)
    row["disabled"] = True
    store.save_user(row)
    return _user(row)


def set_script(store: Store, name: str, chosen_script: str | None) -> User:
    """Set the display script an account sees (``zh-Hans`` or ``zh-Hant``; None or empty: follow the browser's
    Accept-Language, then the registry's default). It ranks below ``lang=`` and above Accept-Language."""
    row = _row(store, name)
    row["script"] = script.parse(chosen_script, "script")
    store.save_user(row)
    return _user(row)


def reset(store: Store, name: str) -> Credentials:
    """A new password and token for an account (the old ones stop working); re-enables a disabled account."""
    row = _row(store, name)
    row["disabled"] = False
    credentials = _new_secrets(row)
    store.save_user(row)
    return credentials


def authenticate_password(store: Store, name: str, password: str) -> User | None:
    """The active account whose password this is, or None (argon2: slow on purpose, for the sign-in page)."""
    rows = store.users()
    found = _records(rows[rows["name"] == name])
    stored = found[0]["password_hash"] if found else None
    try:
        _HASHER.verify(stored or _no_such_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    user = _user(found[0]) if stored else None
    return user if user is not None and user.is_active else None


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain values, None for missing ones (a token check after each edit builds them)."""
    columns = list(frame.columns)
    return [dict(zip(columns, row)) for row in frame.to_numpy(dtype=object, na_value=None).tolist()]


def _index(store: Store, view: Reader | None) -> tuple[dict[str, User], dict[str, User]]:
    """Accounts by token hash and by session id, built once per store revision (an account change moves it
    on); ``view``, a snapshot of the store already open (a request's), names the revision without a query."""
    def build() -> tuple[dict[str, User], dict[str, User]]:
        rows = _records(store.users())
        by_token = {row["token_hash"]: _user(row) for row in rows if row["token_hash"]}
        return by_token, {user.session_id: user for user in map(_user, rows)}
    return per_revision(view or store, "accounts", build)


def authenticate_token(store: Store, token: str, view: Reader | None = None) -> User | None:
    """The active account this API token belongs to, or None."""
    user = _index(store, view)[0].get(token_hash(token))
    return user if user is not None and user.is_active else None


def user_by_session_id(store: Store, session_id: str, view: Reader | None = None) -> User | None:
    """The active account a session cookie names, if its credentials have not changed since sign-in."""
    user = _index(store, view)[1].get(session_id)
    return user if user is not None and user.is_active else None


def author_of(user: User) -> Author:
    """The author a signed-in account writes as: its name, role and department."""
    return Author(name=user.name, role=user.role, department=user.department)
