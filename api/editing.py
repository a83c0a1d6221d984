"""HTTP glue of the edit routes (``/projects`` and ``/collections/{layer}/items``): who writes, the body and
its media type, ``If-Match`` and ``Content-Crs``, and the answers (201 + Location, ETag, 412 with the current
version, 422 naming the field). The edits themselves are ``registry.editing``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import UnsupportedMediaType

from registry import editing
from registry.errors import Conflict, Forbidden, RegistryError, ValidationError
from registry.i18n import gettext
from registry.store import Store
from registry.store.edits import Author

from . import dashboard
from .http import JSON, problem, release_store

WRITES = ("POST", "PUT", "PATCH", "DELETE")
READS = ("GET", "HEAD", "OPTIONS")


class MalformedBody(RegistryError):
    """A request body that is not JSON of the right media type (400; the app's RegistryError handler answers)."""


def writable() -> Store:
    """The app's store, to write to (reads go through the request's snapshot, ``http.store``)."""
    return current_app.extensions["registry_store"]


def author() -> Author:
    """Who writes: the signed-in account (401 from ``api.auth`` otherwise), refused at once (403) if its role
    writes nothing, before its body is read."""
    from . import auth

    who = auth.require_author()
    if not auth.may_write():
        raise Forbidden(gettext("account %(name)s (%(role)s) may read but not change projects", name=who.name,
                                role=who.role))
    return who


def may_write(project: Any = None) -> bool:
    """Whether this caller may edit ``project`` (a project row), or, with none, some project."""
    from . import auth

    return auth.may_write(project)


def if_match() -> editing.IfMatch:
    """The strong tags of ``If-Match`` (``*`` kept), or None without the header; weak tags never match (RFC 9110)."""
    if "If-Match" not in request.headers:
        return None
    tags = request.if_match
    return ("*",) if tags.star_tag else tuple(tags.as_set())


def content_crs() -> str | None:
    return request.headers.get("Content-Crs")


def body(*media: str) -> Any:
    """The request's JSON body, sent as one of ``media`` or without a Content-Type (OWSLib's PUT of a text
    sends none), parsed within the limits; another media type is a 415."""
    sent = request.mimetype
    if sent and sent not in media:
        raise UnsupportedMediaType(gettext("Content-Type must be %(types)s, got %(value)s", types=" / ".join(media),
                                           value=repr(sent)))
    try:
        return editing.parse_json(request.get_data(cache=False))
    except ValidationError as exc:
        raise MalformedBody(exc.message, param=exc.param) from None


def answer(payload: bytes | None, tag: str | None, status: int = 200, mimetype: str = JSON,
           location: str | None = None) -> Response:
    """A write's answer (or a 412's): the resource as it is now, its strong ETag, its Location when created."""
    response = Response(payload, status=status, mimetype=mimetype if payload is not None else None)
    if tag:
        response.set_etag(tag)
    if location:
        response.headers["Location"] = location
    response.headers["Cache-Control"] = "no-store"
    return response


def allow(response: Response, writes: tuple[str, ...]) -> Response:
    response.headers["Allow"] = ", ".join((*READS, *writes))
    return response


def handle_refusals(bp: Blueprint, current: Callable[[], Response | None]) -> None:
    """Answer a blueprint's edits refused by the registry's rules: invalid content 422 (a read's bad parameter
    stays a 400), a stale If-Match 412 with ``current()``, the resource as stored now (None if it is gone)."""

    @bp.errorhandler(ValidationError)
    def invalid(exc: ValidationError) -> Response:
        if request.method in WRITES:
            return problem(422, "Unprocessable Content", exc.message, exc.param)
        return dashboard.error(400, "Bad Request", exc.message, exc.param)  # a page for browsers

    @bp.errorhandler(Conflict)
    def conflict(exc: Conflict) -> Response:
        release_store()  # the request's snapshot may predate the write that won: answer from a fresh one
        now = current()
        if now is None:
            return problem(412, "Precondition Failed", exc.message, "If-Match")
        now.status_code = 412
        return now
