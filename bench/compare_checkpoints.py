"""Checkpoints side by side with the predictive sampler on held-out voices, at several attenuation limits: which
model, and which limit, to ship.

    python -m bench.compare_checkpoints --workdir work/default --split valid --snr 0,5 MODEL [MODEL ...]
        [--attenuation-limits inf,20,15,12] [--json bench/results/attenuation-limit-valid.json]
MODEL: a checkpoint or model file, or `bundled` for the shipped model. Prints PESQ-WB, ESTOI and SI-SDR means
over the same utterances (taken in turn from each speaker, as bench.nfe_quality does). Each MODEL enhances once;
every limit then mixes the noisy input back (pipelines/inference.py), which needs no new network pass. Choose on
the valid voices, report on the test voices.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.nfe_quality import load_split, scores
from pipelines.api import enhance_many, load_model
from pipelines.data.mixing import parse_snrs
from pipelines.inference import SamplingOptions, mix_noisy_back


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--split", default="valid")
    parser.add_argument("--snr", default="0,5")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--attenuation-limits", default="inf", help="dB, comma-separated; inf: none")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    limits = [float(value) for value in args.attenuation_limits.split(",")]
    ids, noisy, clean = load_split(args.workdir, args.limit, parse_snrs(args.snr), args.split)
    print(f"{len(ids)} utterances of split {args.split} at SNR {args.snr}")
    print("| system | attenuation limit (dB) | PESQ-WB | ESTOI | SI-SDR (dB) |\n|---|---|---|---|---|")
    rows = [_row("noisy", None, scores(clean, noisy))]
    for name in args.models:
        enhanced = enhance_many(load_model(name), noisy,
                                sampling=SamplingOptions("predictive", attenuation_limit=float("inf")))
        for limit in limits:
            share = SamplingOptions("predictive", attenuation_limit=limit).noisy_share
            rows.append(_row(name, limit if share else None,
                             scores(clean, [mix_noisy_back(e.copy(), n, share) for e, n in zip(enhanced, noisy)])))
    if args.json is not None:
        args.json.write_text(json.dumps({"split": args.split, "snr": args.snr, "utterances": len(ids), "rows": rows},
                                        indent=1))
        print(f"wrote {args.json}")


def _row(system: str, limit: float | None, result: dict) -> dict:
    row = {"system": system, "attenuation_limit_db": limit,
           **{k: round(v, 4) for k, v in result.items() if k.endswith("_mean")}}
    shown = "none" if limit is None else f"{limit:g}"
    print(f"| {system} | {shown} | {row['pesq_wb_mean']:.3f} | {row['estoi_mean']:.3f} | {row['si_sdr_mean']:.2f} |",
          flush=True)
    return row


if __name__ == "__main__":
    main()
