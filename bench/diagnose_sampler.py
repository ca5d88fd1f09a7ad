"""Is a weak diffusion result the sampler's fault or the score network's? (a diagnostic, not a test)

On a prepared split, with a trained checkpoint, compares for every utterance:
  noisy          the input
  predictive     the denoiser's y_hat alone
  pc-learned     y_hat + reverse diffusion with the trained score network (what `enhance` does)
  pc-oracle      y_hat + reverse diffusion with the exact score of the true clean spectrogram,
                 -(x_t - mean(x0, y_hat, t)) / std(t)^2: what a perfect score network would give
and reports the score-matching loss of the network on this split. If pc-oracle is near clean
quality but pc-learned is not, the sampler is right and the score network is undertrained.

    python -m bench.diagnose_sampler WORKDIR CHECKPOINT [--split test] [--steps 30] [--limit N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from pipelines.artifacts import Workdir
from pipelines.data.prepared import PreparedSplit
from pipelines.diffusion.losses import denoising_score_matching_loss
from pipelines.diffusion.sampling import build_sampler
from pipelines.metrics import intrusive_metrics
from pipelines.spectral import crop_frames, pad_frames
from pipelines.checkpoints import load_for_inference


def diagnose(workdir: Path, checkpoint: Path, split: str, steps: int, seed: int, limit: int | None) -> dict:
    model = load_for_inference(checkpoint, torch.device("cpu"))
    sampler = build_sampler("pc", model.sde, num_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    rows, score_losses = [], []
    with PreparedSplit(Workdir(workdir), split) as prepared, torch.inference_mode():
        for uid in prepared.ids()[:limit]:
            clean = torch.from_numpy(prepared[uid].clean)[None]
            noisy = torch.from_numpy(prepared[uid].noisy)[None]
            scale = noisy.abs().max()
            x0, frames = pad_frames(model.spec.to_spec(clean / scale), model.frame_multiple)
            y, _ = pad_frames(model.spec.to_spec(noisy / scale), model.frame_multiple)
            y_hat = model.denoise(y)
            score_losses.append(float(denoising_score_matching_loss(model.score, model.sde, x0, y_hat, generator)))

            def oracle(x, yh, t):
                return -(x - model.sde.mean(x0, yh, t)) / model.sde.std(t)[:, None, None, None] ** 2

            learned, _ = sampler(model.score, y_hat, generator)
            perfect, _ = sampler(oracle, y_hat, generator)
            reference = clean[0].numpy()

            def wave(spec):
                return (model.spec.to_wave(crop_frames(spec, frames), clean.shape[-1])[0] * scale).numpy()

            row = {"id": uid}
            for name, estimate in (("noisy", noisy[0].numpy()), ("predictive", wave(y_hat)),
                                   ("pc-learned", wave(learned)), ("pc-oracle", wave(perfect))):
                scores = intrusive_metrics(reference, estimate.astype(np.float64))
                row.update({f"{name}/{k}": scores[k] for k in ("pesq_wb", "estoi", "si_sdr")})
            rows.append(row)
            print(json.dumps(row), flush=True)
    columns = [c for c in rows[0] if c != "id"]
    return {"split": split, "steps": steps, "checkpoint": str(checkpoint),
            "score_matching_loss": float(np.mean(score_losses)),
            "mean": {c: float(np.mean([r[c] for r in rows])) for c in columns}, "files": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="only the first N utterances (sorted by id)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/diagnose_sampler.json"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    result = diagnose(args.workdir, args.checkpoint, args.split, args.steps, args.seed, args.limit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({"score_matching_loss": result["score_matching_loss"], **result["mean"]}, indent=1))


if __name__ == "__main__":
    main()
