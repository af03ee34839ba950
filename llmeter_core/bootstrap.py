"""Bootstrap replicates of run statistics, vectorised with numpy (no resample is materialised
where it can be avoided).

A comparison asks: how much could a statistic move if the same run were repeated? The
bootstrap answers by recomputing it on resamples of the run's own requests. Each function
here returns ``reps`` replicates of one statistic of one run; ``compare`` turns the
replicates of two runs into a confidence interval of the change.

- **Percentiles** (``percentile_replicates``): the percentile of a resample of ``n`` values
  drawn with replacement, computed with numpy's ``linear`` method (rank ``h = q·(n-1)``,
  interpolated between order statistics ``k = floor(h)`` and ``k+1``) exactly as
  ``stats.json`` does. Drawing resamples would cost ``reps × n``; instead the two order
  statistics are drawn directly. A resample is ``x[floor(U·n)]`` for uniform ``U``, a
  monotone map, so its ``j``-th smallest value is ``x[floor(U_(j)·n)]`` where ``U_(j)`` is
  the ``j``-th smallest of ``n`` uniforms: ``U_(k+1) ~ Beta(k+1, n-k)``, and the next one is
  ``U_(k+1) + (1 - U_(k+1))·Beta(1, n-k-1)``. Same distribution as the resampling
  bootstrap, ``O(reps)`` whatever ``n`` (a test checks it against brute force).
- **Rates** (``ratio_replicates``): requests/min and output tokens/s are run-level ratios;
  their replicates resample requests (send gap to the previous request, output tokens)
  jointly, in chunks so memory stays bounded.
- **Proportions** (``proportion_replicates``): the error rate, as binomial draws.
- **Several baseline runs** (``median_over_runs``): the median of N nights, resampling the
  nights too, so night-to-night variation widens the interval as it should.
"""

from __future__ import annotations

import numpy as np

__all__ = ["percentile_replicates", "ratio_replicates", "proportion_replicates", "median_over_runs", "interval"]

#: Elements drawn per chunk by the resampling bootstrap (~32 MB of int64 indices).
_CHUNK_ELEMENTS = 4_000_000


def percentile_replicates(sorted_values: np.ndarray, q: float, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps`` bootstrap replicates of ``np.percentile(resample, q)`` (``sorted_values`` ascending)."""
    x = np.asarray(sorted_values, dtype=float)
    n = x.size
    if n == 0:
        return np.full(reps, np.nan)
    if n == 1:
        return np.full(reps, x[0])
    h = q / 100.0 * (n - 1)
    k = int(np.floor(h))
    frac = h - k
    low_u = rng.beta(k + 1, n - k, size=reps)
    low = x[np.minimum((low_u * n).astype(np.int64), n - 1)]
    if frac == 0.0 or k + 1 >= n:
        return low
    high_u = low_u + (1.0 - low_u) * rng.beta(1, n - k - 1, size=reps)
    high = x[np.minimum((high_u * n).astype(np.int64), n - 1)]
    return low + frac * (high - low)


def ratio_replicates(numerator: np.ndarray, denominator: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Replicates of ``sum(num[i]) / sum(den[i])`` over resampled indices ``i`` (pairs kept)."""
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    n = num.size
    if n == 0:
        return np.full(reps, np.nan)
    out = np.empty(reps)
    step = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, reps, step):
        stop = min(reps, start + step)
        index = rng.integers(0, n, size=(stop - start, n))
        totals = den[index].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start:stop] = np.where(totals > 0, num[index].sum(axis=1) / totals, np.nan)
    return out


def proportion_replicates(successes: int, total: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Replicates of an observed proportion ``successes / total`` (binomial resampling)."""
    if total <= 0:
        return np.full(reps, np.nan)
    return rng.binomial(total, successes / total, size=reps) / total


def median_over_runs(replicates: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Replicates of the median over N runs: resample the runs, take each one's replicate.

    With one run this is that run's replicates unchanged.
    """
    if len(replicates) == 1:
        return replicates[0]
    matrix = np.vstack(replicates)  # (runs, reps)
    runs, reps = matrix.shape
    pick = rng.integers(0, runs, size=(reps, runs))
    return np.median(matrix[pick, np.arange(reps)[:, None]], axis=1)


def interval(replicates: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """The two-sided percentile interval of the replicates (NaN replicates ignored)."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return None, None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)
