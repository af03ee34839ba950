"""``stagger``: closed-loop clients' first sends spread over a window (seeded, recorded), so
clients with equal-length replies do not reach the server in lockstep bursts."""

from __future__ import annotations

import orjson
import pytest

from llmeter_core import ConfigError, Runner
from llmeter_core.endpoints.openai_chat import OpenAIChatEndpoint
from llmeter_core.load_plan import start_offsets
from llmeter_core.spec import RunSpec


async def run(emu, tmp_path, name: str, **options):
    endpoint = OpenAIChatEndpoint(model_id="m", base_url=emu.url + "/v1")
    result = await Runner(
        endpoint,
        [endpoint.create_payload("a b c", max_tokens=50)],
        clients=8,
        n_requests=3,
        output_path=tmp_path,
        run_name=name,
        **options,
    ).run()
    config = orjson.loads((tmp_path / name / "run_config.json").read_bytes())
    return result, config


def arrivals_ms(emu, result) -> list[float]:
    """When the server received each request, ms after the first (its own clock)."""
    starts = sorted(emu.state.truth.get(r.id).started_s for r in result.responses)
    return [(s - starts[0]) * 1000 for s in starts]


def bursts(times_ms: list[float], within_ms: float = 3.0) -> int:
    """Requests arriving within ``within_ms`` of the one before."""
    return sum(1 for a, b in zip(times_ms, times_ms[1:], strict=False) if b - a < within_ms)


async def test_staggered_clients_leave_lockstep_and_record_their_offsets(emulator, tmp_path):
    emu = await emulator("openai", ttft_ms=50, itl_ms=5, output_tokens=20)  # equal replies, ~145 ms
    together, config = await run(emu, tmp_path, "together")
    assert config["stagger"] == 0.0 and "client_start_offsets" not in config
    # all at once (the default): the 8 clients stay in step and arrive in bursts
    assert bursts(arrivals_ms(emu, together)) >= 12, arrivals_ms(emu, together)

    staggered, config = await run(emu, tmp_path, "staggered", stagger=0.12, seed=3)
    offsets = config["client_start_offsets"]
    assert config["stagger"] == 0.12 and len(offsets) == 8
    assert offsets == list(start_offsets(8, 0.12, 3))
    # one offset in each of the 8 slots of 15 ms: covering the window, never two together
    assert sorted(int(o / 0.015) for o in offsets) == list(range(8))
    first_sends = sorted(r.request_time for r in staggered.responses)[:8]
    spread = (first_sends[-1] - first_sends[0]).total_seconds()
    assert 0.12 * 6 / 8 <= spread < 0.12 + 0.05
    # spread within one reply's time (~145 ms), the starts stay apart round after round
    assert bursts(arrivals_ms(emu, staggered)) <= bursts(arrivals_ms(emu, together)) / 2, arrivals_ms(emu, staggered)


def test_offsets_are_seeded():
    assert start_offsets(4, 1.0, 1) == start_offsets(4, 1.0, 1) != start_offsets(4, 1.0, 2)
    assert start_offsets(3, 0.0, 1) == (0.0, 0.0, 0.0)
    assert all(0 <= o < 1.0 for o in start_offsets(50, 1.0, 9))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"clients": 2, "stagger": -1.0}, "stagger"),
        ({"rate": 5.0, "stagger": 1.0}, "stagger: closed-loop only"),
        ({"clients": 2, "stagger": 5.0, "run_duration": 5.0}, "stagger: 5.0 s is not shorter than the run"),
    ],
)
def test_bad_stagger_is_refused_naming_the_field(options, message):
    endpoint = OpenAIChatEndpoint(model_id="m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match=message):
        Runner(endpoint, [{"messages": []}], **({"n_requests": 1} if "run_duration" not in options else {}), **options)


def test_the_spec_takes_stagger():
    spec = RunSpec.model_validate(
        {
            "endpoint": {"type": "openai-chat", "model_id": "m", "base_url": "http://127.0.0.1:9/v1"},
            "load": {"clients": 4, "n_requests": 2, "stagger": 0.5},
            "payloads": {"prompts": ["hi"]},
        }
    )
    assert spec.load.stagger == 0.5
    with pytest.raises(Exception, match="stagger"):
        RunSpec.model_validate(
            {
                "endpoint": {"type": "openai-chat", "model_id": "m", "base_url": "http://127.0.0.1:9/v1"},
                "load": {"rate": 4.0, "n_requests": 2, "stagger": 0.5},
                "payloads": {"prompts": ["hi"]},
            }
        )
