"""Interface text from gettext message catalogs, one per script (``registry/locale/<script>/LC_MESSAGES``).

The catalogs are written as their readers expect (zh-Hans mainland wording: 项目, 牵头部门; zh-Hant as
Taiwan and Hong Kong write it: 專案, 牽頭部門), not converted by OpenCC. They are kept as ``.po`` files and
compiled in memory with Babel on first use, so a fresh checkout or install never lacks a compiled catalog.
Data text (names, tasks) is converted by ``registry.text``; names of codes come from ``model.NAMES``.
"""

from __future__ import annotations

from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from . import script

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_FOLDERS = {"zh-Hans": "zh_Hans", "zh-Hant": "zh_Hant"}


def catalog_path(chosen: str) -> Path:
    """The ``.po`` catalog of a script."""
    return LOCALE_DIR / _FOLDERS[chosen] / "LC_MESSAGES" / "messages.po"


def read_catalog(chosen: str) -> Catalog:
    """A script's catalog as Babel reads it."""
    with catalog_path(chosen).open("rb") as po:
        return read_po(po, locale=_FOLDERS[chosen])


@cache
def translations(chosen: str) -> Translations:
    """A script's catalog compiled (in memory) for gettext."""
    compiled = BytesIO()
    write_mo(compiled, read_catalog(chosen))
    compiled.seek(0)
    return Translations(compiled, domain="messages")


def template(message: str) -> str:
    """``message`` in the current script with its ``%(name)s`` places left open (for the web map's script to fill)."""
    return translations(script.current()).gettext(message)


def plural_template(singular: str, plural: str, count: int) -> str:
    """``ngettext`` in the current script, its places left open (click fills its own ``{name}`` places)."""
    return translations(script.current()).ngettext(singular, plural, count)


def gettext(message: str, **values: object) -> str:
    """``message`` in the current script, with ``values`` put in its ``%(name)s`` places (always filled, as
    Jinja's newstyle gettext fills templates' messages, so a literal % is written %% everywhere)."""
    return translations(script.current()).gettext(message) % values
