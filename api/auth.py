"""Who is calling: API clients by token (``Authorization: Bearer TOKEN``, or HTTP Basic with the token as
password), browsers by a session cookie from the sign-in page (Flask-Login; Flask-WTF CSRF on every form).

The edit endpoints ask ``require_author()`` (401 for API clients with ``WWW-Authenticate``, a redirect to
the sign-in page for browsers) and ``may_write()`` (for ``Allow``); the core refuses what the author's role
does not allow (``registry.errors.Forbidden``, 403). ``REGISTRY_ANONYMOUS_READ=0`` makes reads need an
account too. The session key is ``REGISTRY_SECRET_KEY``, else a random key kept in the instance folder
(shared by the server's workers), else, if that folder cannot be written, one per process.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, g, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from registry import accounts
from registry.accounts import User
from registry.i18n import gettext
from registry.store.edits import Author

from .http import HTML, JSON, problem, store

bp = Blueprint("auth", __name__)
CHALLENGE = 'Basic realm="registry", Bearer'
WRITER_ROLES = ("editor", "admin")
_login_manager = LoginManager()
_csrf = CSRFProtect()
# reachable without an account when reads need one (the sign-in page, in the script the reader switched to)
_OPEN_ENDPOINTS = ("auth.login", "auth.logout", "script.switch", "static")


class SignInRequired(HTTPException):
    """No credentials, or wrong ones: API clients get 401 with a challenge, browsers the sign-in page."""

    code = 401

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description or gettext(
            "This needs an account: send Authorization: Bearer TOKEN (or HTTP Basic with the token as password), "
            "or sign in at /login"))


def current_user_of_request() -> User | None:
    """The account of this request (token or session), or None for an anonymous one; wrong credentials
    raise ``SignInRequired`` (they are never read as anonymous)."""
    if "registry_user" in g:
        return g.registry_user
    header = request.headers.get("Authorization")
    if header:
        user = _user_of_header(header)
        if user is None:
            current_app.logger.warning("refused %s credentials%s from %s", header.partition(" ")[0][:20],
                                       _basic_name(header), request.remote_addr)
            raise SignInRequired(gettext("The credentials sent in Authorization are wrong, or the account is disabled"))
    else:
        user = current_user._get_current_object() if current_user.is_authenticated else None
    g.registry_user = user
    return user


def current_author() -> Author | None:
    """The author this request writes as, or None for an anonymous caller."""
    user = current_user_of_request()
    return None if user is None else accounts.author_of(user)


def require_author() -> Author:
    """The author this request writes as; an anonymous caller is answered 401 (API) or sent to sign in."""
    author = current_author()
    if author is None:
        raise SignInRequired()
    return author


def may_write(project: Mapping[str, Any] | None = None) -> bool:
    """Whether this caller may write (for an ``Allow`` header): with a project (a row with its
    ``lead_department``), whether it may change that one; without, whether its role writes at all."""
    author = current_author()
    if author is None or author.role not in WRITER_ROLES:
        return False
    return author.role == "admin" or project is None or project.get("lead_department") == author.department


def _store():
    return current_app.extensions["registry_store"]


def _user_of_header(header: str) -> User | None:
    """The account an Authorization header names: a Bearer token, or Basic with the token as password (and
    the account's name as user). The account's password is not taken here: argon2 on every request is slow
    on purpose; it is for the sign-in page."""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return accounts.authenticate_token(_store(), value)
    if scheme.lower() == "basic" and value:
        try:
            name, _, token = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user = accounts.authenticate_token(_store(), token)
        return user if user is not None and user.name == name else None
    return None


def _basic_name(header: str) -> str:
    """For the log: the account name of a Basic header (never its secret), as `` for NAME``."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return f" for {base64.b64decode(value.strip(), validate=True).decode().partition(':')[0][:64]!r}"
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _wants_html() -> bool:
    accept = request.accept_mimetypes
    return bool(accept) and accept.best_match([JSON, HTML]) == HTML and accept[HTML] > accept[JSON]


def _safe_next(target: str | None) -> str:
    """A redirect target after sign-in: a path of this site only (never another host)."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("ogc.landing", f="html")


class SignInForm(FlaskForm):
    name = StringField("帳號", validators=[InputRequired(), Length(max=64)])
    password = PasswordField("密碼", validators=[InputRequired(), Length(max=256)])


class SignOutForm(FlaskForm):
    """Sign-out is a POST with the CSRF token, so another site cannot sign a user out."""


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in page: name and password (argon2-checked here only), then a session cookie."""
    form = SignInForm()
    form.name.label.text, form.password.label.text = gettext("Account"), gettext("Password")  # the request's script
    error = None
    if form.validate_on_submit():
        user = accounts.authenticate_password(_store(), form.name.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        current_app.logger.warning("failed sign-in for account %r from %s", form.name.data, request.remote_addr)
        error = gettext("The account name or password is wrong, or the account is disabled")
    elif request.method == "POST":
        current_app.logger.warning("refused sign-in form for account %r from %s: %s", form.name.data,
                                   request.remote_addr, "; ".join(sum(form.errors.values(), [])))
        error = gettext("The form has expired or is incomplete; fill it in again")
    return Response(render_template("login.html", form=form, error=error), status=400 if form.errors else 200,
                    mimetype=HTML)


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out (a POST with the CSRF token), then back to the landing page."""
    form = SignOutForm()
    if not form.validate_on_submit():
        return problem(400, "Bad Request", gettext("Sign-out needs the form's CSRF token; sign out with a page's "
                                                   "button"), "csrf_token")
    logout_user()
    return redirect(url_for("ogc.landing", f="html"))


def _secret_key(app: Flask) -> str:
    """``REGISTRY_SECRET_KEY``, else a random key kept in the instance folder (written once, readable only by
    the server's user, so every worker signs sessions alike), else one per process."""
    given = os.environ.get("REGISTRY_SECRET_KEY")
    if given:
        return given
    path = Path(app.instance_path) / "secret_key"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # written whole, then linked in: workers starting together all read one key
            with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".secret_key.", delete=False) as out:
                out.write(secrets.token_hex(32))  # the file is made readable by its owner only
            try:
                os.link(out.name, path)
            except FileExistsError:
                pass  # another worker's key came first
            finally:
                os.unlink(out.name)
        key = path.read_text().strip()
        if len(key) >= 32:
            return key
    except OSError as exc:
        app.logger.warning("cannot keep a session key in %s (%s): using one for this process only; set "
                           "REGISTRY_SECRET_KEY so that several workers accept each other's sessions", path, exc)
    return secrets.token_hex(32)


def init_app(app: Flask) -> None:
    """Sessions, CSRF, the sign-in pages, and the check that reads need an account when anonymous reading is off."""
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app)
    app.config.setdefault("REGISTRY_ANONYMOUS_READ", os.environ.get("REGISTRY_ANONYMOUS_READ", "1").strip() != "0")
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked below: for sessions, not for tokens
    _login_manager.init_app(app)
    _csrf.init_app(app)
    app.register_blueprint(bp)

    @_login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        return accounts.user_by_session_id(_store(), session_id, store())

    @_login_manager.unauthorized_handler
    def unauthorized():
        raise SignInRequired()

    @app.before_request
    def check_access() -> None:
        """Wrong credentials are refused on every request; reads need an account if anonymous reading is
        off; a browser's session-authenticated write carries the CSRF token (a token client needs none)."""
        user = current_user_of_request()
        if request.endpoint in _OPEN_ENDPOINTS:
            return
        if user is None and not current_app.config["REGISTRY_ANONYMOUS_READ"]:
            raise SignInRequired(gettext("Anonymous reading is off (REGISTRY_ANONYMOUS_READ=0): this needs an account"))
        if request.method not in ("GET", "HEAD", "OPTIONS") and user is not None \
                and not request.headers.get("Authorization"):
            _csrf.protect()

    @app.errorhandler(SignInRequired)
    def sign_in_required(exc: SignInRequired):
        if _wants_html() and not request.headers.get("Authorization"):
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        response = problem(401, "Unauthorized", exc.description)
        response.headers["WWW-Authenticate"] = CHALLENGE
        return response

    @app.after_request
    def private(response: Response) -> Response:
        """An answer to an account is not for shared caches (pages name the account; reads may need one)."""
        if g.get("registry_user") is not None:
            response.cache_control.private = True
        return response

    @app.context_processor
    def signed_in() -> dict:
        """The pages' header shows who is signed in and offers sign-out."""
        user = g.get("registry_user")
        return {"signed_in": user, "sign_out_form": SignOutForm() if user is not None else None}
