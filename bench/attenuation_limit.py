"""Which attenuation limit to ship: PESQ-WB, ESTOI and SI-SDR against the limit, on held-out voices.

    python -m bench.attenuation_limit --workdir work/default --split valid --snr 0,5 bundled [MODEL ...]
Each MODEL (a checkpoint or model file, or `bundled`) enhances the split once with the predictive
sampler; every limit then mixes the noisy input back (pipelines/inference.py), which needs no
new network pass. The limit is chosen on the valid voices and reported on the test voices.
Writes bench/results/attenuation-limit-SPLIT.json.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from bench.nfe_quality import load_split, scores
from pipelines.api import enhance_many, load_model
from pipelines.data.mixing import parse_snrs
from pipelines.inference import SamplingOptions

LIMITS = (math.inf, 30.0, 20.0, 15.0, 12.0, 10.0, 8.0, 6.0)


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
    print("| model | limit (dB) | PESQ-WB | ESTOI | SI-SDR (dB) |\n|---|---|---|---|---|")
    rows = [{"model": "noisy", "limit_db": None, **_means(scores(clean, noisy))}]
    _print(rows[-1])
    for name in args.models:
        model = load_model(None if name == "bundled" else name)
        enhanced = enhance_many(model, noisy, sampling=SamplingOptions("predictive", attenuation_limit=math.inf))
        for limit in LIMITS:
            share = SamplingOptions("predictive", attenuation_limit=limit).noisy_share
            mixed = [e + share * (n - e) for e, n in zip(enhanced, noisy)]
            rows.append({"model": name, "limit_db": None if math.isinf(limit) else limit,
                         **_means(scores(clean, mixed))})
            _print(rows[-1])
    out = Path(__file__).parent / "results" / f"attenuation-limit-{args.split}.json"
    out.write_text(json.dumps({"split": args.split, "snr": args.snr, "utterances": len(ids), "rows": rows}, indent=1))
    print(f"wrote {out}")


def _means(result: dict) -> dict:
    return {k: round(v, 4) for k, v in result.items() if k.endswith("_mean")}


def _print(row: dict) -> None:
    limit = "none" if row["limit_db"] is None else f"{row['limit_db']:g}"
    print(f"| {row['model']} | {limit} | {row['pesq_wb_mean']:.3f} | {row['estoi_mean']:.3f} | "
          f"{row['si_sdr_mean']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
