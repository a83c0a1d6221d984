"""The landing page: what this registry holds."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("landing", __name__)


@bp.get("/")
def landing():
    store = current_app.extensions["registry_store"]
    meta = store.meta()
    return jsonify({
        "title": meta.get("title", "城市環境綜合整治專案登記簿"),
        "description": meta.get("notice"),
        "data_date": meta.get("data_date"),
        "layers": [{"name": i.name, "kind": i.kind, "geometry_type": i.geometry_type, "count": i.count}
                   for i in store.layers()],
    })
