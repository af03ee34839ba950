"""``llmeter-flows emulator openai|bedrock|sagemaker|anthropic|all``: serve an emulator until SIGINT/SIGTERM.

Prints exactly ``listening on http://HOST:PORT`` (flushed) once the port is bound, so a
parent process can start it with ``--port 0`` and read the URL from its first line.
Latency settings take a number of milliseconds (tokens for ``--output-tokens``) or a JSON
distribution, e.g. ``--ttft-ms '{"dist": "normal", "mean": 100, "std": 10}'``.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any, Optional

import typer

from llmeter_core.cli_help import HelpApp
from llmeter_core.emulator.app import start_emulator
from llmeter_core.emulator.config import EmulatorConfig, parse_dist
from llmeter_core.errors import ConfigError

__all__ = ["emulator_app", "serve"]

emulator_app = HelpApp(
    help="Local emulators of LLM APIs with a latency model and fault injection.", no_args_is_help=True
)


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


def _run(kind: str, host: str, port: int, settings: dict[str, Any]) -> None:
    """Build the config from the command's options (named as ``EmulatorConfig``'s fields)."""
    for name in ("ttft_ms", "itl_ms", "output_tokens"):
        settings[name] = parse_dist(settings[name])
    if settings.get("model") is None:
        settings["model"] = EmulatorConfig.model
    try:
        config = EmulatorConfig(**settings)
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
        omit_usage: bool = typer.Option(
            False, "--omit-usage", help="OpenAI streams report no usage (a server ignoring include_usage)."
        ),
        stream_reasoning: bool = typer.Option(
            False, "--stream-reasoning", help="OpenAI streams send the reasoning tokens as deltas before the answer."
        ),
        model: Optional[str] = typer.Option(None, help="Model name served when the request names none."),
        seed: int = typer.Option(0, help="Seed of the latency and fault draws."),
        prefix_cache: bool = typer.Option(
            False,
            "--prefix-cache",
            help="Model a prompt-prefix cache (cached tokens, shorter TTFT for a prefix seen before).",
        ),
        prefix_cache_block_tokens: int = typer.Option(16, help="Prefix cache block size, tokens."),
        prefix_cache_ttft_saving: float = typer.Option(0.8, help="Share of the TTFT a fully cached prompt saves."),
        max_concurrency: int = typer.Option(
            0, help="Capacity: requests served at once; the rest queue FIFO (0: no limit)."
        ),
        tokens_per_second: float = typer.Option(
            0.0, help="Decoding throughput shared by all streams, output tokens/s (0: no limit)."
        ),
        latency_scale: float = typer.Option(1.0, help="Multiply every TTFT and inter-token draw (1.2: 20% slower)."),
    ) -> None:
        settings = {name: value for name, value in locals().items() if name not in ("kind", "host", "port")}
        _run(kind, host, port, settings)

    command.__doc__ = help_text
    emulator_app.command(kind)(command)


_command("openai", "OpenAI API: /v1/chat/completions, /v1/responses, /v1/models.")
_command("bedrock", "Bedrock runtime: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream.")
_command("sagemaker", "SageMaker runtime: InvokeEndpoint and InvokeEndpointWithResponseStream.")
_command("anthropic", "Anthropic Messages API: /v1/messages.")
_command("all", "Every API above on one port.")


if __name__ == "__main__":  # python -m llmeter_core.emulator.cli
    emulator_app()
