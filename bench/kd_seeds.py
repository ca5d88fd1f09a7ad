"""The distillation seed table (issue 23): a ~50 k-parameter student trained alone, with output KD, with tfckd and
with sub-band KD, at equal budget over several seeds, beside its teacher, on the held-out test voices.

    python -m bench.kd_seeds --workdir work/default --jobs 2 --out bench/results/kd-seeds.json  (make bench-kd)

Each row is `cmkt train` runs (GTCRN's size from scratch, the same steps, crops, learning rate and
augmentation; only --kd differs), resumed where a run stopped, so rerunning the command finishes
what is missing and skips what is done. The sub-band row first trains its elite teachers
(`--subband-teacher K/N`, once, not per seed). Then every run's best.ckpt (chosen by validation
PESQ-WB on the valid voices) enhances the same held-out files, scored with PESQ-WB, ESTOI, SI-SDR
and DNSMOS OVRL. Per row: the mean over seeds of each run's mean, with a 95 % t-interval over
seeds; against "alone", the seed-by-seed difference (seed s with seed s) with its interval, and
the file-by-file difference of the seed-averaged scores with wins. Hours on 2 cores; not in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.nfe_quality import METRICS, load_split, scores
from bench.peer_bench import DIGITS, LABELS, _plus_minus
from bench.stats import mean_interval, paired_difference
from pipelines.api import enhance_many, load_model
from pipelines.data.mixing import parse_snrs
from pipelines.inference import SamplingOptions

TEACHER = "cmkt-gtcrn-debian"  # the bundled default: GTCRN's size, fine-tuned from GTCRN-DNS3 on the corpus
BANDS = 2  # sub-band KD: elite teachers of 2 equal bands (0-4 and 4-8 kHz)
COMMON = ["--preset", "gtcrn", "--modality", "a", "--batch-size", "16", "--crop-frames", "126", "--lr", "1e-3",
          "--max-steps", "600", "--lr-decay-steps", "300", "--validate-every", "300", "--val-utterances", "32",
          "--select-by", "pesq", "--augment", "remix,gain", "-q"]
TEACHER_STEPS = ["--max-steps", "900", "--lr-decay-steps", "450"]  # the elite teachers: once, 1.5 x a student
METRIC_NAMES = METRICS + ("dnsmos_ovrl",)


def band_run(band: int) -> str:
    return f"kd-band{band}of{BANDS}"


def arms(train: Path) -> dict[str, list[str]]:
    """Row -> the `cmkt train` options that make it (besides COMMON, --seed and --run-name)."""
    elite = ",".join(str(train / band_run(k) / "best.ckpt") for k in range(1, BANDS + 1))
    return {"alone": [],
            "output": ["--teacher", TEACHER, "--kd", "output"],
            "tfckd": ["--teacher", TEACHER, "--kd", "tfckd"],
            "subband": ["--teacher", elite, "--kd", "subband"]}


def train(workdir: Path, run: str, options: list[str], seed: int) -> str:
    """One resumable `cmkt train` run on one thread; its log in WORKDIR/logs/RUN.log."""
    folder = workdir / "train" / run
    resume = ["--resume"] if (folder / "last.ckpt").exists() else []
    command = [str(Path(sys.executable).with_name("cmkt")), "train", "-w", str(workdir), *COMMON, *options, "--seed", str(seed),
               "--run-name", run, *resume]
    log = workdir / "logs" / f"{run}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}).returncode
    if code:
        raise RuntimeError(f"{run} failed (exit {code}): see {log}")
    print(f"trained {run}", flush=True)
    return run


def train_all(workdir: Path, rows: list[str], seeds: list[int], jobs: int) -> None:
    train_dir = workdir / "train"
    options = arms(train_dir)
    with ThreadPoolExecutor(jobs) as pool:
        if "subband" in rows:
            list(pool.map(lambda k: train(workdir, band_run(k), ["--subband-teacher", f"{k}/{BANDS}", *TEACHER_STEPS],
                                          0), range(1, BANDS + 1)))
        list(pool.map(lambda job: train(workdir, f"kd-{job[0]}-s{job[1]}", options[job[0]], job[1]),
                      [(row, seed) for row in rows for seed in seeds]))


def evaluate(model: str | None, noisy: list[np.ndarray], clean: list[np.ndarray]) -> dict:
    """Per-file scores of a model's enhanced files (None: of the noisy input)."""
    from pipelines.dnsmos import dnsmos

    enhanced = noisy if model is None else enhance_many(
        load_model(model), noisy, sampling=SamplingOptions("predictive", attenuation_limit=float("inf")))
    result = {m: values for m, values in scores(clean, enhanced).items() if m in METRICS}
    result["dnsmos_ovrl"] = [dnsmos(y)["dnsmos_ovrl"] for y in enhanced]
    return result


def summarise(per_seed: list[dict], alone: list[dict] | None) -> dict:
    """Mean over seeds with its interval; against alone, seed-by-seed and file-by-file differences."""
    row: dict = {"seeds": len(per_seed)}
    for m in METRIC_NAMES:
        means = [float(np.mean(run[m])) for run in per_seed]
        row[m] = {"per_seed": means, "interval": mean_interval(means).to_dict()}
        if alone is not None:
            if len(alone) == len(per_seed):
                base = [float(np.mean(run[m])) for run in alone]
                row[m]["minus_alone_by_seed"] = paired_difference(means, base).to_dict()
            files = np.mean([run[m] for run in per_seed], axis=0)
            base_files = np.mean([run[m] for run in alone], axis=0)
            row[m]["minus_alone_by_file"] = paired_difference(files, base_files).to_dict()
    return row


def table(rows: dict) -> str:
    lines = ["| row | seeds | " + " | ".join(LABELS[m] for m in METRIC_NAMES) + " |", "|---" * 6 + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['seeds']} | "
                     + " | ".join(_plus_minus(row[m]["interval"], DIGITS[m]) for m in METRIC_NAMES) + " |")
    lines += ["", "| minus alone: by seed; by file (wins) | " + " | ".join(LABELS[m] for m in METRIC_NAMES) + " |",
              "|---" * 5 + "|"]
    for name, row in rows.items():
        if "minus_alone_by_file" in row[METRICS[0]]:
            cells = [(_plus_minus(row[m]["minus_alone_by_seed"]["difference"], DIGITS[m], signed=True, spaced=False)
                      if "minus_alone_by_seed" in row[m] else "–")
                     + "; " + _plus_minus(row[m]["minus_alone_by_file"]["difference"], DIGITS[m], signed=True,
                                          spaced=False) + f" ({row[m]['minus_alone_by_file']['wins']})"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--rows", default="alone,output,tfckd,subband")
    parser.add_argument("--jobs", type=int, default=2, help="training runs at once, one thread each")
    parser.add_argument("--split", default="test")
    parser.add_argument("--snr", default="0,5")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("bench/results/kd-seeds.json"))
    parser.add_argument("--png", type=Path, default=Path("docs/img/kd-seeds.png"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = args.rows.split(",")
    train_all(args.workdir, rows, seeds, args.jobs)
    ids, noisy, clean = load_split(args.workdir, args.limit, parse_snrs(args.snr), args.split)
    runs = {row: [evaluate(str(args.workdir / "train" / f"kd-{row}-s{seed}" / "best.ckpt"), noisy, clean)
                  for seed in seeds] for row in rows}
    results = {row: summarise(per_seed, runs.get("alone") if row != "alone" else None)
               for row, per_seed in runs.items()}
    results["teacher"] = summarise([evaluate(TEACHER, noisy, clean)], runs.get("alone"))
    results["noisy"] = summarise([evaluate(None, noisy, clean)], None)
    text = table(results)
    print(text)
    args.out.write_text(json.dumps({"split": args.split, "snr": args.snr, "utterances": ids, "seeds": seeds,
                                    "teacher": TEACHER, "common": COMMON, "arms": arms(Path("WORKDIR/train")),
                                    "rows": results, "table": text}, indent=1))
    plot(results, args.png)
    print(f"wrote {args.out} and {args.png}")


if __name__ == "__main__":
    main()
