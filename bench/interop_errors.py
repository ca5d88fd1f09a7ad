"""How closely cmkt reproduces SGMSE+ and StoRM: the relative errors of docs/interop.md (a measurement, not a test).

For each fixture checkpoint of ../shared/data/interop, max |cmkt - upstream| / max |upstream|
of the front end (Y from noisy_wave, the waveform back from Y), StoRM's denoiser output and
the score at the four reference times (the largest of the four), in float64 (imported in
memory) and float32 (the model file `cmkt import-checkpoint` writes). tests/test_interop.py
holds them to 1e-10 and 1e-5.

    python -m bench.interop_errors [--data ../shared/data/interop]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from pipelines.enhancer import EnhancerConfig, SpeechEnhancer
from pipelines.interop.importer import import_lightning
from pipelines.interop.reader import load_restricted
from pipelines.spectral import SpecTransform, pad_frames
from pipelines.checkpoints import import_model, load_for_inference

CHECKPOINTS = [("sgmse", "model.ckpt", ""), ("sgmse", "model_uncentered.ckpt", "uncentered_"),
               ("storm", "model.ckpt", "")]


def relative(ours: torch.Tensor, theirs: np.ndarray) -> float:
    reference = torch.from_numpy(theirs)
    return float((ours.to(reference.dtype) - reference).abs().max() / reference.abs().max())


def errors(model: SpeechEnhancer, reference: dict[str, np.ndarray], prefix: str, dtype: torch.dtype) -> dict:
    config = model.config
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # the STFT window in this precision, as upstream made it
    spec = SpecTransform(config.n_fft, config.hop_length, config.spec_exponent, config.spec_factor)
    torch.set_default_dtype(default)
    wave = torch.from_numpy(reference["noisy_wave"]).to(dtype)[None]
    y_ours, frames = pad_frames(spec.to_spec(wave / wave.abs().max()), config.pad_multiple)
    y, x = (torch.from_numpy(reference[k]).to(y_ours.dtype) for k in ("Y", "x_t"))
    back = spec.to_wave(y[..., :frames], wave.shape[-1]) * float(reference["norm_factor"])
    found = {"Y": relative(y_ours, reference["Y"]), "wave": relative(back[0], reference["Y_to_wave_unpadded"])}
    with torch.inference_mode():
        y_hat = model.denoise(y)
        if "y_denoised" in reference:
            found["y_denoised"] = relative(y_hat, reference["y_denoised"])
        found["score"] = max(relative(model.score(x, y, y_hat, torch.full((1,), t, dtype=dtype)),
                                      reference[f"{prefix}score_t{t}"]) for t in reference["t"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/interop")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    for project, name, prefix in CHECKPOINTS:
        path = args.data / project / name
        reference = dict(np.load(args.data / project / "reference.npz"))
        imported = import_lightning(load_restricted(path), path)
        exact = SpeechEnhancer(EnhancerConfig.from_dict(imported["config"]), training_parts=False).double().eval()
        exact.load_state_dict(imported["weights"])
        import_model(path, folder / "model.pt")
        single = load_for_inference(folder / "model.pt", torch.device("cpu"))
        for label, model, dtype in (("float64", exact, torch.float64), ("float32", single, torch.float32)):
            found = errors(model, reference, prefix, dtype)
            print(f"{project}/{name} {label}: " + ", ".join(f"{k} {v:.1e}" for k, v in found.items()))


if __name__ == "__main__":
    main()
