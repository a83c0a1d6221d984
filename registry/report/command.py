"""``registry report``: write the registry's documents (the yearly work summary) to HTML, PDF, DOCX or Markdown,
and keep the narrative text the office writes for them (``registry report text summary FILE``).

``registry.cli`` registers this group; other reports add their commands to ``report_command``.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..cli_options import STORE_OPTION, choose_lang, suffix_in, use_registry_script
from ..store import open_store, read_store, store_location
from . import SUMMARY_TEXT_KEY
from .assessment import FORMATS as ASSESSMENT_FORMATS
from .bulletin import FORMATS as BULLETIN_FORMATS
from .document import FORMATS, render

LANG_OPTION = click.option("--lang", default=None, expose_value=False, is_eager=True,
                           callback=lambda _ctx, _param, value: choose_lang(value),
                           help="Script of the document: zh-Hans or zh-Hant (default: the registry's).")
OUT_OPTION = click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
                          callback=suffix_in(FORMATS), help="Output file: .html, .pdf, .docx or .md.")


@click.group("report")
def report_command() -> None:
    """Documents written from the registry: the yearly work summary and plan, the progress bulletin, the assessment."""


@report_command.command("summary")
@STORE_OPTION
@click.option("--year", type=int, required=True, help="The year summed up (its next year is the plan).")
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="The registry as recorded on this date, YYYY-MM-DD (default: the registry's data date).")
@LANG_OPTION
@OUT_OPTION
def summary_command(store: str | None, year: int, as_of: str | None, out: Path) -> None:
    """The year's work summary and next year's plan, in the source document's structure."""
    from .summary import summary, summary_view

    with read_store(store) as latest:
        use_registry_script(latest)
        view, day = summary_view(latest, as_of)
        data = render(summary(view, year, day), out.suffix.lower().lstrip("."))
    out.write_bytes(data)
    click.echo(f"wrote {out} ({len(data):,} bytes): work summary {year} as of {day}")


@report_command.command("bulletin")
@STORE_OPTION
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="Judge the registry as recorded on this date, YYYY-MM-DD (default: the registry's data date).")
@click.option("--since", default=None, metavar="DATE",
              help="Show the change since this earlier date (the bulletin as recorded and judged then).")
@LANG_OPTION
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=suffix_in(BULLETIN_FORMATS),
              help="Output file: .html, .pdf, .docx or .md; .xlsx for its workbook of complete lists.")
def bulletin_command(store: str | None, as_of: str | None, since: str | None, out: Path) -> None:
    """The progress bulletin: lead departments ranked by progress against planned time, lights, overdue projects."""
    from .bulletin import compute
    from .bulletin import render as written

    with read_store(store) as latest:
        use_registry_script(latest)
        result = compute(latest, as_of, since)
        data = written(result, latest, out.suffix.lower().lstrip("."))
    out.write_bytes(data)
    click.echo(f"wrote {out} ({len(data):,} bytes): progress bulletin as of {result.on}"
               + (f", change since {result.since}" if result.since else ""))


@report_command.command("assessment")
@STORE_OPTION
@click.option("--year", type=int, required=True, help="The year of the responsibility statement assessed.")
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="Judge the registry as recorded on this date, YYYY-MM-DD (default: the registry's data date).")
@LANG_OPTION
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=suffix_in(ASSESSMENT_FORMATS), help="Output file: .xlsx, .html, .pdf, .docx or .md.")
def assessment_command(store: str | None, year: int, as_of: str | None, out: Path) -> None:
    """The assessment (考核) of the lead departments: their statement projects of the year completed on time."""
    from .assessment import compute
    from .assessment import render as written

    with read_store(store) as latest:
        use_registry_script(latest)
        result = compute(latest, year, as_of)
        data = written(result, latest, out.suffix.lower().lstrip("."))
    out.write_bytes(data)
    click.echo(f"wrote {out} ({len(data):,} bytes): assessment {year} as of {result.on}, "
               f"{len(result.projects)} statement projects")


@report_command.command("elements")
@STORE_OPTION
@click.option("--issuer", default=None, help="發文機關: the issuing office.")
@click.option("--number", default=None, help="文號: the document number, e.g. 蘇園整治辦〔2014〕1號.")
@click.option("--recipients", default=None, help="主送機關: whom the documents are sent to.")
@click.option("--date", "day", default=None, metavar="DATE", help="成文日期, YYYY-MM-DD (default: the data date).")
@click.option("--body-font", default=None, help="The body face the office's PCs have, e.g. 仿宋_GB2312 (tried first).")
def elements_command(store: str | None, **values: str | None) -> None:
    """Set the document elements every report carries (registry_meta report_*); given none, show them.

    An empty value ('') returns an element to its default."""
    from ..spatial import parse_date
    from .document import ELEMENT_KEYS

    opened = open_store(store_location(store))
    names = {"issuer": "issuer", "number": "number", "recipients": "recipients", "day": "date",
             "body_font": "body_font"}
    changes = {ELEMENT_KEYS[names[k]]: (parse_date(v, "--date") if k == "day" and v else v.strip())
               for k, v in values.items() if v is not None}
    if changes:
        opened.set_meta(changes)
    meta = opened.meta()
    for name, key in ELEMENT_KEYS.items():
        click.echo(f"{name}: {meta.get(key) or '(default)'}")


@report_command.command("text")
@STORE_OPTION
@click.argument("report", type=click.Choice(["summary"]))
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def text_command(store: str | None, report: str, file: Path | None) -> None:
    """Keep FILE (UTF-8) as the narrative of a report; without FILE, print the one kept.

    The summary's text has parts headed "# opening", "# organisation", "# plan" and "# measures"; in a part,
    "## " starts a (一) heading, "### " a 1. heading, and other lines are paragraphs.
    """
    from .summary import parse_narrative

    opened = open_store(store_location(store))
    if file is None:
        click.echo(opened.meta().get(SUMMARY_TEXT_KEY, ""), nl=False)
        return
    text = file.read_text(encoding="utf-8")
    parts = parse_narrative(text)  # refuses a text the summary cannot use, before anything is written
    opened.set_meta({SUMMARY_TEXT_KEY: text})
    click.echo(f"{opened.location}: kept the {report}'s text ({', '.join(parts) or 'no parts'})")
