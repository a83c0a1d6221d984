"""The registry's HTTP API: a Flask app factory; ``REGISTRY_STORE`` names the store.

Blueprints: ``ogc`` (OGC API – Features: landing page, conformance, OpenAPI, collections, items),
``registry`` (projects, streets, statistics, QA), ``dashboard`` (the browsers' overview, downloads and error pages).
They only translate HTTP to calls of ``registry``.
``REGISTRY_TILE_ORIGIN`` (optional) names a tile server's origin the pages' security policy lets in;
``REGISTRY_BASEMAP`` (optional) is the maps' tile URL template(s), whose origins are let in too.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import re
import threading
import time
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from registry import features, limits, model, script
from registry.errors import Conflict, Forbidden, NotFound, RegistryError, StoreUnavailable
from registry.i18n import gettext
from registry.store import Store, open_store, store_location

from .http import release_store

START_WAIT_S = 20  # how long a starting worker waits for its database (under gunicorn's 30 s boot timeout)
RETRY_AFTER_S = 10  # what a 503 asks a client to wait: about the time a store connection is waited for
# Registry errors that are not a bad request: (kind, HTTP status, title); the rest answer 400.
_ERROR_STATUS = ((NotFound, 404, "Not Found"), (Forbidden, 403, "Forbidden"), (Conflict, 412, "Precondition Failed"))
_ORIGIN = re.compile(r"https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _open_store(location: str):
    """Open the store, waiting up to START_WAIT_S for a database that cannot be reached yet (a worker that
    starts while PostgreSQL restarts would otherwise fail to boot, and gunicorn then stops the whole server);
    a store that is wrong (no such file, not a registry) fails at once."""
    deadline = time.monotonic() + START_WAIT_S
    while True:
        try:
            return open_store(location)
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def create_app(config: dict[str, Any] | None = None, *, warm: bool = False) -> Flask:
    """Build the app; the store is opened here so a bad store fails at start-up, not on a request.

    ``warm`` (as ``api.serving`` runs it under gunicorn) also loads what serving needs (``warm``) before the
    workers are forked.
    """
    app = Flask(__name__)
    app.config["REGISTRY_STORE"] = store_location(os.environ.get("REGISTRY_STORE"))
    app.config["REGISTRY_TILE_ORIGIN"] = os.environ.get("REGISTRY_TILE_ORIGIN") or None
    for key in ("REGISTRY_BASEMAP", "REGISTRY_BASEMAP_SUBDOMAINS", "REGISTRY_BASEMAP_ATTRIBUTION"):
        app.config[key] = os.environ.get(key) or None  # the pages' base map (api/webmap.py: basemap_config)
    app.config["MAX_CONTENT_LENGTH"] = limits.MAX_UPLOAD_BYTES
    app.config.update(config or {})
    _log_where_the_server_logs(app)
    from .webmap import basemap_origins

    app.extensions["registry_store"] = _open_store(app.config["REGISTRY_STORE"])
    # the settings' refusals speak the command's script (`registry serve`), else the registry's
    with script.use(script.chosen() or script.registry_default(app.extensions["registry_store"].meta())):
        basemaps = basemap_origins(app.config["REGISTRY_BASEMAP"])
        if _wrong_origins(basemaps):
            raise RegistryError(gettext("REGISTRY_BASEMAP must be tile URL templates such as "
                                        "https://tiles.example.org/{z}/{x}/{y}.png, got %(value)s",
                                        value=repr(app.config["REGISTRY_BASEMAP"])), param="REGISTRY_BASEMAP")
        policy = content_security_policy(" ".join([app.config["REGISTRY_TILE_ORIGIN"] or "", *basemaps]).strip()
                                         or None)
    app.json.ensure_ascii = False

    from . import auth, browser_edit, dashboard, i18n, ogc, registry_api, reports, webmap

    auth.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(ogc.bp)
    app.register_blueprint(registry_api.bp)
    app.register_blueprint(webmap.bp)
    app.register_blueprint(browser_edit.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(dashboard.bp)
    app.teardown_request(release_store)

    @app.errorhandler(RegistryError)
    def registry_error(exc: RegistryError):
        status, title = next(((s, t) for kind, s, t in _ERROR_STATUS if isinstance(exc, kind)), (400, "Bad Request"))
        return dashboard.error(status, title, exc.message, exc.param)

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable):
        # The message names the database's host and its words: for the log, not for the client.
        app.logger.error("%s %s: store unavailable: %s", request.method, request.full_path, exc.message)
        response = dashboard.error(503, "Service Unavailable", gettext(
            "the registry's database cannot be reached or failed to answer; try again shortly (the error was logged)"))
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return dashboard.error(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        app.logger.exception("%s %s: unhandled error", request.method, request.full_path)
        return dashboard.error(500, "Internal Server Error", "the server failed to answer; the error was logged")

    @app.after_request
    def security_headers(response: Response) -> Response:
        """Pages run only the app's own scripts and styles, and no response is sniffed, framed or leaks its URL."""
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        if response.mimetype in ("text/html", "image/svg+xml"):
            response.headers["Content-Security-Policy"] = policy
        return response

    if warm:
        warm_up(app)
    return app


def warm_up(app: Flask) -> None:
    """Load the store's latest state and every layer's served form with its features' GeoJSON in the registry's
    own script, and each layer's index of its rows by project (what an edit's refresh looks rows up in), and draw
    the dashboard once (its templates compiled, its figures kept for the revision), then
    close the connections used (they must not cross a fork) and keep what was loaded out of the collector's
    walks: forked workers share these pages rather than each building a copy, and a new worker answers its
    first request without loading anything. The heap that loading freed goes back to the system before the
    fork: left in the allocator, each worker would reuse it and so copy those pages (on PostGIS, 100k features,
    the server held 831 MB PSS after warming with it, 645 MB without)."""
    store: Store = app.extensions["registry_store"]
    with store.snapshot() as view, script.use(script.registry_default(view.meta())):
        for layer in model.LAYER_BY_NAME:
            features.view(view, layer).fragments()
            view.features(layer, project_ids=[])
    app.test_client().get("/", headers={"Accept": "text/html"})
    store.release()
    gc.freeze()
    _trim_heap()


FOLLOW_INTERVAL_S = 0.002  # how often a worker's follower asks the store whether anything was committed


def follow(app: Flask, interval: float = FOLLOW_INTERVAL_S) -> threading.Event | None:
    """Start this process's follower: a thread that asks the store every ``interval`` seconds whether anyone
    committed (``Store.commit_watch``: a few microseconds) and then brings the state and the served layers it
    holds forward at once (``features.follow``), so that the first read after an edit in another worker costs
    what a warm read does, not the edit's refresh. gunicorn's workers start one each (``api.serving``). Returns
    the event that stops it; None when the store cannot be watched cheaply (its readers refresh at their next
    read, as without a follower)."""
    store: Store = app.extensions["registry_store"]
    if type(store).commit_watch is Store.commit_watch:  # the store has no cheap check
        return None
    stop = threading.Event()

    def run() -> None:
        committed = store.commit_watch()
        while not stop.wait(interval):
            if not committed():
                continue
            try:
                features.follow(store)
            except Exception:  # noqa: BLE001 - a read finds and reports what is wrong; the follower keeps going
                app.logger.warning("the follower could not bring the registry forward", exc_info=True)
                stop.wait(1.0)

    threading.Thread(target=run, name="registry-follower", daemon=True).start()
    return stop


def _trim_heap() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; nothing elsewhere).

    The C library is the one this process already has loaded (``CDLL(None)``): ``ctypes.util.find_library``
    would run ``ldconfig`` as a child process at each call, a child gunicorn's master would briefly hold
    beside its workers before every fork."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


def content_security_policy(tile_origin: str | None) -> str:
    """The pages' Content-Security-Policy: the app's own scripts, styles, images and API, nothing inline.

    ``tile_origin`` (one or more origins, such as ``https://*.tile.example.org``) is let in for images and
    fetches, for a web map drawing a tile server's base map.
    """
    extra = ""
    if tile_origin:
        origins = tile_origin.split()
        wrong = _wrong_origins(origins)
        if wrong:
            raise RegistryError(gettext("REGISTRY_TILE_ORIGIN must be origins such as https://tiles.example.org "
                                        "(scheme and host, no path), got %(value)s", value=repr(" ".join(wrong))),
                                param="REGISTRY_TILE_ORIGIN")
        extra = " " + " ".join(origins)
    return ("default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data:{extra}; connect-src 'self'{extra}; font-src 'self'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def _wrong_origins(origins: list[str]) -> list[str]:
    """The origins that are not scheme and host (``https://*.tiles.example.org``): the pages' security policy
    takes them as they are."""
    return [o for o in origins if not _ORIGIN.fullmatch(o)]


def _log_where_the_server_logs(app: Flask) -> None:
    """Send the app's log (500 tracebacks, store faults) to gunicorn's error log when gunicorn serves it.

    Otherwise (``registry serve``) Flask's own handler writes it to stderr.
    """
    server = logging.getLogger("gunicorn.error")
    if server.handlers:
        app.logger.handlers = list(server.handlers)
        app.logger.setLevel(server.level)
        app.logger.propagate = False  # once, in gunicorn's log, even if someone gives the root logger a handler
