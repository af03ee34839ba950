"""Cost: hand-checkable prices per request and per run, the spec's `pricing:`, stats.json keys
that survive Result.load, and the sweep summary columns."""

from __future__ import annotations

import pytest

from llmeter_core import ConfigError, Result
from llmeter_core.cost import CostModel, Pricing
from llmeter_core.emulator import EmulatorThread
from llmeter_core.spec import parse_spec


def test_request_cost_is_uncached_cached_and_output_tokens_at_their_prices():
    pricing = Pricing(input_per_1m=3.0, cached_input_per_1m=0.3, output_per_1m=15.0)
    # 1,000 prompt tokens of which 400 cached, 200 output tokens:
    # 600 x 3/1e6 = 0.0018, 400 x 0.3/1e6 = 0.00012, 200 x 15/1e6 = 0.003
    assert pricing.request_cost(1000, 400, 200) == pytest.approx((0.0018, 0.00012, 0.003))
    # Without a cached price, cached tokens cost as input tokens.
    assert sum(Pricing(input_per_1m=3.0).request_cost(1000, 400, 200)) == pytest.approx(0.003)
    assert Pricing(instance_per_hour=7.2, instances=2).instance_cost(90.0) == pytest.approx(0.36)


@pytest.mark.parametrize(
    "prices, field",
    [
        ({}, "endpoint.pricing"),
        ({"input_per_1m": -1}, "endpoint.pricing.input_per_1m"),
        ({"cached_input_per_1m": 1}, "endpoint.pricing"),
        ({"input_per_1m": 1, "instances": 2}, "endpoint.pricing"),
        ({"input_per_1m": 1, "per_token": 2}, "endpoint.pricing.per_token"),
    ],
)
def test_bad_pricing_is_named(prices, field):
    spec = {
        "endpoint": {"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:1/v1", "pricing": prices},
        "load": {"n_requests": 1},
        "payloads": {"prompts": ["a"]},
    }
    with pytest.raises(ConfigError) as caught:
        parse_spec(spec)
    assert caught.value.field == field, str(caught.value)


def _spec(url: str, out, pricing: dict, stream: bool = True) -> dict:
    return {
        "run_name": "priced",
        "output": str(out),
        "endpoint": {
            "type": "openai-chat",
            "model": "m",
            "base_url": url + "/v1",
            "stream": stream,
            "pricing": pricing,
        },
        "load": {"clients": 2, "n_requests": 5},
        "payloads": {"prompts": ["one two three four five six seven eight nine ten"], "max_tokens": 50},
    }


def test_a_priced_run_has_request_costs_and_run_totals(tmp_path):
    pricing = {"input_per_1m": 3.0, "cached_input_per_1m": 0.3, "output_per_1m": 15.0}
    with EmulatorThread("openai", ttft_ms=0, itl_ms=0, output_tokens=20, cached_tokens=4, rate_500=0.3, seed=3) as emu:
        result = parse_spec(_spec(emu.url, tmp_path, pricing)).runner().run_sync()
    ok = [r for r in result.responses if r.ok]
    failed = [r for r in result.responses if not r.ok]
    assert ok and failed  # some 500s: they cost nothing (no tokens)
    each = 6 * 3.0 / 1e6 + 4 * 0.3 / 1e6 + 20 * 15.0 / 1e6
    assert all(r.annotations["cost"] == pytest.approx(each) for r in ok)
    assert all("cost" not in r.annotations for r in failed)
    stats = result.stats
    assert stats["cost_total"] == pytest.approx(each * len(ok))
    assert stats["cost_per_1k_requests"] == pytest.approx(each * 1000)
    assert stats["cost_per_1m_output_tokens"] == pytest.approx(each * len(ok) * 1e6 / (20 * len(ok)))
    assert stats["cost_currency"] == "USD" and stats["cost_instance"] == 0.0
    loaded = Result.load(result.output_path)
    assert loaded.stats["cost_total"] == pytest.approx(stats["cost_total"])
    assert loaded.responses[0].annotations.get("cost") is not None or not loaded.responses[0].ok
    config = (tmp_path / "priced" / "run_config.json").read_text()
    assert '"cost.CostModel"' in config or "CostModel" in config


def test_instance_pricing_charges_the_run_time(tmp_path):
    with EmulatorThread("openai", ttft_ms=20, itl_ms=0, output_tokens=2) as emu:
        result = parse_spec(_spec(emu.url, tmp_path, {"instance_per_hour": 36.0, "instances": 2})).runner().run_sync()
    stats = result.stats
    assert stats["cost_instance"] == pytest.approx(36.0 * 2 * result.total_test_time / 3600)
    assert stats["cost_total"] == stats["cost_instance"] > 0
    assert all("cost" not in r.annotations for r in result.responses)  # no token prices


async def test_counts_missing_from_usage_are_counted_with_the_runs_tokenizer():
    from llmeter_core.response import InvocationResponse
    from llmeter_core.tokenizers import WhitespaceTokenizer

    class FakeRunner:
        tokenizer = WhitespaceTokenizer()

    model = CostModel({"input_per_1m": 1e6, "output_per_1m": 2e6})  # 1 per input token, 2 per output token
    await model.before_run(FakeRunner())
    response = InvocationResponse(response_text="a b c", input_prompt="x y")
    await model.after_invoke(response)
    assert response.annotations["cost"] == pytest.approx(2 + 6)


def test_sweep_summary_rows_and_table_carry_the_cost_columns():
    from flows.summary import summary_frame, summary_row, table_records

    stats = {"total_requests": 10, "cost_total": 0.5, "cost_per_1m_output_tokens": 12.5, "cost_currency": "USD"}
    frame = summary_frame([summary_row({"endpoint": "a", "clients": 1, "stats": stats})])
    assert frame.loc[0, "cost_total"] == 0.5
    record = table_records(frame)[0]
    assert record["cost_total"] == 0.5 and record["cost_per_1m_output_tokens"] == 12.5
