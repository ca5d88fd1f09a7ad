"""What every seed table shares: resumable `cmkt train` runs two at a time, scores of each run's best.ckpt on the
same held-out files, and the table of rows over seeds with paired differences against a baseline row.

Used by bench/kd_seeds.py (distillation) and bench/claims.py (the method's claims). A row is a list of runs, one
per seed; its cells are the mean over seeds of each run's mean score with a 95 % t-interval over seeds; against the
baseline row, the seed-by-seed difference (seed s with seed s) with its interval, and the file-by-file difference
of the seed-averaged scores with wins (on how many files the row is higher).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.nfe_quality import METRICS, scores
from bench.peer_bench import DIGITS, LABELS, _plus_minus
from bench.stats import mean_interval, paired_difference
from pipelines.api import enhance_many, load_model
from pipelines.atomic import write_text
from pipelines.errors import WorkdirBusy
from pipelines.inference import SamplingOptions
from pipelines.stages.train import run_lock

METRIC_NAMES = METRICS + ("dnsmos_ovrl",)
GTCRN_DNS3 = "../shared/data/interop/gtcrn/model_trained_on_dns3.tar"  # GTCRN's authors' weights (MIT)


@dataclass(frozen=True)
class Run:
    """One `cmkt train` run: its workdir, folder name and options (besides --seed, --run-name, -w and --resume)."""

    workdir: Path
    name: str
    options: tuple[str, ...]
    seed: int

    @property
    def best(self) -> Path:
        return self.workdir / "train" / self.name / "best.ckpt"


def cmkt(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).with_name("cmkt")), *args, "-q"], check=True,
                   env={**os.environ, "OMP_NUM_THREADS": "2"})


def linked_copy(workdir: Path, suffix: str) -> Path:
    """WORKDIR-SUFFIX: the same prepared mixtures (manifest copied, artifacts hard-linked), a workdir of its own, so
    its text features and runs never wait for the lock of WORKDIR, which other training may hold."""
    copy = workdir.with_name(f"{workdir.name}-{suffix}")
    (copy / "artifacts").mkdir(parents=True, exist_ok=True)
    for name in ("manifest.json", "manifest.csv"):
        if not (copy / name).exists():
            shutil.copy(workdir / name, copy / name)
    for artifact in (workdir / "artifacts").glob("prepare_*.h5"):
        if not (copy / "artifacts" / artifact.name).exists():
            os.link(artifact, copy / "artifacts" / artifact.name)
    return copy


def train(run: Run) -> str:
    """One run on one thread, resumed where it stopped (skipped once finished, or while another bench process trains
    it, so two benches can share a list); its log in WORKDIR/logs/NAME.log."""
    folder = run.workdir / "train" / run.name
    try:
        with run_lock(folder):
            pass
    except WorkdirBusy:
        print(f"skipped {run.name}: another process is training it", flush=True)
        return run.name
    resume = ["--resume"] if (folder / "last.ckpt").exists() else []
    command = [str(Path(sys.executable).with_name("cmkt")), "train", "-w", str(run.workdir), *run.options,
               "--seed", str(run.seed), "--run-name", run.name, *resume]
    log = run.workdir / "logs" / f"{run.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}).returncode
    if code:
        raise RuntimeError(f"{run.name} failed (exit {code}): see {log}")
    print(f"trained {run.name}", flush=True)
    return run.name


def train_all(runs: list[Run], jobs: int) -> None:
    """Every run, `jobs` at a time (one thread each), in the order given."""
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(train, runs))


def evaluate(model: str | None, noisy: list[np.ndarray], clean: list[np.ndarray]) -> dict:
    """Per-file scores of a model's enhanced files (None: of the noisy input), DNSMOS OVRL included."""
    enhanced = noisy if model is None else enhance_many(
        load_model(model), noisy, sampling=SamplingOptions("predictive", attenuation_limit=float("inf")))
    return scored(enhanced, clean)


def evaluate_run(run: Run, ids: list[str], noisy: list[np.ndarray], clean: list[np.ndarray]) -> dict:
    """`evaluate` of a run's best.ckpt, kept beside it: a rerun of a bench scores only the runs that are new."""
    return _kept(run, ids, lambda: evaluate(str(run.best), noisy, clean))


def evaluate_split(run: Run, ids: list[str], clean: list[np.ndarray]) -> dict:
    """Per-file scores of a run's best.ckpt on a prepared split through `cmkt enhance -w`, which gives an audio-visual
    model the split's lips (the in-memory path has none); kept beside the run like `evaluate_run`'s."""
    import soundfile as sf

    def compute() -> dict:
        cmkt("enhance", "-w", str(run.workdir), "--split", "test", "--ckpt", str(run.best), "--sampler", "predictive",
             "--force")
        folder = run.workdir / "enhanced" / f"{run.name}-predictive"
        return scored([sf.read(folder / f"{uid}.wav", dtype="float32")[0] for uid in ids], clean)

    return _kept(run, ids, compute)


def _kept(run: Run, ids: list[str], compute) -> dict:
    """The scores of `compute()`, stored in the run's folder under a key of the files scored and of the checkpoint's
    size and time, so a checkpoint that changed (a resumed run) is scored again."""
    stat = run.best.stat()
    key = hashlib.sha256(json.dumps([ids, stat.st_size, stat.st_mtime_ns]).encode()).hexdigest()[:16]
    path = run.best.with_name(f"scores-{key}.json")
    if path.exists():
        return json.loads(path.read_text())
    result = {m: [float(v) for v in values] for m, values in compute().items()}
    write_text(path, json.dumps(result))
    return result


def scored(enhanced: list[np.ndarray], clean: list[np.ndarray]) -> dict:
    from pipelines.dnsmos import dnsmos

    result = {m: values for m, values in scores(clean, enhanced).items() if m in METRICS}
    result["dnsmos_ovrl"] = [dnsmos(y)["dnsmos_ovrl"] for y in enhanced]
    return result


def summarise(per_seed: list[dict], base: list[dict] | None) -> dict:
    """Mean over seeds with its interval; against the baseline row, seed-by-seed and file-by-file differences."""
    row: dict = {"seeds": len(per_seed)}
    for m in METRIC_NAMES:
        means = [float(np.mean(run[m])) for run in per_seed]
        row[m] = {"per_seed": means, "interval": mean_interval(means).to_dict()}
        if base is not None:
            if len(base) == len(per_seed) > 1:
                row[m]["minus_base_by_seed"] = paired_difference(
                    means, [float(np.mean(run[m])) for run in base]).to_dict()
            files = np.mean([run[m] for run in per_seed], axis=0)
            row[m]["minus_base_by_file"] = paired_difference(
                files, np.mean([run[m] for run in base], axis=0)).to_dict()
    return row


def table(rows: dict, base: str) -> str:
    """Markdown: the rows over seeds, then each row minus the baseline row (by seed; by file, with wins)."""
    names = [LABELS[m] for m in METRIC_NAMES]
    lines = ["| row | seeds | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['seeds']} | "
                     + " | ".join(_plus_minus(row[m]["interval"], DIGITS[m]) for m in METRIC_NAMES) + " |")
    return "\n".join(lines) + "\n\n" + difference_table(rows, base)


def difference_table(rows: dict, base: str) -> str:
    """Markdown: each row (`summarise`d against `base`) minus the baseline row, by seed and by file, with wins."""
    names = [LABELS[m] for m in METRIC_NAMES]
    lines = [f"| minus {base}: by seed; by file (wins) | " + " | ".join(names) + " |",
             "|---" * (len(names) + 1) + "|"]
    for name, row in rows.items():
        if "minus_base_by_file" not in row[METRICS[0]]:
            continue
        cells = [(_plus_minus(row[m]["minus_base_by_seed"]["difference"], DIGITS[m], signed=True, spaced=False)
                  if "minus_base_by_seed" in row[m] else "–")
                 + "; " + _plus_minus(row[m]["minus_base_by_file"]["difference"], DIGITS[m], signed=True,
                                      spaced=False) + f" ({row[m]['minus_base_by_file']['wins']})"
                 for m in METRIC_NAMES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: dict, png: Path) -> None:
    """Each metric: every seed's mean as a dot and the row's mean with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRIC_NAMES), figsize=(4 * len(METRIC_NAMES), 3.4))
    names = list(rows)
    for ax, m in zip(axes, METRIC_NAMES):
        for x, name in enumerate(names):
            interval = rows[name][m]["interval"]
            ax.scatter([x] * len(rows[name][m]["per_seed"]), rows[name][m]["per_seed"], s=12, color="0.5")
            low, high = interval["low"], interval["high"]
            err = None if low is None else [[interval["mean"] - low], [high - interval["mean"]]]
            ax.errorbar([x + 0.15], [interval["mean"]], yerr=err, fmt="o", color="C0", capsize=3)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_title(LABELS[m])
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
