"""Chinese text conversion: the registry stores traditional characters, as the seed does, and shows data text
in the reader's script.

Three OpenCC configurations, each for one job:

- input: ``s2tw`` turns Simplified input into the stored characters (``娄葑`` → ``婁葑``). It keeps the source's
  character forms (群, 為, 裡; ``s2t`` gives 羣, 爲, 裏) and its mainland vocabulary (``s2twp`` rewrote
  設置 → 設定, 文件 → 檔案 in the demo's own text and 社区 → 社群); on every stored demo text it is the identity.
- output: ``tw2sp`` shows stored text to a Simplified reader with mainland wording (專案 → 项目, not 专案).
- search: ``fold`` (``t2s``) maps both scripts onto one form, so a name searched for in either script finds
  the stored text whatever wording a phrase conversion would have chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import opencc

_SEPARATOR = "\n"  # OpenCC converts line by line, so texts joined by it convert as they would one by one
INPUT_CONFIG = "s2tw"
OUTPUT_CONFIG = {"zh-Hans": "tw2sp"}  # zh-Hant is the stored text itself
FOLD_CONFIG = "t2s"


@lru_cache(maxsize=8)
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def _convert_all(config: str, texts: Sequence[str]) -> list[str]:
    """One OpenCC call for many texts (a column of names, not a loop of calls)."""
    if not texts:
        return []
    if any(_SEPARATOR in text for text in texts):
        return [_converter(config).convert(text) for text in texts]
    return _converter(config).convert(_SEPARATOR.join(texts)).split(_SEPARATOR)


@lru_cache(maxsize=4096)
def to_traditional(text: str) -> str:
    """Simplified → the stored traditional form (``娄葑`` → ``婁葑``); traditional text is returned unchanged."""
    return _converter(INPUT_CONFIG).convert(text)


def to_traditional_all(texts: Sequence[str]) -> list[str]:
    """``to_traditional`` of many texts in one call of OpenCC."""
    return _convert_all(INPUT_CONFIG, texts)


@lru_cache(maxsize=4096)
def to_script(text: str, script: str) -> str:
    """Stored text as a reader of ``script`` sees it: zh-Hans with mainland wording (專案 → 项目), zh-Hant as stored."""
    config = OUTPUT_CONFIG.get(script)
    return _converter(config).convert(text) if config else text


def to_script_all(texts: Sequence[str], script: str) -> list[str]:
    """``to_script`` of many texts in one call of OpenCC."""
    config = OUTPUT_CONFIG.get(script)
    return _convert_all(config, texts) if config else list(texts)


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """The script-blind form of a text (both scripts folded to Simplified characters), for comparing spellings."""
    return _converter(FOLD_CONFIG).convert(text)


def fold_all(texts: Sequence[str]) -> list[str]:
    """``fold`` of many texts in one call of OpenCC (a column of stored names to search)."""
    return _convert_all(FOLD_CONFIG, texts)
