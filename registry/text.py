"""Chinese text normalisation: the registry stores traditional characters, as the seed does."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import opencc

_SEPARATOR = "\n"  # OpenCC converts line by line, so texts joined by it convert as they would one by one


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


@lru_cache(maxsize=4096)
def to_traditional(text: str) -> str:
    """Simplified → traditional (``娄葑`` → ``婁葑``); traditional text is returned unchanged."""
    return _converter().convert(text)


def to_traditional_all(texts: Sequence[str]) -> list[str]:
    """``to_traditional`` of many texts in one call of OpenCC (a column of names, not a loop of calls)."""
    if any(_SEPARATOR in text for text in texts):
        return [to_traditional(text) for text in texts]
    if not texts:
        return []
    return _converter().convert(_SEPARATOR.join(texts)).split(_SEPARATOR)
