"""The sweep summary: one row per run, readable back by pandas, JSON-safe for artifacts."""

import json

import pandas as pd

from flows.summary import summary_frame, summary_row, table_records, write_summary


def _summary(clients: int, ttft: float | None, errors: dict | None = None) -> dict:
    return {
        "run_name": f"{clients:05d}-clients",
        "run_url": f"/r/{clients:05d}-clients",
        "endpoint": "m",
        "model_id": "m",
        "clients": clients,
        "total_requests": clients * 5,
        "interrupted": False,
        "stats": {
            "time_to_first_token-p50": ttft,
            "requests_per_minute": 60.0 * clients,
            "failed_requests": len(errors or {}),
            "errors": errors or {},
            "start_time": "2025-01-01T00:00:00Z",
        },
    }


def test_rows_flatten_stats_and_encode_errors():
    row = summary_row(_summary(2, 0.1, {"http_429": 3}))
    assert row["clients"] == 2 and row["run_name"] == "00002-clients"
    assert row["time_to_first_token-p50"] == 0.1
    assert json.loads(row["errors"]) == {"http_429": 3}


def test_frame_keeps_identity_first_counts_integer_and_gaps_as_nan():
    frame = summary_frame([summary_row(_summary(1, 0.1)), summary_row(_summary(2, None))])
    assert list(frame.columns[:5]) == ["endpoint", "model_id", "clients", "rate", "run_name"]
    assert frame["failed_requests"].dtype.kind == "i"
    assert frame["time_to_first_token-p50"].isna().tolist() == [False, True]
    records = table_records(frame, ["clients", "time_to_first_token-p50", "failed_requests"])
    assert records == [
        {"clients": 1, "time_to_first_token-p50": 0.1, "failed_requests": 0},
        {"clients": 2, "time_to_first_token-p50": None, "failed_requests": 0},
    ]
    json.dumps(records)  # plain Python values only


def test_csv_and_parquet_round_trip(tmp_path):
    frame = summary_frame([summary_row(_summary(c, 0.01 * c)) for c in (1, 2, 4)])
    urls = write_summary(frame, str(tmp_path / "sweep"))
    for reader, url in ((pd.read_csv, urls["csv"]), (pd.read_parquet, urls["parquet"])):
        back = reader(url)
        assert back["clients"].tolist() == [1, 2, 4]
        assert back["requests_per_minute"].tolist() == [60.0, 120.0, 240.0]
