"""Chinese text normalisation: the registry stores traditional characters, as the seed does."""

from __future__ import annotations

from functools import lru_cache

import opencc


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


@lru_cache(maxsize=4096)
def to_traditional(text: str) -> str:
    """Simplified → traditional (``娄葑`` → ``婁葑``); traditional text is returned unchanged."""
    return _converter().convert(text)
