"""Compare two run folders, or two sweep folders run by run: what ``llmeter-flows compare`` does.

Two sweep (or night) folders are matched run by run on endpoint label and load point
(clients, or rate). A load point the baseline has and the candidate lacks is ``missing``,
and counts as a failure: a CI gate must not pass because a run vanished. One only the
candidate has is ``new`` (reported, nothing to compare).

Runs whose ``config_hash`` differs measured different things; they are refused with a
``ConfigError`` naming what differs, unless ``force`` (then each comparison lists its
differences).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from .compare import CompareSettings, Comparison, compare_samples
from .errors import ConfigError
from .fingerprint import differences
from .samples import RunSamples, find_runs

__all__ = ["CompareReport", "compare_folders", "check_comparable", "headline"]


@dataclass
class CompareReport:
    """Every comparison of a baseline and a candidate (two runs, or two sweeps)."""

    baseline: str
    candidate: str
    comparisons: list[Comparison]
    settings: CompareSettings
    missing: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    forced: bool = False

    @property
    def verdict(self) -> str:
        verdicts = {c.verdict for c in self.comparisons}
        if "regressed" in verdicts or self.missing:
            return "regressed"
        return "improved" if "improved" in verdicts else "unchanged"

    @property
    def exit_code(self) -> int:
        """What a CI gate wants: 1 when anything regressed (or a run is missing), else 0."""
        return 1 if self.verdict == "regressed" else 0

    def headline(self) -> str:
        """One line: ``2 regressions: model-a TTFT p90 +23% (CI +18..+28%) at 8 clients; ...``."""
        return headline(self.comparisons, [f"{m} did not run" for m in self.missing])

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "headline": self.headline(),
            "baseline": self.baseline,
            "candidate": self.candidate,
            "confidence": self.settings.confidence,
            "thresholds": {
                "default": self.settings.thresholds.get("default", self.settings.default_threshold),
                "failed_requests_rate": self.settings.error_rate_threshold,
                **self.settings.thresholds,
            },
            "seed": self.settings.seed,
            "forced": self.forced,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "missing": self.missing,
            "new": self.new,
        }


#: Findings of one comparison named in a headline (the tables list them all).
_SHOWN = 3


def headline(comparisons: list[Comparison], failures: Sequence[str] = ()) -> str:
    """``2 regressions: model-a TTFT p90 +23% (CI +18..+28%) at 8 clients; ...`` (several
    findings of one comparison are grouped: ``model-a at 8 clients: TTFT p90 ..., TTLT p90 ...``)."""
    parts: list[str] = []
    count = 0
    for c in comparisons:
        findings = c.findings()
        count += len(findings)
        if len(findings) == 1:
            parts.append(f"{c.endpoint} {findings[0]} at {c.point}")
        elif findings:
            shown = findings[:_SHOWN]
            more = f" and {len(findings) - _SHOWN} more" if len(findings) > _SHOWN else ""
            parts.append(f"{c.endpoint} at {c.point}: " + ", ".join(shown) + more)
    parts += list(failures)
    count += len(failures)
    if count:
        return f"{count} {'regression' if count == 1 else 'regressions'}: " + "; ".join(parts)
    improved = sum(c.verdict == "improved" for c in comparisons)
    return f"no regressions: {len(comparisons)} compared" + (f", {improved} improved" if improved else "")


def check_comparable(baseline: list[RunSamples], candidate: RunSamples, force: bool) -> list[dict[str, Any]]:
    """The settings that differ between the candidate and any baseline run.

    Raises ConfigError when some differ (or cannot be checked: no run_config.json) and
    ``force`` is not set.
    """
    diffs: list[dict[str, Any]] = []
    for run in baseline:
        if run.config_hash is None or candidate.config_hash is None:
            missing = run.url if run.config_hash is None else candidate.url
            diffs.append({"field": "run_config.json", "baseline": run.url, "candidate": f"missing in {missing}"})
        elif run.config_hash != candidate.config_hash:
            diffs.extend(d for d in differences(run.fingerprint, candidate.fingerprint) if d not in diffs)
    if diffs and not force:
        fields = ", ".join(d["field"] for d in diffs[:6]) + (", ..." if len(diffs) > 6 else "")
        raise ConfigError(
            "config_hash",
            f"{candidate.describe()}: the runs measured different things ({fields} differ); "
            "--force compares them anyway",
        )
    return diffs


def _load(urls: list[str]) -> list[RunSamples]:
    return [RunSamples.load(url) for url in urls]


def compare_folders(
    baseline: str, candidate: str, settings: CompareSettings | None = None, force: bool = False
) -> CompareReport:
    """Compare two run folders, or two sweep folders run by run (local or any fsspec URL).

    Raises ConfigError for bad input: a missing folder, a run folder against a sweep
    folder, sweeps with no load point in common, or differing settings without ``force``.
    """
    settings = settings or CompareSettings()
    base_kind, base_urls = find_runs(baseline)
    cand_kind, cand_urls = find_runs(candidate)
    if base_kind != cand_kind:
        raise ConfigError(
            "candidate",
            f"{baseline} is a {base_kind} folder and {candidate} a {cand_kind} folder; "
            "compare two run folders or two sweep folders",
        )
    base_runs, cand_runs = _load(base_urls), _load(cand_urls)
    if base_kind == "run":
        pairs = [(base_runs[0], cand_runs[0])]
        missing: list[str] = []
        new: list[str] = []
    else:
        by_key = {r.key: r for r in base_runs}
        cand_keys = {r.key for r in cand_runs}
        pairs = [(by_key[r.key], r) for r in cand_runs if r.key in by_key]
        missing = [r.describe() for r in base_runs if r.key not in cand_keys]
        new = [r.describe() for r in cand_runs if r.key not in by_key]
        if not pairs:
            raise ConfigError("candidate", f"{baseline} and {candidate} have no endpoint and load point in common")
    comparisons = []
    for base, cand in pairs:
        diffs = check_comparable([base], cand, force)
        comparisons.append(compare_samples([base], cand, settings, differences=diffs))
    return CompareReport(baseline, candidate, comparisons, settings, missing=missing, new=new, forced=force)
