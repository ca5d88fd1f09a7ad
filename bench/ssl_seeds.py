"""The SSL seed over seeds (issue 26): does a speech encoder's view of the noisy input help the conv-recurrent
enhancer, which layers, and frozen or fine-tuned?

    python -m bench.ssl_seeds --workdir work/default --jobs 2   (make bench-ssl; hours on 2 cores, not in CI)

Every step skips what is done, so rerunning the command finishes what is missing:
1. WORKDIR-ssl (the same prepared mixtures, artifacts hard-linked): `cmkt featurize --ssl` (Whisper tiny.en's
   encoder) of the train and valid splits, clean states for valid; `cmkt ssl-layers` ranks the layers by
   clean-noisy distance on the valid voices, and the top-CN arm takes the TOP largest;
2. every arm x seed as a resumable `cmkt train` run: GTCRN-DNS3 fine-tuned on the corpus at the same budget, no
   augmentation (a frozen encoder's cached states are of the prepared mixtures), only --ssl differing;
3. each run's best.ckpt on the same held-out test files, the table of arms over seeds with paired differences
   against the spectrogram alone (bench/seed_runs.py), the seed's other orderings (top-CN layers, fine-tuning)
   against the frozen encoder with all layers, and the real-time factor of one run per arm on one thread.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bench.nfe_quality import load_split
from bench.seed_runs import (GTCRN_DNS3, Run, cmkt, difference_table, evaluate, evaluate_run, linked_copy, plot,
                             summarise, table, train_all)
from pipelines.api import enhance_many, load_model
from pipelines.audio_io import SAMPLE_RATE
from pipelines.data.mixing import parse_snrs
from pipelines.inference import SamplingOptions

STEPS, TOP = 500, 3
COMMON = ("--preset", "gtcrn", "--modality", "a", "--init-from", GTCRN_DNS3, "--batch-size", "16",
          "--crop-frames", "126", "--lr", "3e-4", "--max-steps", str(STEPS), "--lr-decay-steps", str(STEPS // 2),
          "--validate-every", str(STEPS // 2), "--val-utterances", "32", "--select-by", "pesq", "-q")


def arms(top: list[int]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Row -> (its runs' name, the options besides COMMON)."""
    return {"spectrogram": ("spec", ()),
            "+ frozen, all layers": ("frozen-all", ("--ssl", "frozen")),
            f"+ frozen, top-CN layers {','.join(map(str, top))}": ("frozen-top", ("--ssl", "frozen", "--ssl-layers",
                                                                                  ",".join(map(str, top)))),
            "+ fine-tuned, all layers": ("finetune", ("--ssl", "finetune"))}


def real_time_factor(model: str, noisy: list[np.ndarray]) -> float:
    """Compute seconds per audio second of enhancing the files one at a time on one thread (after a warm-up): the
    fastest of 3 passes, so a moment of other load on the machine does not count."""
    torch.set_num_threads(1)
    loaded = load_model(model)
    sampling = SamplingOptions("predictive", attenuation_limit=float("inf"))
    enhance_many(loaded, noisy[:1], sampling=sampling)
    passes = []
    for _ in range(3):
        started = time.perf_counter()
        for clip in noisy:
            enhance_many(loaded, [clip], sampling=sampling)
        passes.append(time.perf_counter() - started)
    return min(passes) / (sum(len(clip) for clip in noisy) / SAMPLE_RATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=2, help="training runs at once, one thread each")
    parser.add_argument("--split", default="test")
    parser.add_argument("--snr", default="0,5")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--train-only", action="store_true", help="train what is missing, score nothing")
    parser.add_argument("--out", type=Path, default=Path("bench/results/ssl-seeds.json"))
    parser.add_argument("--png", type=Path, default=Path("docs/img/ssl-seeds.png"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    workdir = linked_copy(args.workdir, "ssl")
    cmkt("featurize", "--ssl", "-w", str(workdir), "--split", "train", "--split", "valid")
    cmkt("ssl-layers", "-w", str(workdir), "--split", "valid", "--top", str(TOP))
    distances = json.loads((workdir / "reports" / "ssl-layers" / "valid.json").read_text())
    top = sorted(row["layer"] for row in distances["layers"] if row["rank"] <= TOP)
    rows = arms(top)
    planned = {row: [Run(workdir, f"ssl-{name}-s{seed}", (*COMMON, *options), seed) for seed in seeds]
               for row, (name, options) in rows.items()}
    train_all([planned[row][k] for k in range(len(seeds)) for row in rows], args.jobs)
    if args.train_only:
        return
    ids, noisy, clean = load_split(args.workdir, args.limit, parse_snrs(args.snr), args.split)
    scored = {row: [evaluate_run(run, ids, noisy, clean) for run in runs] for row, runs in planned.items()}
    base = scored["spectrogram"]
    results = {row: summarise(per_seed, base if row != "spectrogram" else None) for row, per_seed in scored.items()}
    results["noisy"] = summarise([evaluate(None, noisy, clean)], base)
    _, frozen_all, frozen_top, finetuned = rows  # the seed's orderings, against the frozen encoder with all layers
    orderings = {row: summarise(scored[row], scored[frozen_all]) for row in (frozen_top, finetuned)}
    speed = {row: real_time_factor(str(runs[0].best), noisy[:10]) for row, runs in planned.items()}
    text = table(results, "spectrogram") + "\n\n" + difference_table(orderings, frozen_all)
    text += "\n\nRTF, one thread, 10 files: " + ", ".join(f"{row} {rtf:.3f}" for row, rtf in speed.items())
    print(text)
    args.out.write_text(json.dumps({"split": args.split, "snr": args.snr, "utterances": ids, "seeds": seeds,
                                    "common": COMMON, "arms": {row: options for row, (_, options) in rows.items()},
                                    "cn_distance_valid": distances, "base": "spectrogram", "rtf_one_thread": speed,
                                    "rows": results, "orderings_against": frozen_all,
                                    "orderings": orderings, "table": text}, indent=1))
    plot(results, args.png)
    print(f"wrote {args.out} and {args.png}")


if __name__ == "__main__":
    main()
