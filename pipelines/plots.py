"""Every picture cmkt draws, as PNG: training curves and spectrograms of noisy, enhanced and clean speech.

One module so the figures share one look and one matplotlib set-up (the Agg backend: no
display needed); matplotlib is imported only when a picture is drawn.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.atomic import replaced_atomically
from pipelines.metrics import METRIC_LABELS

N_FFT, HOP = 512, 128
DYNAMIC_RANGE_DB = 80.0
TITLE_METRICS = ("dnsmos_ovrl", "pesq_wb", "si_sdr")  # what a panel's title shows, when known


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(csv_path: Path, png_path: Path, losses: list[str]) -> None:
    """Losses (log scale) and validation PESQ / ESTOI / SI-SDR against steps, from a training run's metrics.csv."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    plt = _pyplot()

    def series(name):
        points = [(int(r["step"]), float(r[name])) for r in rows if r.get(name) not in ("", None)]
        return [p[0] for p in points], [p[1] for p in points]

    figure, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    for name in losses:
        steps, values = series(name)
        if steps:
            axes[0].plot(steps, values, label=name)
    axes[0].set_yscale("log")
    axes[0].set_title("training loss")
    if axes[0].lines:
        axes[0].legend()
    for axis, name, title in ((axes[1], "val_pesq", "validation PESQ-WB"), (axes[2], "val_estoi", "validation ESTOI"),
                              (axes[3], "val_si_sdr", "validation SI-SDR (dB)")):
        steps, values = series(name)
        axis.plot(steps, values, marker="o")
        axis.set_title(title)
    for axis in axes:
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    _save(plt, figure, png_path, dpi=110)


@dataclass
class Panel:
    """One signal of a spectrogram picture: its label (noisy, a system, clean), samples and scores."""

    label: str
    samples: np.ndarray
    rate: int
    scores: dict[str, float] = field(default_factory=dict)


def score_text(scores: dict[str, float]) -> str:
    """'DNSMOS-OVRL 2.91 · PESQ-WB 1.34' from whichever title metrics are known."""
    return " · ".join(f"{METRIC_LABELS[m]} {scores[m]:.2f}" for m in TITLE_METRICS if m in scores)


def power_db(samples: np.ndarray) -> np.ndarray:
    """|STFT|² in dB (bins x frames; Hann window of 512 samples, hop 128)."""
    padded = np.pad(np.asarray(samples, dtype=np.float64), (N_FFT // 2, N_FFT // 2))
    if len(padded) < N_FFT:
        padded = np.pad(padded, (0, N_FFT - len(padded)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP] * np.hanning(N_FFT)
    return 10.0 * np.log10(np.abs(np.fft.rfft(frames, axis=1)).T ** 2 + 1e-12)


def plot_spectrograms(panels: list[Panel], title: str, png_path: Path) -> None:
    """The panels stacked on one colour scale (dB, the loudest bin of all at the top, 80 dB of range), so that what
    enhancement removed shows as a change of colour rather than being hidden by a per-panel rescaling."""
    plt = _pyplot()
    powers = [power_db(panel.samples) for panel in panels]
    top = max(float(p.max()) for p in powers)
    figure, axes = plt.subplots(len(panels), 1, figsize=(7, 1.6 * len(panels) + 0.5), sharex=True, squeeze=False,
                                layout="constrained")
    for axis, panel, power in zip(axes[:, 0], panels, powers):
        image = axis.imshow(power, origin="lower", aspect="auto", cmap="magma", vmin=top - DYNAMIC_RANGE_DB,
                            vmax=top, extent=(0, len(panel.samples) / panel.rate, 0, panel.rate / 2000))
        scores = score_text(panel.scores)
        axis.set_title(f"{panel.label}" + (f"   {scores}" if scores else ""), fontsize=9, loc="left")
        axis.set_ylabel("kHz")
    axes[-1, 0].set_xlabel("seconds")
    figure.suptitle(title, fontsize=10)
    figure.colorbar(image, ax=axes[:, 0].tolist(), label="dB", pad=0.01)
    _save(plt, figure, png_path, dpi=80)


def plot_layer_distances(layers: list[tuple[int, float, float, float]], title: str, png_path: Path) -> Path:
    """A bar per layer (layer, mean, low, high): the CN distance of `cmkt ssl-layers` with its interval."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(1.2 + 0.5 * len(layers), 3.2))
    axis.bar([str(layer) for layer, *_ in layers], [mean for _, mean, _, _ in layers], capsize=3, color="C0",
             yerr=[[mean - low for _, mean, low, _ in layers], [high - mean for _, mean, _, high in layers]])
    axis.set_xlabel("layer (0: input to the first block)")
    axis.set_ylabel("CN distance")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    _save(plt, figure, png_path, dpi=110)
    return png_path


def _save(plt, figure, png_path: Path, dpi: int) -> None:
    """As every file cmkt writes: whole or not at all, never through a link (pipelines/atomic.py)."""
    try:
        with replaced_atomically(png_path) as temporary:
            figure.savefig(temporary, dpi=dpi, format="png")
    finally:
        plt.close(figure)
