"""The script (zh-Hans or zh-Hant) of each request: chosen before the request runs, sent back as ``Vary``.

Precedence (``registry.script.choose``): ``lang=``, the signed-in user's setting, Accept-Language, the
registry's default (``registry_meta`` ``script``, or ``REGISTRY_SCRIPT``).
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request

from registry import i18n, script
from registry.errors import RegistryError
from registry.text import to_script

from .auth import SignInRequired, current_user_of_request
from .http import store


def user_script() -> str | None:
    """The signed-in account's script (``registry user set NAME --script``), or None: anonymous, no setting,
    or credentials that are refused (the refusal is answered after the script is chosen, in that script)."""
    try:
        user = current_user_of_request()
    except (SignInRequired, RegistryError):
        return None
    return user.script if user is not None else None


def request_script() -> str:
    """The script this request shows: decided once (``choose_script``), kept in ``g``."""
    return g.get("registry_script") or choose_script()


def choose_script() -> str:
    """Decide the request's script and make it the library's current one (labels, messages).

    It is decided before anything else of the request is checked, so every refusal speaks it: a bad ``lang=``
    is refused in the script chosen without it, a bad ``as_of`` (which the request's view reads) and wrong
    credentials in the script chosen without them.
    """
    try:
        lang = script.parse(request.args.get("lang"))
    except RegistryError:
        lang = None  # refused below, once the script is chosen
    chosen = script.choose(lang=lang, user=user_script(), accept_language=request.headers.get("Accept-Language"),
                           default=script.registry_default(_meta()))
    g.registry_script = chosen
    token = script.set_current(chosen)
    g.setdefault("registry_script_token", token)  # the first: the request's end restores what was before it
    script.parse(request.args.get("lang"))  # a bad lang= is refused now, in the chosen script
    store()  # and so is a bad as_of
    return chosen


def _meta() -> dict[str, str]:
    """The registry's settings: from the request's view, or, when that cannot be had (a bad ``as_of``), from
    the store itself."""
    try:
        return store().meta()
    except RegistryError:
        return current_app.extensions["registry_store"].meta()


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

    def script_of_the_request() -> None:  # returns nothing: a value would be taken for the response
        choose_script()

    # first of all the request's checks (the account's, too), so that each refusal is in the request's script
    app.before_request_funcs.setdefault(None, []).insert(0, script_of_the_request)

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
