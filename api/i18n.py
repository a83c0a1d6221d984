"""The script (zh-Hans or zh-Hant) of each request: chosen before the request runs, sent back as ``Vary``.

Precedence (``registry.script.choose``): ``lang=``, the signed-in user's setting, Accept-Language, the
registry's default (``registry_meta`` ``script``, or ``REGISTRY_SCRIPT``).
"""

from __future__ import annotations

from flask import Flask, Response, g, request

from registry import i18n, script
from registry.text import to_script

from .http import store


def user_script() -> str | None:
    """The signed-in user's script setting. Accounts do not exist yet: when they do, return the user's
    ``script`` here (their table keeps one) and it ranks between ``lang=`` and Accept-Language."""
    return None


def request_script() -> str:
    """The script this request shows: decided once (``choose_script``), kept in ``g``."""
    return g.get("registry_script") or choose_script()


def choose_script() -> str:
    """Decide the request's script and make it the library's current one (labels, messages)."""
    chosen = script.choose(lang=request.args.get("lang"), user=user_script(),
                           accept_language=request.headers.get("Accept-Language"),
                           default=script.registry_default(store().meta()))
    g.registry_script = chosen
    token = script.set_current(chosen)
    g.setdefault("registry_script_token", token)  # the first: the request's end restores what was before it
    return chosen


def init_app(app: Flask) -> None:
    """Choose each request's script before it runs; say that responses vary by Accept-Language. Templates
    get ``_()`` from the script's message catalog, ``in_script`` for data text and ``page_lang``."""
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # Jinja fills %(name)s itself (newstyle)
        gettext=lambda message: i18n.translations(script.current()).gettext(message),
        ngettext=lambda singular, plural, n: i18n.translations(script.current()).ngettext(singular, plural, n),
        newstyle=True)
    app.jinja_env.filters["in_script"] = lambda text: to_script(text, script.current()) if text else text
    app.jinja_env.globals["page_lang"] = lambda: script.current()

    @app.before_request
    def script_of_the_request() -> None:  # returns nothing: a value would be taken for the response
        choose_script()

    @app.teardown_request
    def script_back(_exc: BaseException | None = None) -> None:
        """A request's choice ends with it (a test client runs requests in the caller's own thread)."""
        token = g.pop("registry_script_token", None)
        if token is not None:
            script.reset(token)

    @app.after_request
    def vary(response: Response) -> Response:
        response.vary.add("Accept-Language")
        return response
