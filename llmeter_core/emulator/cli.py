"""``llmeter-flows emulator openai|bedrock|sagemaker``: serve an emulator until SIGINT/SIGTERM.

Prints exactly ``listening on http://HOST:PORT`` (flushed) once the port is bound, so a
parent process can start it with ``--port 0`` and read the URL from its first line.
Latency settings take a number of milliseconds (tokens for ``--output-tokens``) or a JSON
distribution, e.g. ``--ttft-ms '{"dist": "normal", "mean": 100, "std": 10}'``.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any, Optional, cast

import typer

from llmeter_core.emulator.app import start_emulator
from llmeter_core.emulator.config import EmulatorConfig, parse_dist
from llmeter_core.errors import ConfigError

__all__ = ["emulator_app", "serve"]

emulator_app = typer.Typer(help="Local emulators of LLM APIs with a latency model and fault injection.",
                           no_args_is_help=True)


async def serve(kind: str, config: EmulatorConfig, host: str, port: int) -> None:
    """Run an emulator until SIGINT or SIGTERM, announcing its URL on stdout."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    emulator = await start_emulator(kind, config, host, port)
    print(f"listening on {emulator.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def _run(kind: str, host: str, port: int, ttft_ms: str, itl_ms: str, output_tokens: str, rate_429: float,
         rate_500: float, rate_disconnect: float, rate_slow_first_byte: float, slow_first_byte_ms: float,
         retry_after_s: float, disconnect_mode: str, cached_tokens: int, cache_write_tokens: int,
         reasoning_tokens: int, model: Optional[str], seed: int) -> None:
    try:
        config = EmulatorConfig(
            ttft_ms=parse_dist(ttft_ms), itl_ms=parse_dist(itl_ms), output_tokens=parse_dist(output_tokens),
            rate_429=rate_429, rate_500=rate_500, rate_disconnect=rate_disconnect,
            rate_slow_first_byte=rate_slow_first_byte, slow_first_byte_ms=slow_first_byte_ms,
            retry_after_s=retry_after_s, disconnect_mode=cast(Any, disconnect_mode),  # checked by EmulatorConfig
            cached_tokens=cached_tokens,
            cache_write_tokens=cache_write_tokens, reasoning_tokens=reasoning_tokens,
            model=model or EmulatorConfig.model, seed=seed)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        asyncio.run(serve(kind, config, host, port))
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc}", err=True)
        raise typer.Exit(1) from None


def _command(kind: str, help_text: str) -> None:
    def command(
        host: str = typer.Option("127.0.0.1", help="Address to bind."),
        port: int = typer.Option(0, help="Port to bind; 0 picks a free one."),
        ttft_ms: str = typer.Option("100", help="Time to first token, ms: a number or a JSON distribution."),
        itl_ms: str = typer.Option("10", help="Time between tokens, ms: a number or a JSON distribution."),
        output_tokens: str = typer.Option("20", help="Tokens per response: a number or a JSON distribution."),
        rate_429: float = typer.Option(0.0, "--rate-429", help="Share of requests answered 429 (throttled)."),
        rate_500: float = typer.Option(0.0, "--rate-500", help="Share of requests answered 500."),
        rate_disconnect: float = typer.Option(0.0, help="Share of requests cut mid-stream."),
        rate_slow_first_byte: float = typer.Option(0.0, help="Share of requests delayed before the first byte."),
        slow_first_byte_ms: float = typer.Option(1000.0, help="Extra delay of a slow first byte, ms."),
        retry_after_s: float = typer.Option(1.0, help="Retry-After sent with 429s, seconds."),
        disconnect_mode: str = typer.Option("auto", help="auto | drop | error: what a mid-stream cut sends."),
        cached_tokens: int = typer.Option(0, help="Cached prompt tokens reported in usage."),
        cache_write_tokens: int = typer.Option(0, help="Prompt tokens reported as written to the cache."),
        reasoning_tokens: int = typer.Option(0, help="Reasoning tokens reported in usage."),
        model: Optional[str] = typer.Option(None, help="Model name served when the request names none."),
        seed: int = typer.Option(0, help="Seed of the latency and fault draws."),
    ) -> None:
        _run(kind, host, port, ttft_ms, itl_ms, output_tokens, rate_429, rate_500, rate_disconnect,
             rate_slow_first_byte, slow_first_byte_ms, retry_after_s, disconnect_mode, cached_tokens,
             cache_write_tokens, reasoning_tokens, model, seed)

    command.__doc__ = help_text
    emulator_app.command(kind)(command)


_command("openai", "OpenAI API: /v1/chat/completions, /v1/responses, /v1/models.")
_command("bedrock", "Bedrock runtime: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream.")
_command("sagemaker", "SageMaker runtime: InvokeEndpoint and InvokeEndpointWithResponseStream.")
_command("all", "Every API above on one port.")


if __name__ == "__main__":  # python -m llmeter_core.emulator.cli
    emulator_app()
