"""bench/stats.py: t-intervals against textbook values, and paired differences."""

from __future__ import annotations

import numpy as np
import pytest

from bench.stats import mean_interval, paired_difference


def test_interval_of_one_to_five_uses_t_with_four_degrees_of_freedom():
    # sd = sqrt(2.5), t(0.975, 4) = 2.776445 (statistics tables)
    interval = mean_interval([1, 2, 3, 4, 5])
    assert interval.mean == 3.0 and interval.n == 5
    assert interval.half_width == pytest.approx(2.776445 * np.sqrt(2.5) / np.sqrt(5), rel=1e-6)
    assert interval.low == pytest.approx(3.0 - interval.half_width)


def test_interval_approaches_the_normal_one_for_many_values():
    values = np.random.default_rng(0).standard_normal(100_000)
    interval = mean_interval(values, level=0.95)
    assert interval.half_width == pytest.approx(1.959964 * np.std(values, ddof=1) / np.sqrt(len(values)), rel=1e-4)


def test_a_single_value_has_a_mean_but_no_interval():
    interval = mean_interval([0.7])
    assert (interval.mean, interval.low, interval.high, interval.n) == (0.7, None, None, 1)
    with pytest.raises(ValueError):
        mean_interval([])


def test_paired_difference_removes_the_spread_between_files():
    files = np.array([1.0, 2.0, 3.0, 4.0])  # very different files
    better = files + np.array([0.1, 0.12, 0.09, 0.11])  # a small, steady gain on each
    paired = paired_difference(better, files)
    assert paired.difference.mean == pytest.approx(0.105)
    assert paired.difference.low > 0  # clear when paired, although the unpaired intervals overlap widely
    assert mean_interval(better).low < mean_interval(files).high
    assert (paired.wins, paired.losses, paired.ties) == (4, 0, 0)
    assert paired_difference(files, better).to_dict()["losses"] == 4


def test_a_system_against_itself_differs_by_exactly_zero():
    scores = [1.3, 2.1, 1.7]
    paired = paired_difference(scores, scores).to_dict()
    assert paired["difference"] == {"mean": 0.0, "low": 0.0, "high": 0.0, "n": 3}
    assert (paired["wins"], paired["losses"], paired["ties"]) == (0, 0, 3)


def test_unpaired_lists_are_refused():
    with pytest.raises(ValueError, match="same files"):
        paired_difference([1.0, 2.0], [1.0])
