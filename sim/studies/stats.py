"""Mean and Student's t confidence interval of a metric over replicate runs (seeds).

For n finite values x with mean m and sample standard deviation s (divisor n - 1), the
two-sided interval at confidence c is m ± t(1 - (1 - c)/2, n - 1) · s / sqrt(n), where t is the
quantile of Student's t distribution with n - 1 degrees of freedom (exact for normal
replicates, a good approximation for means of a few seeds). Non-finite values (a metric a run
left undefined, e.g. a latency percentile with no completed job) are left out. With n = 1 the
standard deviation and the interval are NaN (no spread can be estimated from one run); with
n = 0 the mean is NaN too.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MeanCI:
    """The mean of ``n`` values, their sample standard deviation and the interval [low, high]."""

    n: int
    mean: float
    std: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        """Half the interval's width (NaN when n < 2)."""
        return (self.high - self.low) / 2.0


def t_quantile(p: float, df: int) -> float:
    """Quantile ``p`` of Student's t with ``df`` degrees of freedom: ``scipy.stats.t.ppf(p, df)``.

    scipy.special.stdtrit is the function scipy.stats.t.ppf evaluates, without importing
    scipy.stats (a second or more).
    """
    from scipy.special import stdtrit

    return float(stdtrit(df, p))


def mean_ci(values: Iterable[float | None], confidence: float = 0.95) -> MeanCI:
    """Mean and two-sided Student's t interval of the finite ``values`` (None counts as missing)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence = {confidence!r}: allowed: a number between 0 and 1 (exclusive)")
    x = np.array([np.nan if v is None else v for v in values], dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    nan = math.nan
    if n == 0:
        return MeanCI(0, nan, nan, nan, nan)
    mean = float(np.mean(x))
    if n == 1:
        return MeanCI(1, mean, nan, nan, nan)
    std = float(np.std(x, ddof=1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    return MeanCI(n, mean, std, mean - half, mean + half)
