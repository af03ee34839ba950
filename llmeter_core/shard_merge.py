"""The exact merge of a sharded run: ``<run>/shards/<k>/`` folders into one run folder.

The parent of a sharded run (``shards.ShardedRun``) calls ``merge_shards`` once every shard has
ended, however it ended. It streams each shard's responses.jsonl, line by line, into the run's
own responses.jsonl (shard 0's responses, then shard 1's..., each shard's in the order it wrote
them; the lines are copied as written) and into one ``RunningStats`` per shard, merged with
``RunningStats.merge``; the run's stats.json is computed from that by the one formula
(``Result.compute_stats``), so it equals the stats recomputed from the merged responses.jsonl
(``Result.load`` does that and finds no difference). Memory stays at the stats' 8 bytes per
metric value: the responses are never held.

What stats.json says about the shards (besides every usual key):

- ``shards``: how many; ``shard_reports``: one entry per shard with its ``status``
  (``complete``, ``interrupted``, ``stopped``: its endpoint unreachable, ``failed``: it
  raised after saving, ``killed``: its process ended before writing stats.json, ``never
  started``: no folder), ``reason``, ``host``, ``pid``, ``start_skew_s``,
  ``ready_before_start_s``, ``total_requests``, ``client_bound`` and its reason;
- ``partial`` (true when any shard did not complete) and ``partial_reason`` naming them;
- the send window (``first_request_time`` .. ``last_request_time``, hence
  ``requests_per_minute`` and ``achieved_rate``) from the earliest first request of any
  shard to the latest last one; ``offered_rate``: the whole run's;
- the generator's verdict: ``client_bound`` true if any shard was, ``client_bound_reason``
  naming each (``shard 1: generator CPU 97% ...``); ``client_cpu_utilization-mean`` is the
  shards' mean, ``-max`` and ``event_loop_lag-p99|max`` the largest of any shard;
  ``max_in_flight``, ``max_concurrency`` and ``unsent_requests`` are sums over the shards;
- ``start_skew_s-max``: the largest start skew of any shard (each on its own clock), and
  ``first_request_spread_s``: the latest shard's first request minus the earliest's (across
  machines it also holds their clock difference);
- ``merge_seconds``: how long this merge took.

Keys that callbacks contributed to a shard's stats.json (cost...) stay in that shard's folder.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import fsspec
import orjson

from .clock import parse_time
from .response import InvocationResponse
from .results import Result
from .shards import ShardedRun, shard_url
from .stats import RunningStats
from .storage import join_url

__all__ = ["ShardReport", "merge_shards", "finish_sharded_run", "read_shard"]

_COMPLETE = "complete"


@dataclass
class ShardReport:
    """How one shard of a sharded run ended, and what it measured."""

    index: int
    status: str
    url: str
    reason: str | None = None
    total_requests: int = 0
    damaged_lines: int = 0
    host: str | None = None
    pid: int | None = None
    start_skew_s: float | None = None
    ready_before_start_s: float | None = None
    clock_offset_s: float | None = None
    client_bound: bool | None = None
    client_bound_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lines(fs: Any, path: str) -> Iterator[bytes]:
    with fs.open(path, "rb") as handle:
        yield from handle


def read_shard(
    url: str, index: int, failure: str | None, sink: Callable[[bytes], None]
) -> tuple[RunningStats, ShardReport, dict[str, Any]]:
    """Stream one shard folder's responses into ``sink`` (one line each, without its newline)
    and its stats; returns them, the shard's report and its stored stats.json (or {})."""
    fs, root = fsspec.core.url_to_fs(url)
    fs.invalidate_cache()
    stats_path, config_path, responses_path = (
        f"{root}/{n}" for n in ("stats.json", "run_config.json", "responses.jsonl")
    )
    running = RunningStats()
    report = ShardReport(index=index, status=_COMPLETE, url=url)
    if not any(fs.exists(p) for p in (stats_path, config_path, responses_path)):
        report.status = "never started"
        report.reason = failure or f"{url} holds nothing: the shard never started"
        return running, report, {}
    stored = _json(fs, stats_path) or {}
    config = _json(fs, config_path) or {}
    report.host, report.pid = stored.get("host", config.get("host")), stored.get("pid", config.get("pid"))
    if fs.exists(responses_path):
        for line in _lines(fs, responses_path):
            body = line.rstrip(b"\n")
            if not body.strip():
                continue
            try:
                response = InvocationResponse.from_dict(orjson.loads(body))
            except (ValueError, TypeError, AttributeError):  # a torn last line of a killed shard
                report.damaged_lines += 1
                continue
            running.update(response)
            sink(body)
    report.total_requests = running.total_requests
    for key in ("start_skew_s", "ready_before_start_s", "clock_offset_s", "client_bound", "client_bound_reason"):
        setattr(report, key, stored.get(key))
    if not stored:
        report.status = "killed"
        report.reason = (
            f"its process ended before it saved stats.json ({failure})"
            if failure
            else "its process ended before it saved stats.json"
        ) + f"; the {running.total_requests} responses it had written are kept"
    elif stored.get("interrupted"):
        report.status = "interrupted"
        report.reason = failure or "stopped by a signal or a cancel; its partial data is kept"
    elif stored.get("stop_reason"):
        report.status, report.reason = "stopped", str(stored["stop_reason"])
    elif failure:
        report.status, report.reason = "failed", failure
    unwritten = stored.get("responses_not_written")
    if unwritten:
        report.reason = (report.reason + "; " if report.reason else "") + (
            f"{unwritten} of its responses were never written to its responses.jsonl"
        )
    return running, report, stored


def merge_shards(run: ShardedRun, failures: dict[int, str] | None = None) -> Result:
    """Merge every shard folder of ``run`` into its (claimed) run folder and save it
    (not yet published: ``finish_sharded_run`` does both)."""
    began = time.perf_counter()
    failures = failures or {}
    folder = run.folder
    folder.open()
    merged = RunningStats()
    reports: list[ShardReport] = []
    shard_stats: list[dict[str, Any]] = []
    for index in range(run.count):
        running, report, stored = read_shard(
            shard_url(run.url, index), index, failures.get(index), folder.append_response
        )
        merged = merged.merge(running)
        reports.append(report)
        shard_stats.append(stored)
    folder.close()
    result = _result(run, merged, reports, shard_stats)
    contributed = _shard_stats(run, reports, shard_stats)
    if folder.unwritten:
        contributed["responses_not_written"] = contributed.get("responses_not_written", 0) + folder.unwritten
    contributed["merge_seconds"] = time.perf_counter() - began
    result.compute_stats(merged, contributed)
    folder.save(result.summary(), result.stats)
    return result


async def finish_sharded_run(run: ShardedRun, failures: dict[int, str] | None = None) -> Result:
    """Merge (in a thread: it reads and writes files) and publish the run folder."""
    import asyncio

    result = await asyncio.to_thread(merge_shards, run, failures)
    result.output_path = await run.folder.publish(handle_signals=False)
    return result


def _json(fs: Any, path: str) -> dict[str, Any] | None:
    if not fs.exists(path):
        return None
    try:
        with fs.open(path, "rb") as handle:
            data = orjson.loads(handle.read())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _result(run: ShardedRun, merged: RunningStats, reports: list[ShardReport], stats: list[dict[str, Any]]) -> Result:
    config = run.config
    endpoint = config.get("endpoint") or {}
    state = endpoint.get("__llmeter_state__", endpoint) if isinstance(endpoint, dict) else {}
    ends = [t for t in (parse_time(s.get("end_time")) for s in stats) if t is not None]
    start = parse_time(config.get("start_at")) or merged.first_request_time
    end = max(ends) if ends else datetime.now(timezone.utc)
    return Result(
        total_requests=merged.total_requests,
        clients=config.get("clients"),
        n_requests=config.get("n_requests"),
        run_duration=config.get("run_duration"),
        total_test_time=(end - start).total_seconds() if start else None,
        model_id=next((s["model_id"] for s in stats if s.get("model_id")), state.get("model_id")),
        output_path=run.url,
        endpoint_name=next((s["endpoint_name"] for s in stats if s.get("endpoint_name")), state.get("endpoint_name")),
        provider=next((s["provider"] for s in stats if s.get("provider")), state.get("provider")),
        run_name=run.run_name,
        run_description=config.get("run_description"),
        start_time=start,
        first_request_time=merged.first_request_time,
        last_request_time=merged.last_request_time,
        end_time=end,
        interrupted=any(r.status == "interrupted" for r in reports),
    )


def _values(stats: list[dict[str, Any]], key: str) -> list[float]:
    return [float(s[key]) for s in stats if isinstance(s.get(key), (int, float)) and not isinstance(s[key], bool)]


def _shard_stats(run: ShardedRun, reports: list[ShardReport], stats: list[dict[str, Any]]) -> dict[str, Any]:
    """The stats.json keys of a sharded run beyond ``RunningStats`` (see the module doc)."""
    out: dict[str, Any] = {"load_mode": run.config.get("load_mode"), "shards": run.count}
    if run.config.get("load_mode") == "rate":
        out["offered_rate"] = run.offered_rate
        out["max_concurrency"] = int(sum(_values(stats, "max_concurrency")))
    unsent = _values(stats, "unsent_requests")
    if unsent or run.config.get("load_mode") == "rate":
        out["unsent_requests"] = int(sum(unsent))
    out["max_in_flight"] = int(sum(_values(stats, "max_in_flight")))
    cpu = _values(stats, "client_cpu_utilization-mean")
    out["client_cpu_utilization-mean"] = sum(cpu) / len(cpu) if cpu else None
    for key in ("client_cpu_utilization-max", "event_loop_lag-p99", "event_loop_lag-max"):
        values = _values(stats, key)
        out[key] = max(values) if values else None
    bound = [r for r in reports if r.client_bound]
    out["client_bound"] = bool(bound)
    out["client_bound_reason"] = "; ".join(f"shard {r.index}: {r.client_bound_reason}" for r in bound) or None
    stopped = [(r.index, s["stop_reason"]) for r, s in zip(reports, stats, strict=True) if s.get("stop_reason")]
    if stopped:
        out["stop_reason"] = "; ".join(f"shard {k}: {why}" for k, why in stopped)
    unwritten = _values(stats, "responses_not_written")
    if unwritten:
        out["responses_not_written"] = int(sum(unwritten))
    skews = [abs(r.start_skew_s) for r in reports if r.start_skew_s is not None]
    out["start_skew_s-max"] = max(skews) if skews else None
    firsts = [t for t in (parse_time(s.get("first_request_time")) for s in stats) if t is not None]
    out["first_request_spread_s"] = (max(firsts) - min(firsts)).total_seconds() if len(firsts) > 1 else None
    out["shard_reports"] = [r.to_dict() for r in reports]
    broken = [r for r in reports if r.status != _COMPLETE]
    out["partial"] = bool(broken)
    out["partial_reason"] = "; ".join(f"shard {r.index} {r.status}: {r.reason}" for r in broken) or None
    out["shards_url"] = join_url(run.url, "shards")
    return out
