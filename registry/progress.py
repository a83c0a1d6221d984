"""Where projects stand against their plan on a date: overdue, delayed, and the bulletin's traffic light.

One rule each, used by the dashboard, the progress bulletin and the assessment. Dates are ISO strings
(``YYYY-MM-DD``) as the store holds them; every function is vectorised over a projects frame.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

CLOSED_STATUSES = ("completed", "long_term_management", "cancelled")  # never overdue
LIGHTS = ("grey", "green", "yellow", "red")  # in rising order of concern
YELLOW_FROM_POINTS = 10.0  # 10 percentage points behind the share of planned time elapsed is yellow ...
RED_ABOVE_POINTS = 30.0  # ... up to 30 inclusive; more than 30 behind (or overdue) is red


def reference_date(as_of: str | None, meta: Mapping[str, str]) -> str:
    """The date projects are judged on: ``as_of`` if given, else the registry's data date, else today."""
    if as_of:
        return str(as_of)[:10]
    return meta.get("data_date") or dt.date.today().isoformat()


def dates(values: pd.Series) -> pd.Series:
    """ISO date text (None or unreadable: NaT) as timestamps, for comparing dates."""
    return pd.to_datetime(values.astype(object).where(values.notna(), None), errors="coerce", format="ISO8601")


def overdue(projects: pd.DataFrame, on: str) -> pd.Series:
    """True where the planned finish is before ``on`` and the project is not completed, under
    long-term management or cancelled."""
    finish = dates(projects["planned_finish"])
    return (finish < pd.Timestamp(on)).fillna(False).astype(bool) & ~projects["status"].isin(CLOSED_STATUSES)


def delayed(projects: pd.DataFrame) -> pd.Series:
    """True where the project is recorded as delayed (it then carries a reason and a new planned finish)."""
    return projects["status"].eq("delayed")


def elapsed_pct(projects: pd.DataFrame, on: str) -> pd.Series:
    """The share of planned time (planned start to planned finish) elapsed on ``on``, in percent, 0 to 100;
    NaN where either date is missing."""
    start, finish = dates(projects["planned_start"]), dates(projects["planned_finish"])
    span = (finish - start).dt.days.astype(float)
    done = (pd.Timestamp(on) - start).dt.days.astype(float)
    share = np.where(span > 0, done / span.where(span > 0), np.where(done >= 0, 1.0, 0.0))
    return pd.Series(np.clip(share, 0.0, 1.0) * 100.0, index=projects.index).where(start.notna() & finish.notna())


def points_behind(projects: pd.DataFrame, on: str) -> pd.Series:
    """Percentage points by which recorded progress trails the share of planned time elapsed (negative: ahead).
    A completed or long-term-managed project counts as 100 % done; missing progress counts as 0."""
    progress = projects["progress_pct"].astype(float).fillna(0.0)
    progress = progress.where(~projects["status"].isin(("completed", "long_term_management")), 100.0)
    return elapsed_pct(projects, on).fillna(0.0) - progress


def traffic_light(projects: pd.DataFrame, on: str) -> pd.Series:
    """grey: not started and not due to (or cancelled); green: under 10 points behind; yellow: 10 to 30
    points behind, inclusive; red: more than 30 behind, or overdue."""
    behind = points_behind(projects, on)
    start = dates(projects["planned_start"])
    progress = projects["progress_pct"].astype(float).fillna(0.0)
    not_due = projects["status"].eq("planned") & progress.eq(0.0) & ~(start <= pd.Timestamp(on)).fillna(False)
    light = np.select([projects["status"].eq("cancelled") | not_due,
                       overdue(projects, on) | (behind > RED_ABOVE_POINTS),
                       behind >= YELLOW_FROM_POINTS],
                      ["grey", "red", "yellow"], default="green")
    return pd.Series(light, index=projects.index, dtype=object)
