"""Numbers as Chinese government documents write them, in the display script (``registry.script``).

One function per rule, shared by the reports and the web pages: 億元 without trailing zeros (36.33億元) and
the source's rounded form (約36.3億元), 萬元 for project sums, counts with their measure words (180個),
percentages and percentage points (百分點), amounts "over" a round figure (1700餘萬元), and dates as the
source writes them (2014年3月底 for a month's last day, 2014年4月上旬 for its first ten days).
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from . import script

YI = 100_000_000  # 億: 10^8 yuan
WAN = 10_000  # 萬: 10^4 yuan
_DIGITS = "零一二三四五六七八九"
# Words that differ between the scripts (the rest of a number is digits and 年月日).
_WORDS = {
    "zh-Hant": {"yi": "億元", "wan": "萬元", "about": "約", "over": "餘", "points": "個百分點", "last": "底",
                "ge": "個", "xiang": "項", "chu": "處", "tiao": "條", "pian": "片"},
    "zh-Hans": {"yi": "亿元", "wan": "万元", "about": "约", "over": "余", "points": "个百分点", "last": "底",
                "ge": "个", "xiang": "项", "chu": "处", "tiao": "条", "pian": "片"},
}
MEASURE_WORDS = ("ge", "xiang", "chu", "tiao", "pian")


def _word(key: str, chosen: str | None = None) -> str:
    return _WORDS[chosen or script.current()][key]


def _plain(value: Decimal | float, places: int) -> str:
    """``value`` rounded half up to ``places`` decimals, without trailing zeros (6.0300 → 6.03, 16.20 → 16.2)."""
    quantum = Decimal(1).scaleb(-places)
    rounded = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    text = f"{rounded:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def yi(yuan: float | int, places: int = 2) -> str:
    """An amount in 億元 (亿元), at most ``places`` decimals and no trailing zeros: 3,633,000,000 → ``36.33億元``."""
    return f"{_plain(Decimal(int(round(yuan))) / YI, places)}{_word('yi')}"


def yi_about(yuan: float | int, places: int = 1) -> str:
    """The source's rounded form of an amount in 億元: 3,633,000,000 → ``約36.3億元``; an amount the rounding
    leaves exact has no 約 (1,620,000,000 → ``16.2億元``)."""
    exact = Decimal(int(round(yuan))) / YI
    shown = _plain(exact, places)
    return f"{'' if Decimal(shown) == exact else _word('about')}{shown}{_word('yi')}"


def wan(yuan: float | int, places: int = 2) -> str:
    """A project sum in 萬元 (万元), at most ``places`` decimals, no trailing zeros: 17,260,000 → ``1726萬元``."""
    return f"{_plain(Decimal(int(round(yuan))) / WAN, places)}{_word('wan')}"


def wan_over(yuan: float | int, step: int = 100) -> str:
    """An amount as "over" a round figure of ``step`` 萬元, as the source writes a sum it does not state
    exactly: 17,260,000 → ``1700餘萬元``; a sum that is a round figure is stated as it is (1700萬元)."""
    wans = int(round(yuan)) / WAN
    floor = math.floor(wans / step) * step
    return f"{floor}{'' if floor == wans else _word('over')}{_word('wan')}"


def count(n: int, measure: str = "ge") -> str:
    """A count with its measure word: ``count(180)`` → ``180個``; ``measure`` is one of ge 個, xiang 項,
    chu 處, tiao 條, pian 片 (the source: 180個專案, 5條背街小巷, 8處停車場, 1片城郊結合部)."""
    if measure not in MEASURE_WORDS:
        raise ValueError(f"measure must be one of {', '.join(MEASURE_WORDS)}, got {measure!r}")
    return f"{int(n)}{_word(measure)}"


def percent(value: float, places: int = 1) -> str:
    """A percentage, no trailing zeros: 0.9512 of a whole → pass 95.12 → ``95.1%``."""
    return f"{_plain(value, places)}%"


def points(value: float, places: int = 1) -> str:
    """A difference of percentages in percentage points (百分點): 12.5 → ``12.5個百分點``."""
    return f"{_plain(value, places)}{_word('points')}"


def quantity(value: float, places: int = 2) -> str:
    """A plain quantity without trailing zeros or grouping (1494, 14.6)."""
    return _plain(value, places)


def ten_thousands(value: float, places: int = 1) -> str:
    """A quantity in 萬 (万) of its unit, as the source writes areas: 146,000 (m²) → ``14.6萬``."""
    return f"{_plain(Decimal(str(value)) / WAN, places)}{_word('wan')[0]}"


def _as_date(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else pd.Timestamp(str(value)[:10]).date()


def date(value: str | dt.date) -> str:
    """A date as documents write it: 2014-03-31 → ``2014年3月31日``."""
    day = _as_date(value)
    return f"{day.year}年{day.month}月{day.day}日"


def month_end(value: str | dt.date) -> str:
    """A due date as the source writes one: the last day of a month as ``2014年3月底``, any other day as
    ``date`` writes it."""
    day = _as_date(value)
    if day.day == calendar.monthrange(day.year, day.month)[1]:
        return f"{day.year}年{day.month}月{_word('last')}"
    return date(day)


def ten_days(value: str | dt.date) -> str:
    """The third of a month a date falls in (旬), as the source writes a target: 2014-04-10 → ``2014年4月上旬``."""
    day = _as_date(value)
    part = "上旬" if day.day <= 10 else "中旬" if day.day <= 20 else "下旬"
    return f"{day.year}年{day.month}月{part}"


def chinese_numeral(n: int) -> str:
    """1–99 in Chinese numerals, as headings are numbered: 1 → 一, 10 → 十, 12 → 十二, 20 → 二十."""
    if not 1 <= n <= 99:
        raise ValueError(f"heading numbers run from 1 to 99, got {n}")
    tens, ones = divmod(n, 10)
    return (("" if tens == 1 else _DIGITS[tens]) + "十" if tens else "") + (_DIGITS[ones] if ones else "")


def format_wan(yuan: float | int | None) -> str:
    """An amount in 萬元 (10^4 yuan; 万元 in Simplified) with two decimals and grouping, as tables show it;
    ``-`` for none."""
    return "-" if yuan is None or pd.isna(yuan) else f"{yuan / WAN:,.2f} {_word('wan')}"


def format_yi(yuan: float | int) -> str:
    """An amount in 億元 (10^8 yuan; 亿元 in Simplified) with two decimals: 3,633,000,000 → ``36.33 億元``."""
    return f"{yuan / YI:,.2f} {_word('yi')}"
