"""The training log: one CSV row per logged step, TensorBoard events, and a PNG of the curves."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

LOSSES = ["loss", "loss_denoiser", "loss_score", "loss_align", "loss_ot"]  # the last two only with --fusion
COLUMNS = ["step", "epoch", "seconds", *LOSSES, "val_pesq", "val_si_sdr", "lr"]


class TrainingLog:
    def __init__(self, folder: Path, resume: bool):
        self.csv_path = folder / "metrics.csv"
        self.png_path = folder / "curves.png"
        if not resume or not self.csv_path.exists():
            with open(self.csv_path, "w", newline="") as f:
                csv.writer(f).writerow(COLUMNS)
        self.tensorboard = SummaryWriter(log_dir=str(folder / "tensorboard"))

    def write(self, **values: float) -> None:
        with open(self.csv_path, "a", newline="") as f:
            csv.writer(f).writerow([_cell(values.get(c)) for c in COLUMNS])
        step = int(values["step"])
        for name, value in values.items():
            if name not in ("step", "epoch") and value is not None:
                self.tensorboard.add_scalar(name.replace("_", "/", 1) if name.startswith("val_") else name,
                                            value, step)
        self.tensorboard.flush()

    def close(self) -> None:
        self.tensorboard.close()
        plot_curves(self.csv_path, self.png_path)


def plot_curves(csv_path: Path, png_path: Path) -> None:
    """Losses (log scale) and validation PESQ / SI-SDR against steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return

    def series(name):
        points = [(int(r["step"]), float(r[name])) for r in rows if r.get(name) not in ("", None)]
        return [p[0] for p in points], [p[1] for p in points]

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name in LOSSES:
        steps, values = series(name)
        if steps:
            axes[0].plot(steps, values, label=name)
    axes[0].set_yscale("log")
    axes[0].set_title("training loss")
    if axes[0].lines:
        axes[0].legend()
    for axis, name, title in ((axes[1], "val_pesq", "validation PESQ-WB"), (axes[2], "val_si_sdr", "validation SI-SDR (dB)")):
        steps, values = series(name)
        axis.plot(steps, values, marker="o")
        axis.set_title(title)
    for axis in axes:
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(png_path, dpi=110)
    plt.close(figure)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)
