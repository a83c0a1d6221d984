"""The registry's HTTP API: a Flask app factory; ``REGISTRY_STORE`` names the store."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify

from registry.errors import NotFound, RegistryError
from registry.store import open_store, store_location


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; the store is opened once here so a bad store fails at start-up."""
    app = Flask(__name__)
    app.config["REGISTRY_STORE"] = store_location(os.environ.get("REGISTRY_STORE"))
    app.config.update(config or {})
    app.extensions["registry_store"] = open_store(app.config["REGISTRY_STORE"])
    app.json.ensure_ascii = False

    from . import landing

    app.register_blueprint(landing.bp)

    @app.errorhandler(RegistryError)
    def registry_error(exc: RegistryError):
        status = 404 if isinstance(exc, NotFound) else 400
        body = {"type": "about:blank", "title": type(exc).__name__, "status": status,
                "detail": exc.message}
        if exc.param:
            body["parameter"] = exc.param
        return jsonify(body), status, {"Content-Type": "application/problem+json"}

    return app
