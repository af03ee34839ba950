"""How comparisons read: value formatting, the per-comparison markdown table, a report.

One home for it, so the terminal table of ``llmeter-flows compare``, its ``--markdown``
file and the nightly report artifact show the same numbers the same way: latencies in
milliseconds, rates with one decimal, the error rate in percent, changes in percent (error
rate: in points), the confidence interval beside the change.
"""

from __future__ import annotations

from typing import Any

from .compare import Comparison, MetricResult, short_name
from .compare_folders import CompareReport
from .units import display_text, unit_of

__all__ = ["format_value", "format_ci", "metric_cells", "comparison_markdown", "report_markdown", "VERDICT_MARK"]

VERDICT_MARK = {"regressed": "🔴 regressed", "improved": "🟢 improved", "unchanged": "unchanged", "n/a": "n/a"}


def format_value(metric: str, value: float | None) -> str:
    """``123.4 ms``, ``1,234.5 req/min``, ``412.0 tok/s``, ``5.00 %`` (error rate); ``-``
    when missing. The display units of ``units.py``; the unit beside the value, as each row
    of a comparison is another metric."""
    if value is None:
        return "-"
    unit = unit_of(metric)[0]
    text = display_text(metric, value, missing="-", digits=2 if unit == "%" else None)
    return f"{text} {unit}" if unit and unit != "tokens" else text


def format_ci(m: MetricResult) -> str:
    if m.ci_low is None or m.ci_high is None:
        return "-"
    if m.absolute:
        return f"{m.ci_low * 100:+.1f}..{m.ci_high * 100:+.1f} pts"
    return f"{m.ci_low * 100:+.1f}..{m.ci_high * 100:+.1f} %"


def _change(m: MetricResult) -> str:
    if m.change is None:
        return "-"
    return f"{m.change * 100:+.1f} pts" if m.absolute else f"{m.change * 100:+.1f} %"


def _threshold(m: MetricResult) -> str:
    return f"±{m.threshold * 100:g} pts" if m.absolute else f"±{m.threshold * 100:g} %"


def metric_cells(m: MetricResult) -> list[str]:
    """metric, baseline, candidate, change, CI, threshold, verdict: one table row."""
    return [
        short_name(m.metric),
        format_value(m.metric, m.baseline),
        format_value(m.metric, m.candidate),
        _change(m),
        format_ci(m),
        _threshold(m),
        m.verdict,
    ]


def _escape(text: Any) -> str:
    return str(text).replace("|", "\\|")


def comparison_markdown(c: Comparison, heading: str = "###") -> str:
    """A heading with the verdict, where both runs are, and the metric table."""
    lines = [f"{heading} {c.endpoint} at {c.point}: {VERDICT_MARK.get(c.verdict, c.verdict)}", ""]
    if len(c.baseline_urls) == 1:
        lines.append(f"- baseline: `{c.baseline_urls[0]}`")
    else:
        lines.append(
            f"- baseline: median of {len(c.baseline_urls)} runs (`{c.baseline_urls[0]}` ... `{c.baseline_urls[-1]}`)"
        )
    lines.append(f"- candidate: `{c.candidate_url}`")
    if c.new_error_types:
        kinds = ", ".join(f"`{k}` ({v})" for k, v in sorted(c.new_error_types.items()))
        lines.append(f"- **new error types** (a regression): {kinds}")
    if c.differences:
        lines.append("- compared with --force although these settings differ:")
        for d in c.differences:
            lines.append(f"  - `{d['field']}`: `{d['baseline']}` → `{d['candidate']}`")
    ci = f"{c.confidence * 100:g} % CI"
    lines += [
        "",
        f"| metric | baseline | candidate | change | {ci} | threshold | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in c.metrics:
        cells = metric_cells(m)
        if m.verdict in ("regressed", "improved"):
            cells[-1] = f"**{VERDICT_MARK[m.verdict]}**"
        lines.append("| " + " | ".join(_escape(x) for x in cells) + " |")
    return "\n".join(lines) + "\n"


def report_markdown(report: CompareReport) -> str:
    """The ``--markdown`` file: verdict first, then one table per comparison."""
    lines = [
        f"# Comparison: {report.verdict}",
        "",
        f"**{report.headline()}**",
        "",
        f"- baseline: `{report.baseline}`",
        f"- candidate: `{report.candidate}`",
        f"- verdict rule: significant at {report.settings.confidence * 100:g} % (seeded bootstrap, seed "
        f"{report.settings.seed}) and beyond the threshold; a new error type is a regression",
    ]
    if report.missing:
        lines.append(f"- **missing in the candidate** (a failure): {', '.join(report.missing)}")
    if report.new:
        lines.append(f"- only in the candidate (not compared): {', '.join(report.new)}")
    lines.append("")
    for c in report.comparisons:
        lines.append(comparison_markdown(c))
    return "\n".join(lines)
