"""The script (zh-Hans or zh-Hant) of each request: chosen before the request runs, sent back as ``Vary``;
and the pages' switch between them (``POST /script``).

Precedence (``registry.script.choose``): ``lang=``, the signed-in user's setting, the pages' switch (a cookie
for the browser session), Accept-Language, the registry's default (``registry_meta`` ``script``, or
``REGISTRY_SCRIPT``).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, Flask, Response, current_app, g, redirect, request
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField

from registry import accounts, i18n, script
from registry.errors import RegistryError, ValidationError
from registry.i18n import gettext
from registry.text import to_script

from .auth import SignInRequired, _safe_next, current_user_of_request
from .http import problem, store

COOKIE = "registry_script"  # the switch's choice; set without an expiry, it ends with the browser session
bp = Blueprint("script", __name__)


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
    chosen = script.choose(lang=lang, user=user_script(), switch=request.cookies.get(COOKIE),
                           accept_language=request.headers.get("Accept-Language"),
                           default=script.registry_default(_meta()))
    g.registry_script = chosen
    token = script.set_current(chosen)
    g.setdefault("registry_script_token", token)  # the first: the request's end restores what was before it
    script.parse(request.args.get("lang"))  # a bad lang= is refused now, in the chosen script
    if request.args.get("as_of"):
        store()  # and so is a bad as_of (without one the view is taken when first read: a write needs none)
    return chosen


def _meta() -> dict[str, str]:
    """The registry's settings: a read takes them from the view it reads anyway (no query of its own); a write
    reads them alone from the store, which spares it the view (the GeoPackage store brings one forward after
    each edit). They are the same in a view as of any day."""
    if request.method in ("GET", "HEAD"):
        try:
            return store().meta()
        except RegistryError:
            pass  # a bad as_of: refused once the script is chosen
    return current_app.extensions["registry_store"].meta()


class SwitchForm(FlaskForm):
    """The navigation's switch: the script asked for and the page to go back to. A POST with the CSRF token,
    so that another site can neither switch a reader's pages nor change an account's setting."""

    script = StringField()
    next = HiddenField()


@bp.post("/script")
def switch():
    """Show the pages in the script asked for: for the rest of the browser session (a cookie), and, for a
    signed-in account, as its own setting (``registry user set --script``, which ranks above the cookie, so
    the switch writes it); then back to the page, without a ``lang=`` that would outrank the choice."""
    form = SwitchForm()
    if not form.validate_on_submit():
        return problem(400, "Bad Request", gettext("Switching the script needs the form's CSRF token; switch with "
                                                   "a page's buttons"), "csrf_token")
    chosen = script.parse(form.script.data, "script")
    if chosen is None:
        raise ValidationError(gettext("%(param)s must be zh-Hans or zh-Hant, got %(value)s", param="script",
                                      value="''"), param="script")
    user = current_user_of_request()
    if user is not None:
        accounts.set_script(current_app.extensions["registry_store"], user.name, chosen)
    target = urlsplit(_safe_next(form.next.data))
    query = urlencode([(k, v) for k, v in parse_qsl(target.query, keep_blank_values=True) if k != "lang"])
    response = redirect(target.path + (f"?{query}" if query else ""), 303)
    response.set_cookie(COOKIE, chosen, secure=request.is_secure, httponly=True, samesite="Lax")
    return response


def init_app(app: Flask) -> None:
    """Choose each request's script before it runs; say that responses vary by Accept-Language and by the
    switch's cookie; offer the switch. Templates get ``_()`` from the script's message catalog, ``in_script``
    for data text and ``page_lang``."""
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

    app.register_blueprint(bp)

    @app.after_request
    def vary(response: Response) -> Response:
        response.vary.update(("Accept-Language", "Cookie"))
        return response
