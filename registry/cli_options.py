"""Options and output helpers shared by the ``registry`` commands (here so command modules that live
beside their libraries, such as exchange and maps, need not import the CLI itself)."""

from __future__ import annotations

import getpass
import gettext as stdlib_gettext
import inspect
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO
from weakref import WeakKeyDictionary

import click
import click.parser
import click.shell_completion
import click.termui

from . import i18n, script
from .errors import RegistryError, ValidationError
from .exchange.csvfile import rows_table, write_csv
from .i18n import gettext
from .params import PARAMETERS
from .spatial import parse_date
from .store import Author, Reader, history, open_store, read_store
from .store.history import day_start_utc

STORE_OPTION = click.option(
    "--store", "store", envvar="REGISTRY_STORE", default=None,
    help="The registry: a .gpkg path or a postgresql:// URL (default: $REGISTRY_STORE, else registry.gpkg here).",
)


# Query filters: CLI option → HTTP parameter name of the query module (one parser for both).
_FILTERS: list[tuple[str, str, dict]] = [
    ("--street", "street", {}), ("--as-of", "as_of", {}), ("--bbox", "bbox", {}), ("--polygon", "polygon", {}),
    ("--crs", "crs", {"help": "EPSG code of --bbox/--polygon/--near coordinates (default EPSG:4490)."}),
    ("--near", "near", {}), ("--distance", "distance", {}),
    ("--predicate", "predicate", {"type": click.Choice(["intersects", "within"])}),
    ("--category", "category", {}), ("--year", "year", {}), ("--status", "status", {}),
    ("--department", "department", {}), ("--min-investment", "investment_min", {}),
    ("--max-investment", "investment_max", {}), ("--name", "q", {}),
]


def filter_options(command: Callable) -> Callable:
    """Add the query filters (and --statement/--no-statement) to a command."""
    for option, param, extra in reversed(_FILTERS):
        extra = {"help": PARAMETERS.get(param), **extra}
        command = click.option(option, param.replace("-", "_"), default=None, **extra)(command)
    return click.option("--statement/--no-statement", "in_statement", default=None,
                        help="Only projects in (or not in) the responsibility statement.")(command)


def query_params(options: dict) -> dict[str, str]:
    """The HTTP-style parameters for the query module from the CLI's filter options."""
    params = {param: str(options[param.replace("-", "_")]) for _, param, _ in _FILTERS
              if options.get(param.replace("-", "_")) is not None and param != "crs"}
    if options.get("crs"):
        params.update({"bbox-crs": options["crs"], "polygon-crs": options["crs"], "near-crs": options["crs"]})
    if options.get("in_statement") is not None:
        params["in_statement"] = "true" if options["in_statement"] else "false"
    for key in ("sortby", "limit", "offset"):
        if options.get(key) is not None:
            params[key] = str(options[key])
    return params


def print_table(header: list[str], rows: list[list[object]]) -> None:
    """A plain aligned text table (CJK characters count double width)."""
    def width(text: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)

    cells = [[("" if v is None else str(v)) for v in row] for row in [header, *rows]]
    widths = [max(width(r[k]) for r in cells) for k in range(len(header))]
    for row in cells:
        click.echo("  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths)).rstrip())


def print_csv(header: list[str], rows: list[list[object]]) -> None:
    """CSV on stdout, written as every CSV for people is (``exchange.csvfile``: formula text neutralised),
    with the UTF-8 BOM Excel needs only when stdout is a regular file (``> stats.csv``): a terminal or a
    pipe (``| csvcut``) gets plain UTF-8, as other command-line tools expect."""
    sys.stdout.flush()
    stream = click.get_binary_stream("stdout")
    write_csv(stream, rows_table(header, rows), bom=_is_regular_file(stream))
    stream.flush()


def suffix_in(formats: Iterable[str]) -> Callable[[click.Context, click.Parameter, Path], Path]:
    """A click callback checking that an output file's suffix names one of ``formats`` (the format is read from it)."""
    names = list(formats)

    def check(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
        if value.suffix.lower().lstrip(".") not in names:
            raise click.BadParameter(gettext("%(file)s: the file name must end in %(suffixes)s", file=value.name,
                                             suffixes=", ".join("." + f for f in names)), ctx=ctx, param=param)
        return value
    return check


def _is_regular_file(stream: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # no file descriptor (a test runner's buffer)
        return False


def choose_lang(value: str | None) -> str | None:
    """``--lang``: the script this command shows (it wins over the registry's default), its help included.
    Without it, messages are in ``REGISTRY_SCRIPT``'s script, else Simplified (``registry.cli.main``), until
    the command opens its registry (``use_registry_script``): then in the registry's."""
    try:
        chosen = script.parse(value, "--lang")
    except ValidationError as exc:
        raise click.BadParameter(exc.message) from None
    if chosen:
        context = click.get_current_context()
        context.meta["registry_lang"] = chosen
        script.set_current(chosen)
        speak_script(context.find_root().command)
    return chosen


_CLICK_MODULES = (click.core, click.decorators, click.exceptions, click.formatting, click.parser,
                  click.shell_completion, click.termui, click.types, click.utils)
_ENGLISH: WeakKeyDictionary[click.Command | click.Parameter, dict[str, str | None]] = WeakKeyDictionary()


def speak_script(command: click.Command) -> None:
    """Put a command tree's help in the current script: the commands' and parameters' help texts (written in
    English where they are defined, at import) and click's own words ("Usage:", "Options", its errors), all
    from the message catalogs. Called whenever the command line's script is chosen, before click shows any.

    Click marks its words with the standard library's ``gettext`` and ``ngettext``, bound by name in each of
    its modules; those names are bound to the catalog of the current script instead (the standard library
    would choose one catalog for the whole process, from its LANGUAGE and ``.mo`` files on disk, not the
    script a command chooses). They are bound only after import, so that the words click makes at import (a
    ``Path``'s type name, shown as FILE in usage lines) stay English, like the option names beside them.
    """
    for module in _CLICK_MODULES:
        if getattr(module, "_", None) is stdlib_gettext.gettext:
            module._ = i18n.template
        if getattr(module, "ngettext", None) is stdlib_gettext.ngettext:
            module.ngettext = i18n.plural_template
    english = _ENGLISH.setdefault(command, {"help": command.help, "short_help": command.short_help})
    for attribute, text in english.items():
        setattr(command, attribute, i18n.template(inspect.cleandoc(text)) if text else text)
    command._help_option = None  # click keeps the --help option it made, with its help text: it makes it anew
    for param in command.params:
        text = _ENGLISH.setdefault(param, {"help": param.help})["help"]
        param.help = i18n.template(text) if text else text
    for subcommand in getattr(command, "commands", {}).values():
        speak_script(subcommand)


def use_registry_script(view: Reader) -> str:
    """The command's script: ``--lang`` if given, else the registry's default (``registry config script``)."""
    chosen = click.get_current_context().find_root().meta.get("registry_lang") or script.registry_default(view.meta())
    script.set_current(chosen)
    return chosen


def use_script_of(location: str) -> None:
    """The command's script, for a command that reaches its registry through the library (backup, restore):
    --lang, else the script of the registry at ``location`` if one opens there (else the command's default)."""
    with suppress(RegistryError):  # no registry there (yet): the command itself says so, or creates one
        use_registry_script(open_store(location))


@contextmanager
def read_view(location: str | None, as_of: str | None = None) -> Iterator[Reader]:
    """One committed state of the command's registry (as recorded by the end of ``as_of``), with the command's
    script chosen from it first (``use_registry_script``), so that even a bad ``--as-of`` is refused in it."""
    with read_store(location) as latest:
        use_registry_script(latest)
        yield history.as_of(latest, parse_date(as_of)) if as_of else latest


def author_options(command: Callable) -> Callable:
    """Add --correction and --recorded-at to a command that writes (the change log records both)."""
    command = click.option("--recorded-at", "recorded_at", default=None, metavar="DATE",
                           help="Record the change as made on this date (YYYY-MM-DD), to load history.")(command)
    return click.option("--correction", default=None, metavar="REASON",
                        help="Correct statuses against the workflow, giving the reason (logged).")(command)


def cli_author(correction: str | None = None, recorded_at: str | None = None) -> Author:
    """Who the command line writes as: the local account (whoever may write the store), as an admin; a
    recorded date is the start of that day in Asia/Shanghai."""
    at = day_start_utc(parse_date(recorded_at, "recorded_at")) if recorded_at else None
    return Author(f"{getpass.getuser()}@cli", role="admin", reason=correction or None, at=at)
