"""The history dataset and config_hash: rows from real run folders, local and on moto S3."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import fsspec
import orjson
import pandas as pd
import pyarrow.dataset as ds
import pytest

from llmeter_core import Runner, create_endpoint
from llmeter_core.emulator import EmulatorThread
from llmeter_core.errors import ConfigError
from llmeter_core.fingerprint import config_hash, differences, fingerprint, read_fingerprint
from llmeter_core.history import append_row, history_folders, history_row, history_url, read_history

PAYLOAD = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 6}


@pytest.fixture(scope="module")
def emulator():
    with EmulatorThread("openai", ttft_ms=5, itl_ms=1, output_tokens=6) as emu:
        yield emu


def make_run(emulator, output: str, run_name: str, clients: int = 2, payload=PAYLOAD, seed: int = 0, port=None) -> str:
    base = emulator.url if port is None else emulator.url.rsplit(":", 1)[0] + f":{port}"
    endpoint = create_endpoint("openai-chat", model_id="emulator-model", base_url=base + "/v1", stream=True)
    result = Runner(
        endpoint, payload, clients=clients, n_requests=3, output_path=output, run_name=run_name, seed=seed
    ).run_sync()
    return result.output_path


def test_row_from_a_run_folder_has_the_key_stats(emulator, tmp_path):
    url = make_run(emulator, str(tmp_path), "r1")
    row = history_row(url, suite="demo", flow_run_id="abc")
    stats = orjson.loads((tmp_path / "r1" / "stats.json").read_bytes())
    assert row["suite"] == "demo" and row["endpoint"] == "emulator-model" and row["model_id"] == "emulator-model"
    assert row["clients"] == 2 and row["rate"] is None and row["run_url"] == url and row["run_name"] == "r1"
    assert row["total_requests"] == 6 and row["failed_requests"] == 0 and orjson.loads(row["errors"]) == {}
    for key in (
        "time_to_first_token-p50",
        "time_to_first_token-p90",
        "time_to_first_token-p99",
        "time_to_last_token-p99",
        "time_per_output_token-p50",
        "requests_per_minute",
        "output_tps",
    ):
        assert row[key] == stats[key]
    assert row["start_time"] == datetime.fromisoformat(stats["start_time"].replace("Z", "+00:00"))
    assert len(row["config_hash"]) == 16 and row["flow_run_id"] == "abc"


def test_config_hash_ignores_name_output_seed_and_a_loopback_port_but_not_the_load(emulator, tmp_path):
    first = read_fingerprint(make_run(emulator, str(tmp_path / "a"), "one"))
    renamed = read_fingerprint(make_run(emulator, str(tmp_path / "b"), "two", seed=9))
    assert config_hash(first) == config_hash(renamed)
    other_port = fingerprint(
        {
            **orjson.loads((tmp_path / "a" / "one" / "run_config.json").read_bytes()),
            "endpoint": {**first["endpoint"], "base_url": "http://127.0.0.1:1/v1"},
        },
        (tmp_path / "a" / "one" / "payload.jsonl").read_bytes().splitlines(),
    )
    assert config_hash(other_port) == config_hash(first)
    remote = {**first, "endpoint": {**first["endpoint"], "base_url": "http://10.0.0.1:8000/v1"}}
    assert config_hash(remote) != config_hash(first)

    more_clients = read_fingerprint(make_run(emulator, str(tmp_path / "c"), "three", clients=3))
    other_prompt = read_fingerprint(
        make_run(
            emulator, str(tmp_path / "d"), "four", payload={**PAYLOAD, "messages": [{"role": "user", "content": "bye"}]}
        )
    )
    assert len({config_hash(first), config_hash(more_clients), config_hash(other_prompt)}) == 3
    assert [d["field"] for d in differences(first, more_clients)] == ["clients"]
    assert [d["field"] for d in differences(first, other_prompt)] == ["payloads.sha256"]


def test_payload_key_order_does_not_change_the_hash():
    config = {"run_name": "x", "clients": 1}
    assert config_hash(fingerprint(config, [b'{"a": 1, "b": 2}'])) == config_hash(
        fingerprint(config, [b'{"b": 2, "a": 1}'])
    )


def test_rows_are_appended_one_file_each_and_read_by_pandas_and_pyarrow_directly(emulator, tmp_path):
    history = history_url(str(tmp_path), "demo")
    urls = [make_run(emulator, str(tmp_path / "demo" / "night"), f"run{i}", clients=i + 1) for i in range(3)]
    for url in urls:
        append_row(history, history_row(url, suite="demo"))
    files = sorted(p.name for p in (tmp_path / "demo" / "history").iterdir())
    assert len(files) == 3 and all(f.endswith(".parquet") and not f.startswith(".") for f in files)

    frame = read_history(str(tmp_path / "demo"))
    assert frame["run_url"].tolist() == urls  # oldest first
    assert frame["clients"].tolist() == [1, 2, 3]
    assert pd.read_parquet(history)["total_requests"].sort_values().tolist() == [3, 6, 9]
    assert ds.dataset(history, format="parquet").to_table().num_rows == 3
    assert read_history(str(tmp_path))["run_url"].tolist() == urls  # from the results root too
    assert history_folders(str(tmp_path)) == [history]


def test_filters_and_extra_stats(tmp_path):
    history = history_url(str(tmp_path), "s")
    now = datetime.now(timezone.utc)
    for i, endpoint in enumerate(["a", "b", "a"]):
        append_row(
            history,
            {
                "suite": "s",
                "endpoint": endpoint,
                "clients": 1,
                "start_time": now - timedelta(days=3 - i),
                "run_url": f"/x/{i}",
                "extra_stats": orjson.dumps({"goodput": 0.5 + i}).decode(),
            },
        )
    assert read_history(history, endpoint="a")["run_url"].tolist() == ["/x/0", "/x/2"]
    recent = read_history(history, since=now - timedelta(days=1, hours=12))
    assert recent["run_url"].tolist() == ["/x/2"] and recent["goodput"].tolist() == [2.5]


def test_a_damaged_file_is_skipped_and_the_rest_loads(tmp_path):
    history = history_url(str(tmp_path), "s")
    append_row(history, {"suite": "s", "endpoint": "a", "run_url": "/ok", "start_time": datetime.now(timezone.utc)})
    (tmp_path / "s" / "history" / "20260101T000000000000Z_torn.parquet").write_bytes(b"PAR1 torn")
    assert read_history(history)["run_url"].tolist() == ["/ok"]


def test_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such folder"):
        read_history(str(tmp_path / "nope"))
    assert read_history(history_url(str(tmp_path), "new-suite")).empty  # a suite with no history yet


@pytest.mark.parametrize("where", ["local", "s3"])
def test_two_runs_writing_history_at_the_same_moment_both_appear(where, tmp_path, request):
    root = str(tmp_path) if where == "local" else request.getfixturevalue("s3_results")
    history = history_url(root, "race")
    barrier = threading.Barrier(8)
    start = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)

    def write(i: int) -> None:
        barrier.wait()  # every writer starts at once, same start time, same endpoint
        append_row(
            history, {"suite": "race", "endpoint": "m", "clients": 4, "start_time": start, "run_url": f"run-{i}"}
        )

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(read_history(history)["run_url"]) == sorted(f"run-{i}" for i in range(8))
    assert history_folders(root) == [history]  # a results root finds every suite's history
    if where == "s3":
        fs, path = fsspec.core.url_to_fs(history)
        assert len(fs.ls(path, refresh=True)) == 8
        assert pd.read_parquet(history, storage_options={}).shape[0] == 8
