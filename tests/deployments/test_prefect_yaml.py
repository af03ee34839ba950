"""The deployment files, validated with no server: entrypoints import, parameters validate
against the flows, cron expressions parse, suites parse and their endpoints build."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.client.schemas.schedules import CronSchedule

from flows.deployments import PREFECT_YAML, load_deployment_entries, load_entrypoint, runner_deployments, schedules_of
from flows.nightly import SUITES_DIR
from flows.params import check_plan, load_suite

ENTRIES = load_deployment_entries()


def test_file_uses_definitions_anchors_for_pools_and_schedules():
    raw = PREFECT_YAML.read_text()
    data = yaml.safe_load(raw)
    assert {"work_pools", "schedules"} <= set(data["definitions"])
    assert "*nightly" in raw and "*llmeter_pool" in raw
    assert {e["name"] for e in ENTRIES} == {"nightly-benchmark", "on-demand-sweep", "capacity-search", "load-shard"}


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_entrypoints_import_and_parameters_validate(entry):
    flow = load_entrypoint(entry["entrypoint"])
    assert (Path(PREFECT_YAML).parent.parent / entry["entrypoint"].split(":")[0]).is_file()
    parameters = entry.get("parameters") or SHARD_PARAMETERS  # load-shard: its parent gives them
    validated = flow.validate_parameters(parameters)
    assert set(parameters) <= set(validated)
    assert entry["work_pool"]["name"] == "llmeter"


#: What a sharded run's parent gives each flow run of the load-shard deployment.
SHARD_PARAMETERS = {
    "spec": {
        "endpoint": {"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:9/v1"},
        "payloads": {"prompts": ["hi"]},
        "load": {"rate": 10.0, "run_duration": 1.0, "shards": 2, "shard_pool": "llmeter"},
        "output": "s3://bucket/results",
    },
    "run_url": "s3://bucket/results/run",
    "index": 1,
    "start_at": "2026-12-01T00:00:00+00:00",
}


def test_nightly_cron_parses_and_runs_at_night():
    (nightly,) = [e for e in ENTRIES if e["name"] == "nightly-benchmark"]
    (cron,) = nightly["schedules"]
    schedule = CronSchedule(cron=cron["cron"], timezone=cron["timezone"])
    assert schedule.cron == "0 2 * * *"
    assert [(s.cron, s.timezone) for s in schedules_of(nightly)] == [("0 2 * * *", "UTC")]
    with pytest.raises(ValueError):
        CronSchedule(cron="61 2 * * *")


def test_on_demand_deployment_has_no_schedule_and_a_form():
    (sweep,) = [e for e in ENTRIES if e["name"] == "on-demand-sweep"]
    assert not sweep.get("schedules")
    schema = load_entrypoint(sweep["entrypoint"]).parameters.model_dump()
    assert "SweepConfig" in schema["definitions"]


def test_capacity_deployment_has_an_slo_and_a_form():
    (entry,) = [e for e in ENTRIES if e["name"] == "capacity-search"]
    assert not entry.get("schedules")
    flow = load_entrypoint(entry["entrypoint"])
    suite = flow.validate_parameters(entry["parameters"])["suite"]
    assert suite.slo.ttft_ms == 500 and suite.search == "rate" and suite.capacity.max_seconds == 1800
    assert "SuiteSpec" in flow.parameters.model_dump()["definitions"]


def test_serve_builds_every_deployment_offline():
    deployments = runner_deployments()
    assert [d.name for d in deployments] == [e["name"] for e in ENTRIES]
    nightly = deployments[0]
    assert nightly.parameters == {"suite": "demo"} and nightly.schedules


@pytest.mark.parametrize("suite", sorted(SUITES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_suites_parse_and_their_endpoints_build(suite, monkeypatch):
    monkeypatch.delenv("LLMETER_EMULATOR_URL", raising=False)
    spec = load_suite(suite)
    check_plan(spec)  # builds every endpoint and payload set; sends nothing
    assert spec.name == suite.stem or spec.name


def test_there_is_a_demo_suite_and_an_openai_compatible_example():
    names = {p.stem for p in SUITES_DIR.glob("*.yaml")}
    assert {"demo", "openai-compatible"} <= names
    demo = load_suite(SUITES_DIR / "demo.yaml")
    assert all(e.build().base_url.startswith("http://127.0.0.1") for e in demo.endpoints)  # ${VAR:-default} expanded


def test_served_deployments_keep_the_files_entrypoint_whatever_the_cwd(tmp_path, monkeypatch):
    """``to_deployment`` alone writes the flow's file relative to the cwd (``../../flows/...``)."""
    seen = []
    for cwd in (tmp_path, tmp_path / "x" / "y"):
        cwd.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(cwd)
        seen.append({d.name: d.entrypoint for d in runner_deployments()})
    assert seen[0] == seen[1] == {e["name"]: e["entrypoint"] for e in ENTRIES}
