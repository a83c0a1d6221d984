"""How gunicorn serves the registry (``gunicorn -c python:api.serving``, as scripts/serve runs it).

The master loads the registry once (``create_app(warm=True)``) and forks the workers, which share those
pages and answer their first request without loading anything. Before it forks a worker later on (one that
stopped, or reached gunicorn's ``max_requests``), the master brings what it holds up to the latest committed
state, so the new worker does not begin by loading every change made since the server started. Each worker
starts a follower (``api.follow``) that brings what it holds forward as soon as another worker commits.
"""

from __future__ import annotations

from typing import Any

wsgi_app = "api:create_app(warm=True)"
preload_app = True


def pre_fork(server: Any, worker: Any) -> None:
    """gunicorn's hook in the master before each fork: refresh the loaded registry (cheap when nothing changed)."""
    from api import warm_up

    try:
        warm_up(server.app.wsgi())
    except Exception:  # noqa: BLE001 - the worker then loads what it needs itself; the master must not stop
        server.log.exception("could not refresh the registry before starting a worker")


def post_fork(server: Any, worker: Any) -> None:
    """gunicorn's hook in each new worker: start its follower (``api.follow``), which brings what the worker holds
    forward as soon as another worker commits an edit."""
    from api import follow

    follow(server.app.wsgi())
