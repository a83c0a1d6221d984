"""Reports over HTTP: ``/reports/summary/{year}?f=html|pdf|docx|md`` (with ``as_of`` and ``lang``), the progress
bulletin ``/reports/bulletin`` (``as_of``, ``since``; also xlsx, its complete lists) and the assessment
``/reports/assessment/{year}`` (also xlsx).

The HTML page links its stylesheet (``/reports/document.css``): the pages' security policy runs no inline style.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Response, request, url_for

from registry import script
from registry.errors import ValidationError
from registry.i18n import gettext as _
from registry.report import document
from registry.report.assessment import XLSX
from registry.report.summary import summary, summary_view
from registry.spatial import parse_date

from .http import etag, not_modified, store

bp = Blueprint("reports", __name__)

_DOWNLOADS = {"pdf", "docx", "md"}


def _format(formats: Iterable[str] = tuple(document.FORMATS)) -> str:
    """``f``: html (default), pdf, docx or md, or another of a report's ``formats``."""
    fmt, formats = request.args.get("f") or "html", list(formats)
    if fmt not in formats:
        raise ValidationError(_("f must be one of %(values)s, got %(value)s", values=", ".join(formats),
                                value=repr(fmt[:20])), param="f")
    return fmt


def _year(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) != 4:
        raise ValidationError(_("year must be a year such as 2013, got %(value)s", value=repr(text[:20])),
                              param="year")
    return int(text)


def _document_response(doc: document.Document, fmt: str, name: str) -> Response:
    if fmt == "html":
        body = document.html_text(doc, stylesheet_href=url_for("reports.stylesheet", lang=script.current()))
        response = Response(body, mimetype="text/html")
    else:
        response = Response(document.render(doc, fmt), content_type=document.mimetype(fmt))
        response.headers["Content-Disposition"] = f'{"attachment" if fmt in _DOWNLOADS else "inline"}; ' \
                                                  f'filename="{name}.{fmt}"'
    response.headers["ETag"] = etag()
    response.headers["Cache-Control"] = "no-cache"
    return response


def _workbook_response(data: bytes, name: str) -> Response:
    response = Response(data, content_type=XLSX)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
    response.headers["ETag"] = etag()
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/reports/summary/<year>")
def work_summary(year: str) -> Response:
    """The year's work summary and next year's plan, as of ``as_of`` (default: the registry's data date)."""
    fmt, wanted = _format(), _year(year)
    if (cached := not_modified()) is not None:
        return cached
    as_of = request.args.get("as_of")
    if as_of:  # the request's view is the registry as of that day already
        view, day = store(), parse_date(as_of)
    else:
        view, day = summary_view(store(), None)
    return _document_response(summary(view, wanted, day), fmt, f"summary-{wanted}")


@bp.get("/reports/bulletin")
def progress_bulletin() -> Response:
    """The progress bulletin as of ``as_of`` (default: the registry's data date), with the change since ``since``:
    f=html|pdf|docx|md, or xlsx for its workbook of complete lists."""
    from registry.report import bulletin

    fmt = _format(bulletin.FORMATS)
    if (cached := not_modified()) is not None:
        return cached
    result = bulletin.compute(store(), request.args.get("as_of"), request.args.get("since"))
    if fmt == "xlsx":
        return _workbook_response(document.workbook(bulletin.sheets(result)), "bulletin")
    return _document_response(bulletin.build(result, store()), fmt, "bulletin")


@bp.get("/reports/assessment/<year>")
def assessment_of(year: str) -> Response:
    """The assessment of the lead departments against a year's statement: f=html|pdf|docx|md|xlsx."""
    from registry.report import assessment

    fmt, wanted = _format(assessment.FORMATS), _year(year)
    if (cached := not_modified()) is not None:
        return cached
    result = assessment.compute(store(), wanted, request.args.get("as_of"))
    if fmt == "xlsx":
        return _workbook_response(assessment.workbook(result), f"assessment-{wanted}")
    return _document_response(assessment.build(result, store()), fmt, f"assessment-{wanted}")


@bp.get("/reports/document.css")
def stylesheet() -> Response:
    """The documents' stylesheet (screen and print) in the request's script and the registry's body face."""
    empty = document.Document("", document.elements(store()), [])
    response = Response(document.stylesheet(empty), mimetype="text/css")
    response.headers["Cache-Control"] = "max-age=3600"
    return response
