"""Reports over HTTP: ``/reports/summary/{year}?f=html|pdf|docx|md`` (with ``as_of`` and ``lang``), the progress
bulletin ``/reports/bulletin`` (``as_of``, ``since``) and the assessment ``/reports/assessment/{year}`` (also xlsx).

The HTML page links its stylesheet (``/reports/document.css``): the pages' security policy runs no inline style.
"""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for

from registry import script
from registry.errors import ValidationError
from registry.report import document
from registry.report.summary import summary, summary_view
from registry.spatial import parse_date

from .http import etag, not_modified, store

bp = Blueprint("reports", __name__)

_DOWNLOADS = {"pdf", "docx", "md"}


def _format() -> str:
    """``f``: html (default), pdf, docx or md."""
    fmt = request.args.get("f") or "html"
    if fmt not in document.FORMATS:
        raise ValidationError(f"f must be one of {', '.join(document.FORMATS)}, got {fmt[:20]!r}", param="f")
    return fmt


def _year(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) != 4:
        raise ValidationError(f"year must be a year such as 2013, got {text[:20]!r}", param="year")
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
    """The progress bulletin as of ``as_of`` (default: the registry's data date), with the change since ``since``."""
    from registry.report.bulletin import bulletin_document

    fmt = _format()
    if (cached := not_modified()) is not None:
        return cached
    doc = bulletin_document(store(), request.args.get("as_of"), request.args.get("since"))
    return _document_response(doc, fmt, "bulletin")


@bp.get("/reports/assessment/<year>")
def assessment_of(year: str) -> Response:
    """The assessment of the lead departments against a year's statement: f=html|pdf|docx|md|xlsx."""
    from registry.report import assessment

    fmt, wanted = request.args.get("f") or "html", _year(year)
    if fmt not in assessment.FORMATS:
        raise ValidationError(f"f must be one of {', '.join(assessment.FORMATS)}, got {fmt[:20]!r}", param="f")
    if (cached := not_modified()) is not None:
        return cached
    result = assessment.compute(store(), wanted, request.args.get("as_of"))
    if fmt != "xlsx":
        return _document_response(assessment.build(result, store()), fmt, f"assessment-{wanted}")
    response = Response(assessment.workbook(result), content_type=assessment.XLSX)
    response.headers["Content-Disposition"] = f'attachment; filename="assessment-{wanted}.xlsx"'
    response.headers["ETag"] = etag()
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/reports/document.css")
def stylesheet() -> Response:
    """The documents' stylesheet (screen and print) in the request's script and the registry's body face."""
    empty = document.Document("", document.elements(store()), [])
    response = Response(document.stylesheet(empty), mimetype="text/css")
    response.headers["Cache-Control"] = "max-age=3600"
    return response
