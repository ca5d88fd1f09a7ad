"""The training log: one CSV row per logged step, TensorBoard events, and a PNG of the curves (pipelines/plots.py)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from pipelines.atomic import check_target, write_csv
from pipelines.plots import plot_curves

LOSSES = ["loss", "loss_denoiser", "loss_score", "loss_align", "loss_ot", "loss_kd"]  # align, ot: with --transfer
COLUMNS = ["step", "epoch", "seconds", *LOSSES, "val_pesq", "val_estoi", "val_si_sdr", "lr"]


class TrainingLog:
    def __init__(self, folder: Path, resume: bool):
        self.csv_path = folder / "metrics.csv"
        self.png_path = folder / "curves.png"
        if not resume or not self.csv_path.exists():
            write_csv(self.csv_path, COLUMNS, [])
        else:
            self._upgrade_columns()
        self.tensorboard = SummaryWriter(log_dir=str(check_target(folder / "tensorboard")))

    def _upgrade_columns(self) -> None:
        """A run resumed from a version that logged other columns: rewrite its rows under today's header (atomically,
        so the log of the finished steps survives a crash here)."""
        with open(self.csv_path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames == COLUMNS:
                return
            rows = list(reader)
        write_csv(self.csv_path, COLUMNS, rows)

    def write(self, **values: float) -> None:
        with open(check_target(self.csv_path), "a", newline="") as f:
            csv.writer(f, lineterminator="\n").writerow([_cell(values.get(c)) for c in COLUMNS])
        step = int(values["step"])
        for name, value in values.items():
            if name not in ("step", "epoch") and value is not None:
                self.tensorboard.add_scalar(name.replace("_", "/", 1) if name.startswith("val_") else name,
                                            value, step)
        self.tensorboard.flush()

    def close(self) -> None:
        self.tensorboard.close()
        plot_curves(self.csv_path, self.png_path, LOSSES)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)
