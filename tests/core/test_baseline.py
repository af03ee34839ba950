"""Baseline selection over a history: last night, median of N, a pinned date or folder."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from llmeter_core.baseline import BaselinePolicy, select_baseline
from llmeter_core.errors import ConfigError

NIGHT = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)


def history(*rows: dict) -> pd.DataFrame:
    base = {
        "endpoint": "m",
        "clients": 8,
        "rate": None,
        "config_hash": "h1",
        "interrupted": False,
        "total_requests": 80,
        "failed_requests": 0,
    }
    frame = pd.DataFrame([{**base, **row} for row in rows])
    frame["start_time"] = pd.to_datetime(frame["start_time"], utc=True)
    frame["rate"] = frame["rate"].astype(float)
    return frame


def night(days_ago: int, **extra) -> dict:
    when = NIGHT - timedelta(days=days_ago)
    return {"start_time": when, "run_url": f"/r/{when:%Y-%m-%d}/m-00008-clients", **extra}


CANDIDATE = {
    "endpoint": "m",
    "clients": 8,
    "rate": None,
    "config_hash": "h1",
    "start_time": NIGHT,
    "run_url": "/r/tonight/m-00008-clients",
}


def test_default_is_the_most_recent_earlier_run_with_the_same_configuration():
    frame = history(night(3), night(2), night(1, config_hash="h2"), night(1, clients=4), night(1, endpoint="other"))
    chosen = select_baseline(frame, BaselinePolicy(), CANDIDATE)
    assert chosen.urls == ["/r/2026-11-26/m-00008-clients"]


def test_interrupted_empty_failed_later_and_tonight_runs_never_qualify():
    frame = history(
        night(5),
        night(4, interrupted=True),
        night(3, total_requests=0),
        night(2, failed_requests=80),
        night(-1),
        {**night(0), "run_url": "/r/tonight/other-run"},
    )
    chosen = select_baseline(frame, BaselinePolicy(), CANDIDATE, exclude_prefix="/r/tonight")
    assert chosen.urls == ["/r/2026-11-23/m-00008-clients"]


def test_last_n_takes_the_n_latest_and_says_when_there_are_fewer():
    frame = history(*(night(d) for d in range(1, 10)))
    chosen = select_baseline(frame, BaselinePolicy.parse({"last": 7}), CANDIDATE)
    assert len(chosen.urls) == 7 and chosen.urls[-1] == "/r/2026-11-27/m-00008-clients"
    assert "median of the last 7" in chosen.note
    few = select_baseline(history(night(1), night(2)), BaselinePolicy.parse({"last": 7}), CANDIDATE)
    assert len(few.urls) == 2 and "2 earlier runs" in few.note


def test_a_pinned_date_takes_that_days_last_run():
    frame = history(
        night(5), {**night(5), "start_time": NIGHT - timedelta(days=5, hours=-3), "run_url": "/later"}, night(1)
    )
    chosen = select_baseline(frame, BaselinePolicy.parse("2026-11-23"), CANDIDATE)
    assert chosen.urls == ["/later"]
    assert select_baseline(frame, BaselinePolicy.parse(date(2026, 11, 20)), CANDIDATE).urls == []


def test_no_history_means_no_baseline_with_a_note():
    empty = select_baseline(history(night(1)).iloc[0:0], BaselinePolicy(), CANDIDATE)
    assert empty.urls == [] and "first run" in empty.note


@pytest.mark.parametrize(
    "value, field",
    [
        ({"last": 0}, "baseline.last"),
        ({"last": "7"}, "baseline.last"),
        ({"first": 2}, "baseline"),
        ("2026-02-30", "baseline"),
        (42, "baseline"),
    ],
)
def test_bad_policies_name_the_field(value, field):
    with pytest.raises(ConfigError) as caught:
        BaselinePolicy.parse(value)
    assert caught.value.field == field


def test_a_url_policy():
    policy = BaselinePolicy.parse("s3://bucket/llmeter/demo/2026-11-20T02-00-00Z/")
    assert policy.kind == "url" and policy.url == "s3://bucket/llmeter/demo/2026-11-20T02-00-00Z"
