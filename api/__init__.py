"""The registry's HTTP API: a Flask app factory; ``REGISTRY_STORE`` names the store.

Blueprints: ``ogc`` (OGC API – Features: landing page, conformance, OpenAPI, collections, items),
``registry`` (projects, streets, statistics, QA). They only translate HTTP to calls of ``registry``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from registry.errors import NotFound, RegistryError
from registry.store import open_store, store_location

from .http import problem, release_store


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; the store is opened here so a bad store fails at start-up, not on a request."""
    app = Flask(__name__)
    app.config["REGISTRY_STORE"] = store_location(os.environ.get("REGISTRY_STORE"))
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
    app.config.update(config or {})
    app.extensions["registry_store"] = open_store(app.config["REGISTRY_STORE"])
    app.json.ensure_ascii = False

    from . import ogc, registry_api, webmap

    app.register_blueprint(ogc.bp)
    app.register_blueprint(registry_api.bp)
    app.register_blueprint(webmap.bp)
    app.teardown_request(release_store)

    @app.errorhandler(RegistryError)
    def registry_error(exc: RegistryError):
        status = 404 if isinstance(exc, NotFound) else 400
        return problem(status, "Not Found" if status == 404 else "Bad Request", exc.message, exc.param)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return problem(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        logging.getLogger(__name__).exception("unhandled error")
        return problem(500, "Internal Server Error", "the server failed to answer; the error was logged")

    return app
