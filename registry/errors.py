"""Errors the registry reports to its users: each says what is wrong and what to fix.

The CLI prints them as one line on stderr with exit code 2; the API turns them into JSON problems.
"""

from __future__ import annotations


class RegistryError(Exception):
    """A user-facing error; ``param`` names the input at fault when there is one."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class StoreError(RegistryError):
    """The store cannot be opened or used: missing file, not a GeoPackage, newer schema..."""


class StoreUnavailable(StoreError):
    """The store is unreachable or failed a statement: a fault of the server, not of the request.

    The API answers 503 with Retry-After and logs the message (it names the host and the database's words).
    """


class ValidationError(RegistryError):
    """Input data breaks a rule of the data model; nothing was written."""


class NotFound(RegistryError):
    """A named layer, project or feature does not exist."""


class Forbidden(RegistryError):
    """The account may not do this (a viewer writing, an editor touching another department's project)."""


class Conflict(RegistryError):
    """A conditional write whose expected version is no longer current (HTTP 412): someone changed it first.

    ``current`` carries the version now stored (None if the row is gone), for the answer's ETag.
    """

    def __init__(self, message: str, *, param: str | None = None, current: object = None) -> None:
        super().__init__(message, param=param)
        self.current = current
