"""Where a sweep's files go: names must be stable, sortable and valid everywhere."""

from datetime import datetime, timezone

from flows.layout import join_url, results_root, run_name_for, slug, stamp, sweep_folder


def test_results_root_parameter_beats_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMETER_RESULTS", "s3://from-env/prefix/")
    assert results_root("s3://explicit/p") == "s3://explicit/p"
    assert results_root() == "s3://from-env/prefix"
    monkeypatch.delenv("LLMETER_RESULTS")
    monkeypatch.chdir(tmp_path)
    assert results_root() == str(tmp_path / "results")


def test_stamp_is_utc_sortable_and_colon_free():
    when = datetime(2025, 11, 28, 3, 4, 5, tzinfo=timezone.utc)
    assert stamp(when) == "2025-11-28T03-04-05Z"
    assert ":" not in stamp()


def test_slug_is_a_valid_artifact_key_and_folder():
    assert slug("GPT-4o mini / v2") == "gpt-4o-mini-v2"
    assert slug("***") == "run"


def test_run_names_follow_llmeter_loadtest_and_prefix_the_label():
    assert run_name_for(4) == "00004-clients"
    assert run_name_for(16, "Claude 3.5") == "claude-3-5-00016-clients"


def test_sweep_folder_layout():
    assert (
        sweep_folder("s3://b/p", "Nightly Suite", "2025-11-28T02-00-00Z")
        == "s3://b/p/nightly-suite/2025-11-28T02-00-00Z"
    )
    assert join_url("/tmp/x/", "a/", "/b") == "/tmp/x/a/b"
