"""The bundled model against the noisy input and spectral gating (noisereduce) on a prepared split.

Scores noisy, the predictive denoiser alone, the model's default sampler (its card) and
noisereduce (non-stationary spectral gating, what many users reach for instead; installed
only for this benchmark: `pip install noisereduce`) with PESQ-WB, ESTOI and SI-SDR, and
times each on this machine (real-time factor = seconds of compute per second of audio).

    python -m bench.default_model --workdir work/default --snr 0,5 --limit 60 --out bench/results/default-heldout.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from bench.nfe_quality import METRICS, load_split, parse_floats, scores
from pipelines import __version__
from pipelines.api import SamplingOptions, enhance_many, load_model


def spectral_gating(noisy: list[np.ndarray]) -> list[np.ndarray]:
    import noisereduce

    return [noisereduce.reduce_noise(y=x, sr=16_000).astype(np.float32) for x in noisy]


def systems(model) -> dict:
    """name -> function(noisy list) -> enhanced list."""
    default = model.sampling

    def run(options: SamplingOptions):
        return lambda noisy: enhance_many(model, noisy, sampling=options)

    plain = SamplingOptions("predictive", attenuation_limit=math.inf)  # the denoiser alone, no noisy mixed back
    found = {"predictive": run(plain)}
    if default != plain:
        found[f"default ({default.tag})"] = run(default)
    found["noisereduce"] = spectral_gating
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", type=Path, default=None, help="default: the bundled model")
    parser.add_argument("--snr", default=None, help="only mixtures at these SNRs (e.g. 0,5)")
    parser.add_argument("--limit", type=int, default=60, help="N utterances, taken in turn from each speaker")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    model = load_model(args.model)
    ids, noisy, clean = load_split(args.workdir, args.limit, parse_floats(args.snr), args.split)
    seconds = sum(len(x) for x in noisy) / 16_000
    rows = [{"system": "noisy", **scores(clean, noisy)}]
    for name, enhance in systems(model).items():
        start = time.perf_counter()
        enhanced = enhance(noisy)
        elapsed = time.perf_counter() - start
        rows.append({"system": name, "rtf": elapsed / seconds, **scores(clean, enhanced)})
    header = {"cmkt_version": __version__, "threads": torch.get_num_threads(), "load_average": os.getloadavg()[0],
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "model": str(model.path), "workdir": str(args.workdir),
              "split": args.split, "snr": args.snr, "utterances": ids, "audio_seconds": seconds}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**header, "results": rows}, indent=1))
    print(f"{len(ids)} utterances, {seconds:.0f} s of audio ({args.workdir}, split {args.split}, SNR {args.snr})")
    print("| system | PESQ-WB | ESTOI | SI-SDR (dB) | RTF |\n|---|---|---|---|---|")
    for row in rows:
        cells = " | ".join(f"{row[f'{m}_mean']:.3f} ± {row[f'{m}_std']:.3f}" for m in METRICS)
        print(f"| {row['system']} | {cells} | {row.get('rtf', float('nan')):.3f} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
