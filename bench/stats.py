"""Means with t-intervals, and paired differences of two systems scored on the same files.

Benchmarks here score a few dozen files: a 95 % t-interval says how far a mean could move on
other files of the same kind. Two systems' intervals often overlap only because the files
differ from each other (a 0 dB mixture is hard for everyone); the paired difference (A - B,
file by file) removes that shared spread, so it says whether A beats B on these files, and
on how many. Every metric here is higher-is-better. The t quantile comes from scipy, which
is installed with pystoi (a cmkt dependency).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy.stats import t as student_t


@dataclass(frozen=True)
class Interval:
    """A mean and its two-sided t-interval; low and high are None below two values (no spread to estimate)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    @property
    def half_width(self) -> float | None:
        return None if self.high is None else self.high - self.mean

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PairedDifference:
    """A - B over the same files: the mean difference with its interval, and on how many files A is higher
    (wins), lower (losses) or equal (ties)."""

    difference: Interval
    wins: int
    losses: int
    ties: int

    def to_dict(self) -> dict:
        return {"difference": self.difference.to_dict(), "wins": self.wins, "losses": self.losses, "ties": self.ties}


def mean_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """The mean of `values` with its `level` t-interval (mean ± t * sd / sqrt(n), sd with n - 1)."""
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or len(data) == 0:
        raise ValueError(f"need a non-empty list of values, got shape {data.shape}")
    mean = float(np.mean(data))
    if len(data) < 2:
        return Interval(mean, None, None, 1)
    half = float(student_t.ppf(0.5 + level / 2, len(data) - 1) * np.std(data, ddof=1) / np.sqrt(len(data)))
    return Interval(mean, mean - half, mean + half, len(data))


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> PairedDifference:
    """System A's scores minus system B's, file by file (both lists in the same file order)."""
    first, second = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if first.shape != second.shape:
        raise ValueError(f"paired scores need the same files: {first.shape} vs {second.shape}")
    difference = first - second
    return PairedDifference(mean_interval(difference, level), int(np.sum(difference > 0)),
                            int(np.sum(difference < 0)), int(np.sum(difference == 0)))
