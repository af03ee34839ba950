"""App wiring: the background-thread emulator, stats and reset routes, kinds."""

from __future__ import annotations

import httpx
import openai
import pytest

from llmeter_core.emulator import EmulatorConfig, EmulatorThread, build_app


def test_emulator_thread_serves_sync_clients_and_reports_stats():
    with EmulatorThread("openai", EmulatorConfig(ttft_ms=0, itl_ms=0, output_tokens=3)) as emu:
        assert emu.url.startswith("http://127.0.0.1:") and emu.port > 0
        client = openai.OpenAI(base_url=emu.url + "/v1", api_key="x", max_retries=0)
        reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "tok0 tok1 tok2"
        stats = emu.stats()
        assert stats["requests_by_api"] == {"openai.chat": 1} and stats["completed"] == 1
        assert stats["config"]["output_tokens"] == 3
        assert emu.request_truth(reply.id)["output_tokens"] == 3
        assert httpx.get(emu.url + "/emulator/stats").json()["requests"] == 1
        emu.reset()
        assert emu.stats()["requests"] == 0
        url = emu.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/emulator/stats")


def test_emulator_thread_accepts_overrides_and_reports_bind_errors():
    with EmulatorThread("openai", ttft_ms=0, output_tokens=2) as first:
        assert first.config.output_tokens == 2
        with pytest.raises(OSError):
            EmulatorThread("openai", port=first.port).start()


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown emulator kind"):
        build_app("grpc")


def test_openai_kind_has_only_openai_routes():
    paths = {resource.canonical for resource in build_app("openai").router.resources()}
    assert "/v1/chat/completions" in paths and "/emulator/stats" in paths
    assert not any(path.startswith("/model/") for path in paths)
