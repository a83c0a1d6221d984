"""HTTP plumbing shared by the blueprints: format negotiation, JSON/streamed responses, caching
headers (ETag, Last-Modified, If-None-Match) and RFC 7807 problem bodies."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import Any

import orjson
from flask import Response, current_app, g, render_template, request

from registry import script
from registry.errors import ValidationError
from registry.i18n import gettext
from registry.spatial import parse_date
from registry.store import Reader, history

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
_MEDIA = {"json": JSON, "geojson": GEOJSON, "html": HTML, "csv": "text/csv"}


def store() -> Reader:
    """This request's view of the registry: one committed state for everything the request reads.

    Taken on first use and let go when the request ends (``release_store``), so an answer that reads
    projects, features and revision together is never torn by a writer committing meanwhile; with
    ``as_of=DATE`` it is the registry as recorded by the end of that day, for every read path alike.
    """
    view = g.get("registry_view")
    if view is None:
        day = request.args.get("as_of")
        when = parse_date(day) if day else None  # a bad date is refused before a view is taken
        release = g.setdefault("registry_release", ExitStack())  # one for every view the request took
        view = release.enter_context(current_app.extensions["registry_store"].snapshot())
        view = g.registry_view = history.as_of(view, when) if when else view
    return view


def release_store(_exc: BaseException | None = None) -> None:
    """Let go of the request's snapshot (for PostGIS, its transaction and pooled connection)."""
    release = g.pop("registry_release", None)
    g.pop("registry_view", None)
    if release is not None:
        release.close()


def base_url() -> str:
    """The API's root URL, with a trailing slash."""
    return request.url_root


def negotiate(allowed: Iterable[str], default: str = "json") -> str:
    """The response format: ``f`` wins, else Accept (HTML only when preferred), else ``default``."""
    allowed = list(allowed)
    asked = request.args.get("f")
    if asked:
        if asked not in allowed:
            raise ValidationError(gettext("f must be one of %(values)s, got %(value)s", values=", ".join(allowed),
                                          value=repr(asked[:40])), param="f")
        return asked
    offered = [_MEDIA[f] for f in allowed if f in _MEDIA]
    best = request.accept_mimetypes.best_match(offered, default=None) if request.accept_mimetypes else None
    if best == HTML:
        return "html" if request.accept_mimetypes[HTML] > request.accept_mimetypes[JSON] else default
    return next((f for f in allowed if best and _MEDIA.get(f) == best), default)


def etag() -> str:
    """A weak ETag for this request against the store's current revision (and account: pages name it)."""
    user = g.get("registry_user")
    key = f"{store().revision()}|{request.full_path}|{request.headers.get('Accept', '')}|{script.current()}" \
          f"|{user.name if user is not None else ''}"
    return 'W/"' + hashlib.sha1(key.encode()).hexdigest()[:20] + '"'


def not_modified() -> Response | None:
    """A 304 when the client's If-None-Match or If-Modified-Since still holds."""
    tag = etag()
    if request.if_none_match and request.if_none_match.contains_weak(tag.removeprefix('W/"').rstrip('"')):
        return _caching(Response(status=304), tag)
    since = request.if_modified_since
    if since and not request.if_none_match and store().last_modified().replace(microsecond=0) <= since:
        return _caching(Response(status=304), tag)
    return None


def _caching(response: Response, tag: str | None = None) -> Response:
    response.headers["ETag"] = tag or etag()
    response.last_modified = store().last_modified()
    response.headers.setdefault("Cache-Control", "no-cache")
    return response


def json_response(payload: Any, status: int = 200, mimetype: str = JSON, headers: dict | None = None) -> Response:
    """A JSON response encoded with orjson, with caching headers."""
    response = Response(orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS), status=status, mimetype=mimetype,
                        headers=headers)
    return _caching(response)


def stream_response(chunks: Iterator[bytes], mimetype: str, headers: dict | None = None) -> Response:
    """A streamed response (large GeoJSON is never built in memory at once), written in the request's script:
    the body is made after the request has ended."""
    return _caching(Response(_in_script(chunks, script.current()), mimetype=mimetype, headers=headers))


def _in_script(chunks: Iterator[bytes], chosen: str) -> Iterator[bytes]:
    with script.use(chosen):
        yield from chunks


def html_response(template: str, **context: Any) -> Response:
    return _caching(Response(render_template(template, **context), mimetype=HTML))


EXPORTS = {"shp": "shapefile", "gpkg": "gpkg", "fgb": "flatgeobuf", "csv": "csv", "xlsx": "xlsx"}


def export_response(source: Any, fmt: str, epsg: int) -> Response:
    """A file download of a query's projects and features (``f=shp|gpkg|fgb|csv|xlsx``)."""
    from registry.exchange.export import export_bytes

    body, report = export_bytes(source, EXPORTS[fmt], crs=epsg, encoding=request.args.get("encoding") or "utf-8",
                                style_by=request.args.get("style_by") or "category", store=store())
    response = Response(body, content_type=report.media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{report.filename}"'
    return _caching(response)


def problem(status: int, title: str, detail: str, param: str | None = None) -> Response:
    """An RFC 7807 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if param:
        body["parameter"] = param
    return Response(orjson.dumps(body), status=status, mimetype="application/problem+json")


def link(href: str, rel: str, mimetype: str, title: str | None = None) -> dict:
    out = {"href": href, "rel": rel, "type": mimetype}
    if title:
        out["title"] = title
    return out


def url_with(path: str, **changes: Any) -> str:
    """An absolute URL for ``path`` with the current query arguments changed by ``changes``."""
    from urllib.parse import urlencode

    args = {k: v for k, v in request.args.items()}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = str(value)
    query = urlencode(args)
    return base_url() + path.lstrip("/") + (f"?{query}" if query else "")
