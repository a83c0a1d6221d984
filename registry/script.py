"""Which script (zh-Hans or zh-Hant) a reader sees: the registry's default, and the choice for one request.

The registry keeps a default in ``registry_meta`` (key ``script``; ``REGISTRY_SCRIPT`` overrides it; a
registry without one shows Simplified). A request chooses with ``choose``: ``lang=``, then the signed-in
user's setting, then the pages' switch (a cookie), then Accept-Language, then the registry's default. The
choice of the request or command running now is held in a context variable (``use``/``current``), so labels
and messages deep in the library follow it without every function taking a ``script`` argument.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token

from .errors import ValidationError
from .model import SCRIPTS

DEFAULT = "zh-Hans"  # a registry that names none (``registry init``) shows Simplified, as the park's staff read
META_KEY = "script"
ENV = "REGISTRY_SCRIPT"
_HANS_TAGS = ("zh-hans", "zh-cn", "zh-sg", "zh-my")
_HANT_TAGS = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")
_current: ContextVar[str | None] = ContextVar("registry_script", default=None)


def parse(value: str | None, param: str = "lang") -> str | None:
    """``zh-Hans`` or ``zh-Hant`` (any case) as the script it names; None when not given; else refuse."""
    if value is None or not str(value).strip():
        return None
    wanted = str(value).strip().lower()
    for script in SCRIPTS:
        if wanted == script.lower():
            return script
    from .i18n import gettext  # i18n reads the current script from here

    raise ValidationError(gettext("%(param)s must be zh-Hans or zh-Hant, got %(value)s", param=param,
                                  value=repr(str(value)[:40])), param=param)


def registry_default(meta: Mapping[str, str]) -> str:
    """The registry's script: ``REGISTRY_SCRIPT``, else its ``registry_meta`` entry, else Simplified."""
    return (parse(os.environ.get(ENV), ENV) or parse(meta.get(META_KEY), f"registry_meta {META_KEY}")
            or DEFAULT)


def from_accept_language(header: str | None) -> str | None:
    """The script an Accept-Language header prefers (zh-CN → zh-Hans, zh-TW → zh-Hant), or None.

    Tags are taken by their q-values, highest first; a language other than Chinese, or plain ``zh``,
    expresses no script and is passed over.
    """
    ranked = []
    for order, part in enumerate(str(header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, order, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break  # q=0: not acceptable
        if tag.startswith(_HANS_TAGS):
            return "zh-Hans"
        if tag.startswith(_HANT_TAGS):
            return "zh-Hant"
    return None


def from_switch(value: str | None) -> str | None:
    """The script the pages' switch left for this browser session (a cookie), or None: a value that names no
    script is passed over, not refused (the browser sent it, not the reader)."""
    return value if value in SCRIPTS else None


def choose(*, lang: str | None, user: str | None, accept_language: str | None, default: str,
           switch: str | None = None) -> str:
    """The script of one request: ``lang=``, the signed-in user's setting, the pages' switch (a browser
    session's choice: a choice made on these pages beats the browser's general Accept-Language, and an
    account's saved setting, which the switch also writes, beats both), Accept-Language, the registry's default."""
    return parse(lang) or user or from_switch(switch) or from_accept_language(accept_language) or default


def chosen() -> str | None:
    """The script a request or command running now chose, or None (a library call, which chose none)."""
    return _current.get()


def current() -> str:
    """The script of the request or command running now; before any chose one (library calls), the stored
    text's own, zh-Hant, so nothing is converted that no reader asked for."""
    return _current.get() or "zh-Hant"


def set_current(script: str) -> Token[str | None]:
    """Make ``script`` the script of what runs now in this context (a request's thread, a CLI command); the
    token given back restores the previous choice (``reset``) when that request or command ends."""
    return _current.set(script)


def reset(token: Token[str | None]) -> None:
    """Restore the choice made before ``set_current`` gave ``token``."""
    _current.reset(token)


@contextmanager
def use(script: str) -> Iterator[str]:
    """Run a block in ``script``, restoring the previous choice after it."""
    token = _current.set(script)
    try:
        yield script
    finally:
        _current.reset(token)
