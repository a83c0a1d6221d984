"""The office edits in the browser: a project's edit form (``/projects/{id}/edit``) and "my projects"
(``/my/projects``), for the accounts that may change them (an admin, or an editor of the lead department).

A submitted form is one ``registry.editing.patch_project`` call, conditional on the version the form was
rendered from (a hidden field, sent as If-Match): a stale form is refused, never silently written over.
Refusals (the workflow, a required field, a number out of range) are shown next to their field in the
page's script and change nothing. Not signed in: the sign-in page; signed in without the right: a 403 page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response as BaseResponse
from wtforms import DateField, DecimalField, HiddenField, IntegerField, SelectField, TextAreaField
from wtforms.i18n import get_translations
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from registry import editing, i18n, limits, model, script
from registry.errors import Conflict, Forbidden, NotFound, ValidationError
from registry.i18n import gettext
from registry.numbers import format_wan
from registry.store.edits import Author
from registry.text import to_script

from . import auth
from .editing import writable
from .http import HTML, release_store, store

bp = Blueprint("browser_edit", __name__)
DATES = ("actual_start", "actual_finish", "planned_finish")
TEXTS = ("delay_reason", "notes", "tasks")
NUMBERS = ("progress_pct", "investment_yuan", "investment_completed_yuan")
FIELDS = ("status", *DATES, *TEXTS, *NUMBERS)  # the form's project fields, in the patch's names
_WTFORMS_LOCALE = {"zh-Hans": ["zh"], "zh-Hant": ["zh_TW"]}


class _FormText:
    """The form's messages in the page's script: the registry's catalog first, then WTForms' own Chinese."""

    def __init__(self, chosen: str) -> None:
        self._ours = i18n.translations(chosen)
        self._theirs = get_translations(_WTFORMS_LOCALE[chosen])

    def gettext(self, message: str) -> str:
        ours = self._ours.gettext(message)
        return ours if ours != message else self._theirs.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        ours = self._ours.ngettext(singular, plural, n)
        return ours if ours not in (singular, plural) else self._theirs.ngettext(singular, plural, n)


class EditForm(FlaskForm):
    """A project's workflow fields; ``version`` is the ETag of the project the form was rendered from."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form: Any) -> _FormText:
            return _FormText(script.current())

    version = HiddenField(validators=[InputRequired()])
    status = SelectField(validators=[InputRequired()], validate_choice=False)  # the workflow is the core's
    actual_start = DateField(validators=[Optional()])
    actual_finish = DateField(validators=[Optional()])
    planned_finish = DateField(validators=[Optional()])
    delay_reason = TextAreaField(validators=[Optional(), Length(max=limits.MAX_TEXT_CHARS)])
    progress_pct = DecimalField(validators=[Optional(), NumberRange(0, 100)], places=None,
                                render_kw={"min": 0, "max": 100, "step": "any"})
    investment_yuan = IntegerField(validators=[Optional(), NumberRange(min=0)], render_kw={"min": 0})
    investment_completed_yuan = IntegerField(validators=[Optional(), NumberRange(min=0)], render_kw={"min": 0})
    notes = TextAreaField(validators=[Optional(), Length(max=limits.MAX_TEXT_CHARS)])
    tasks = TextAreaField(validators=[Optional(), Length(max=limits.MAX_TEXT_CHARS)])


def next_statuses(status: str, author: Author) -> list[str]:
    """The statuses the form offers: the current one and the workflow's next ones (an admin may also cancel an
    open project)."""
    offered = [status, *model.TRANSITIONS.get(status, ())]
    if author.role == "admin" and status in model.OPEN_STATUSES:
        offered.append("cancelled")
    return offered


def _shown(project: Mapping[str, Any]) -> dict[str, Any]:
    """A project's form values as the page shows them: dates as dates, data text in the page's script."""
    chosen = script.current()
    values: dict[str, Any] = {}
    for name in FIELDS:
        value = project.get(name)
        if name in DATES and value:
            value = dt.date.fromisoformat(value)
        elif name in TEXTS and value:
            value = to_script(value, chosen)
        values[name] = value
    return values


def _plain(value: Any) -> Any:
    """A form value as a patch holds it: ISO dates, floats for decimals, None for blank text, and a text area's
    line breaks as stored (browsers send CR LF)."""
    if isinstance(value, str):
        return value.replace("\r\n", "\n").strip() or None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _patch(form: EditForm, project: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch of what the form changed against the values it showed (an emptied field is null)."""
    shown = _shown(project)
    changed = {name: _plain(form[name].data) for name in FIELDS}
    return {name: value for name, value in changed.items() if value != _plain(shown[name])}


def _refusal_message(exc: ValidationError, project: Mapping[str, Any], patch: Mapping[str, Any],
                     author: Author) -> str:
    """A refused edit's message, in the page's script, for the field the core names."""
    labels = model.name_labels("status", script.current())
    old, new = project["status"], patch.get("status", project["status"])
    if exc.param == "status":
        allowed = [labels[s] for s in next_statuses(old, author)[1:]]
        return gettext("The status may not move from %(old)s to %(new)s; allowed next: %(allowed)s",
                       old=labels[old], new=labels.get(new, new), allowed="、".join(allowed) or gettext("none"))
    if exc.param in model.STATUS_REQUIRES.get(new, ()):
        if exc.param == "planned_finish" and patch.get(exc.param, project.get(exc.param)) is not None:
            return gettext("Moving to %(status)s needs a new planned finish (a date other than the current one)",
                           status=labels[new])
        return gettext("Moving to %(status)s needs this field", status=labels[new])
    return gettext("This value was refused: %(detail)s", detail=exc.message)


def _signed_in_author() -> Author | BaseResponse:
    """The signed-in author, or the redirect to the sign-in page (these pages are for people, not API clients)."""
    author = auth.current_author()
    if author is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return author


def _refused(status: int, title: str, message: str) -> Response:
    return Response(render_template("refused.html", title=title, message=message), status=status, mimetype=HTML)


def _forbidden(message: str) -> Response:
    return _refused(403, gettext("Not allowed"), message)


def _form_page(form: EditForm, project: Mapping[str, Any], author: Author, status: int = 200,
               general: str | None = None) -> Response:
    labels = model.name_labels("status", script.current())
    form.status.choices = [(s, labels[s]) for s in next_statuses(project["status"], author)]
    return Response(render_template("edit.html", form=form, project=project, general=general,
                                    format_wan=format_wan), status=status, mimetype=HTML)


@bp.route("/projects/<project_id>/edit", methods=["GET", "POST"])
def edit_project(project_id: str):
    """The edit form of a project (GET) and its submission (POST, CSRF-checked, conditional on its version)."""
    author = _signed_in_author()
    if not isinstance(author, Author):
        return author
    records = editing.project_records(store(), project_id)
    project = editing.project_document(records, project_id) if len(records.projects) else None
    if project is None:
        raise NotFound(gettext("project %(id)s does not exist", id=repr(project_id)), param="projectId")
    if not auth.may_write(project):
        return _forbidden(gettext("Account %(name)s may not edit project %(id)s: editors change the projects "
                                  "their department leads", name=author.name, id=project_id))
    version = editing.project_etag(records, project_id)
    if request.method == "GET":
        return _form_page(EditForm(data={**_shown(project), "version": version}), project, author)
    form = EditForm()
    if not form.validate():
        return _form_page(form, project, author, 422)
    patch = _patch(form, project)
    if form.version.data != version:  # checked again inside the write (If-Match): this only answers early
        return _stale(project_id, author)
    try:
        if patch:
            editing.patch_project(writable(), project_id, patch, author, (form.version.data,))
    except Conflict:
        return _stale(project_id, author)
    except Forbidden:
        return _forbidden(gettext("Account %(name)s may not make this change to project %(id)s",
                                  name=author.name, id=project_id))
    except ValidationError as exc:
        message = _refusal_message(exc, project, patch, author)
        if exc.param in FIELDS:
            form[exc.param].errors = [*form[exc.param].errors, message]
            return _form_page(form, project, author, 422)
        return _form_page(form, project, author, 422, general=message)
    flash(gettext("Project %(id)s saved", id=project_id) if patch else
          gettext("Nothing was changed in project %(id)s", id=project_id))
    return redirect(url_for("registry.project", project_id=project_id, f="html"))


def _stale(project_id: str, author: Author) -> Response:
    """A form rendered from an older version: nothing is written; the form shows the project as stored now."""
    release_store()  # the request's snapshot may predate the write that won
    records = editing.project_records(store(), project_id)
    now = editing.project_document(records, project_id)
    form = EditForm(formdata=None, data={**_shown(now), "version": editing.project_etag(records, project_id)})
    return _form_page(form, now, author, 409, general=gettext(
        "Someone changed this project after this form was opened; nothing was saved. The form now shows the "
        "project as it is: redo your changes."))


@bp.get("/my/projects")
def my_projects():
    """The projects the signed-in editor's department leads (an admin's: all), each linking to its edit form."""
    author = _signed_in_author()
    if not isinstance(author, Author):
        return author
    if author.role not in auth.WRITER_ROLES:
        return _forbidden(gettext("Account %(name)s may read but not edit projects", name=author.name))
    rows = store().projects()
    if author.role != "admin":
        rows = rows[rows["lead_department"] == author.department]
    rows = rows.sort_values("project_id")
    labels = model.name_labels("status", script.current())
    projects = [{"project_id": r.project_id, "name": r.name, "status": labels.get(r.status, r.status),
                 "planned_finish": r.planned_finish, "lead_department": r.lead_department,
                 "progress_pct": None if pd.isna(r.progress_pct) else r.progress_pct}
                for r in rows.itertuples()]
    return Response(render_template("my_projects.html", projects=projects, author=author), mimetype=HTML)


@bp.errorhandler(CSRFError)
def csrf_refused(exc: CSRFError) -> Response:
    """A form without its CSRF token (or with an expired one) changes nothing."""
    return _refused(400, gettext("Form refused"), gettext("The form has expired or is incomplete; open the page "
                                                           "again and resubmit."))


@bp.app_context_processor
def edit_links() -> dict:
    """Pages ask ``may_edit(project)`` to show an edit link only to those who may edit it."""
    return {"may_edit": lambda project: auth.may_write(project)}
