"""The rules of where a project stands on a date: overdue, delayed and the bulletin's traffic light,
checked on hand-computed cases at the boundaries (10 and 30 percentage points behind)."""

import pandas as pd
import pytest

from registry import progress

# Planned 2014-01-01 to 2014-11-01 (304 days); on 2014-06-01, 151 days have elapsed: 49.67 % of the time.
START, FINISH, ON = "2014-01-01", "2014-11-01", "2014-06-01"
ELAPSED = 151 / 304 * 100


def _one(status: str = "in_progress", pct: float | None = 0.0, start: str | None = START,
         finish: str | None = FINISH) -> pd.DataFrame:
    return pd.DataFrame({"planned_start": [start], "planned_finish": [finish], "status": [status],
                         "progress_pct": [pct]})


@pytest.mark.parametrize(("behind", "light"), [
    (0.0, "green"), (9.99, "green"), (10.0, "yellow"), (20.0, "yellow"), (30.0, "yellow"), (30.01, "red"),
    (-20.0, "green")])
def test_traffic_light_follows_points_behind_at_the_boundaries(behind, light):
    assert progress.traffic_light(_one(pct=ELAPSED - behind), ON).iloc[0] == light


def test_points_behind_is_elapsed_share_less_progress():
    assert progress.points_behind(_one(pct=40.0), ON).iloc[0] == pytest.approx(ELAPSED - 40.0)


def test_a_project_not_started_and_not_due_to_is_grey():
    assert progress.traffic_light(_one("planned", 0.0, start="2014-07-01"), ON).iloc[0] == "grey"


def test_a_planned_project_past_its_start_without_progress_is_judged():
    assert progress.traffic_light(_one("planned", 0.0), ON).iloc[0] == "red"  # 49.7 points behind


def test_overdue_is_red_whatever_its_progress():
    late = _one(pct=99.0, finish="2014-05-31")
    assert progress.overdue(late, ON).iloc[0]
    assert progress.traffic_light(late, ON).iloc[0] == "red"


@pytest.mark.parametrize("status", ["completed", "long_term_management", "cancelled"])
def test_closed_projects_are_never_overdue(status):
    assert not progress.overdue(_one(status, 100.0, finish="2014-05-31"), ON).iloc[0]


def test_finishing_on_the_reference_date_is_not_overdue():
    assert not progress.overdue(_one(finish=ON), ON).iloc[0]


def test_a_project_without_a_planned_finish_is_not_overdue():
    assert not progress.overdue(_one(finish=None), ON).iloc[0]


def test_reference_date_prefers_as_of_then_data_date():
    assert progress.reference_date("2014-03-01T00:00:00Z", {"data_date": "2014-01-10"}) == "2014-03-01"
    assert progress.reference_date(None, {"data_date": "2014-01-10"}) == "2014-01-10"
