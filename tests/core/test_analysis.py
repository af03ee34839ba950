"""Per-run analysis: latency heatmaps and histograms beside the run, Result.get_dimension,
and a whole sweep loaded back with SweepResult (DataFrame and the sweep's charts)."""

from __future__ import annotations

import pytest

from llmeter_core import Result
from llmeter_core.emulator import EmulatorThread
from llmeter_core.plots import RUN_PLOTS, latency_heatmap, render_run_plots, write_run_plots
from llmeter_core.response import InvocationResponse
from llmeter_core.spec import parse_spec
from llmeter_core.sweep_result import SweepResult

PNG = b"\x89PNG\r\n\x1a\n"


def _run(url: str, out, clients: int = 2, stream: bool = True, name: str = "run", pricing=None):
    endpoint = {"type": "openai-chat", "model": "m", "base_url": url + "/v1", "stream": stream}
    if pricing:
        endpoint["pricing"] = pricing
    synthetic = {
        "input_tokens": {"mean": 100, "stdev": 60, "min": 10},
        "output_tokens": {"mean": 20, "stdev": 8, "min": 2},
        "count": 30,
    }
    spec = {
        "run_name": name,
        "output": str(out),
        "endpoint": endpoint,
        "load": {"clients": clients, "n_requests": 6},
        "payloads": {"synthetic": synthetic},
    }
    return parse_spec(spec).runner().run_sync()


@pytest.fixture(scope="module")
def emulator():
    with EmulatorThread("openai", ttft_ms=5, itl_ms=1, output_tokens=10_000) as emu:
        yield emu


def test_run_plots_beside_the_run(emulator, tmp_path):
    result = _run(emulator.url, tmp_path)
    urls = write_run_plots(result)
    assert set(urls) == set(RUN_PLOTS)
    for name in RUN_PLOTS:
        assert (tmp_path / "run" / "plots" / f"{name}.png").read_bytes().startswith(PNG)
    plain = _run(emulator.url, tmp_path, stream=False, name="plain")
    assert set(render_run_plots(plain.responses)) == {"latency-heatmap-ttlt", "ttlt-histogram"}  # no TTFT


def test_heatmap_without_data_or_with_one_length():
    assert latency_heatmap([], [], [], "t") is None
    assert latency_heatmap([5, 5], [3, 3], [0.1, 0.2], "t").startswith(PNG)


def test_get_dimension_fields_annotations_and_filters(emulator, tmp_path):
    result = _run(emulator.url, tmp_path)
    assert result.get_dimension("num_tokens_output") == [r.num_tokens_output for r in result.responses]
    assert result.get_dimension("asked_output_tokens") == result.get_dimension("num_tokens_output")
    ok = result.get_dimension("time_to_first_token", filter_dimension="error_type", filter_value=None)
    assert len(ok) == 12 and all(v > 0 for v in ok)
    responses = [InvocationResponse(num_tokens_output=3, annotations={"cost": 0.5}), InvocationResponse()]
    manual = Result(responses=responses)
    assert manual.get_dimension("cost") == [0.5, None]
    assert manual.get_dimension("num_tokens_output", "cost", 0.5) == [3]
    with pytest.raises(KeyError):
        manual.get_dimension("no_such_dimension")


def test_sweep_result_loads_every_run_with_the_sweep_charts(emulator, tmp_path):
    pricing = {"input_per_1m": 1.0, "output_per_1m": 2.0}
    for clients in (1, 2, 4):
        _run(emulator.url, tmp_path / "sweep", clients=clients, name=f"{clients:05d}-clients", pricing=pricing)
    (tmp_path / "sweep" / "charts").mkdir()  # not a run folder: ignored
    sweep = SweepResult.load(str(tmp_path / "sweep"))
    frame = sweep.frame
    assert list(frame["clients"]) == [1, 2, 4]
    assert list(frame["total_requests"]) == [6, 12, 24]
    assert {"time_to_first_token-p50", "cost_total", "asked_output_tokens-average", "errors"} <= set(frame.columns)
    charts = sweep.charts()
    assert {"ttft", "ttlt", "requests-per-minute", "cost"} <= set(charts)
    assert all(png.startswith(PNG) for png in charts.values())
    written = sweep.plot_results()
    assert (tmp_path / "sweep" / "charts" / "cost.png").read_bytes() == charts["cost"] and "ttft" in written
    run = sweep.result("00002-clients")
    assert len(run.responses) == 12
    with pytest.raises(FileNotFoundError):
        SweepResult.load(str(tmp_path / "sweep" / "charts"))
