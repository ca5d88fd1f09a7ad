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
from pathlib import Path

from bench.nfe_quality import load_split
from bench.seed_runs import Run, evaluate, evaluate_run, plot, summarise, table, train_all
from pipelines.data.mixing import parse_snrs

TEACHER = "cmkt-gtcrn-debian"  # the causal bundled model: GTCRN's size, fine-tuned from GTCRN-DNS3 on the corpus
BANDS = 2  # sub-band KD: elite teachers of 2 equal bands (0-4 and 4-8 kHz)
COMMON = ("--preset", "gtcrn", "--modality", "a", "--batch-size", "16", "--crop-frames", "126", "--lr", "1e-3",
          "--max-steps", "600", "--lr-decay-steps", "300", "--validate-every", "300", "--val-utterances", "32",
          "--select-by", "pesq", "--augment", "remix,gain", "-q")
TEACHER_STEPS = ("--max-steps", "900", "--lr-decay-steps", "450")  # the elite teachers: once, 1.5 x a student


def band_run(band: int) -> str:
    return f"kd-band{band}of{BANDS}"


def arms(train: Path) -> dict[str, list[str]]:
    """Row -> the `cmkt train` options that make it (besides COMMON, --seed and --run-name)."""
    elite = ",".join(str(train / band_run(k) / "best.ckpt") for k in range(1, BANDS + 1))
    return {"alone": [],
            "output": ["--teacher", TEACHER, "--kd", "output"],
            "tfckd": ["--teacher", TEACHER, "--kd", "tfckd"],
            "subband": ["--teacher", elite, "--kd", "subband"]}


def runs(workdir: Path, rows: list[str], seeds: list[int]) -> dict[str, list[Run]]:
    options = arms(workdir / "train")
    return {row: [Run(workdir, f"kd-{row}-s{seed}", (*COMMON, *options[row]), seed) for seed in seeds]
            for row in rows}


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
    rows = runs(args.workdir, args.rows.split(","), seeds)
    if "subband" in rows:  # the elite teachers first, once, not per seed
        train_all([Run(args.workdir, band_run(k), (*COMMON, "--subband-teacher", f"{k}/{BANDS}", *TEACHER_STEPS), 0)
                   for k in range(1, BANDS + 1)], args.jobs)
    train_all([run for row in rows.values() for run in row], args.jobs)
    ids, noisy, clean = load_split(args.workdir, args.limit, parse_snrs(args.snr), args.split)
    scored = {row: [evaluate_run(run, ids, noisy, clean) for run in row_runs] for row, row_runs in rows.items()}
    alone = scored.get("alone")
    results = {row: summarise(per_seed, alone if row != "alone" else None) for row, per_seed in scored.items()}
    results["teacher"] = summarise([evaluate(TEACHER, noisy, clean)], alone)
    results["noisy"] = summarise([evaluate(None, noisy, clean)], None)
    text = table(results, "alone")
    print(text)
    args.out.write_text(json.dumps({"split": args.split, "snr": args.snr, "utterances": ids, "seeds": seeds,
                                    "teacher": TEACHER, "common": COMMON, "arms": arms(Path("WORKDIR/train")),
                                    "base": "alone", "rows": results, "table": text}, indent=1))
    plot(results, args.png)
    print(f"wrote {args.out} and {args.png}")


if __name__ == "__main__":
    main()
