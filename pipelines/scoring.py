"""What scores one signal: the intrusive metrics against a clean reference, and DNSMOS, which needs none.

`cmkt score`, `enhance --plot` and `cmkt report` all score through this, so the three agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.audio_io import SAMPLE_RATE
from pipelines.dnsmos import DNSMOS_METRICS, dnsmos
from pipelines.errors import BadInput, SkipItem
from pipelines.metrics import METRICS, intrusive_metrics

ALL_METRICS = (*METRICS, *DNSMOS_METRICS)


@dataclass(frozen=True)
class Measures:
    """Which scores to compute: the intrusive metrics need a clean reference, DNSMOS needs none."""

    intrusive: bool = True
    dnsmos: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return (METRICS if self.intrusive else ()) + (DNSMOS_METRICS if self.dnsmos else ())


def measure(label: str, estimate: np.ndarray, clean: np.ndarray | None, measures: Measures,
            trim: bool = False) -> dict[str, float]:
    """The chosen scores of one 16 kHz estimate; `SkipItem` when it cannot be scored (silence)."""
    scores = {}
    if measures.intrusive:
        if clean is None:
            raise BadInput(f"{label}: no clean reference with this name")
        scores.update(intrusive_metrics(*_aligned(label, clean, estimate, trim), SAMPLE_RATE))
    if measures.dnsmos:
        scores.update(dnsmos(estimate))
    return scores


def measure_signals(label: str, signals: dict[str, np.ndarray], clean: np.ndarray | None) -> dict[str, dict]:
    """DNSMOS of each signal (16 kHz), and its intrusive metrics against `clean` when there is one; a signal that
    cannot be scored (silence) gets no scores rather than stopping the others."""
    scored = {}
    for name, samples in signals.items():
        try:
            scored[name] = measure(f"{label} ({name})", samples, clean, Measures(clean is not None, True), trim=True)
        except SkipItem:
            scored[name] = {}
    if clean is not None:
        scored["clean"] = measure(f"{label} (clean)", clean, None, Measures(False, True)) if np.any(clean) else {}
    return scored


def _aligned(label: str, clean: np.ndarray, other: np.ndarray, trim: bool) -> tuple[np.ndarray, np.ndarray]:
    if len(clean) != len(other):
        if not trim:
            raise BadInput(f"{label}: clean and estimate lengths differ ({len(clean)} vs {len(other)} samples at "
                           f"{SAMPLE_RATE} Hz); pass --trim to score the common part")
        n = min(len(clean), len(other))
        clean, other = clean[:n], other[:n]
    return clean, other
