"""Checkpoints side by side with the predictive sampler on held-out voices: which one to ship.

    python -m bench.compare_checkpoints --workdir work/default --split valid --snr 0,5 MODEL [MODEL ...]
MODEL: a checkpoint or model file, or `bundled` for the shipped model. Prints PESQ-WB, ESTOI and SI-SDR means
over the same utterances (taken in turn from each speaker, as bench.nfe_quality does).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.nfe_quality import load_split, scores
from pipelines.api import enhance_many, load_model
from pipelines.data.mixing import parse_snrs
from pipelines.inference import SamplingOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--split", default="valid")
    parser.add_argument("--snr", default="0,5")
    parser.add_argument("--limit", type=int, default=60)
    args = parser.parse_args()
    ids, noisy, clean = load_split(args.workdir, args.limit, parse_snrs(args.snr), args.split)
    print(f"{len(ids)} utterances of split {args.split} at SNR {args.snr}")
    print("| system | PESQ-WB | ESTOI | SI-SDR (dB) |\n|---|---|---|---|")
    for name in ["noisy", *args.models]:
        estimates = noisy if name == "noisy" else enhance_many(load_model(None if name == "bundled" else name),
                                                               noisy, sampling=SamplingOptions("predictive"))
        result = scores(clean, estimates)
        print(f"| {name} | {result['pesq_wb_mean']:.3f} | {result['estoi_mean']:.3f} | {result['si_sdr_mean']:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
