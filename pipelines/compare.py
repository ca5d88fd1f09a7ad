"""One file's signals side by side (noisy, enhanced by one or more systems, clean): their scores and their picture.

What `cmkt enhance --plot` draws beside an output and `cmkt report` shows in each row, made
in one place so both say the same thing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.audio_io import SAMPLE_RATE
from pipelines.plots import Panel, plot_spectrograms
from pipelines.scoring import measure_signals


def compare(uid: str, signals: dict[str, np.ndarray], clean: np.ndarray | None, png: Path,
            title: str | None = None) -> dict[str, dict]:
    """Score every signal (16 kHz; DNSMOS, and the intrusive metrics when `clean` is known), draw them with the clean
    speech last on one colour scale into `png`, and return the scores (signal -> metric -> value)."""
    scores = measure_signals(uid, signals, clean)
    shown = {**signals, **({"clean": clean} if clean is not None else {})}
    plot_spectrograms([Panel(name, samples, SAMPLE_RATE, scores.get(name, {})) for name, samples in shown.items()],
                      title or uid, png)
    return scores
