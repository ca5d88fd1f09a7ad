"""`cmkt train --init-from MODEL`: a new run that starts from a trained audio model's weights.

MODEL is anything `enhance --ckpt` reads: an imported SGMSE+ or StoRM model, their checkpoints
as published, a cmkt model file or checkpoint. The run keeps MODEL's audio model (front end,
SDE, network shapes and options, score form: `AUDIO_FIELDS`) and adds what the run asks for
(lips, text, a speech encoder). Every weight of MODEL must find its place; the only weights MODEL
may lack are those of the added branches, whose outputs start at zero (the visual cross-attention's
output projection, the text adapter's FC2 with `zero_adapter`, the speech-encoder fusion's
modulation), so at step 0 the run enhances exactly as MODEL does and training moves it from
there. The speech encoder itself keeps the weights its own model loaded.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from torch import Tensor

from pipelines.enhancer import EnhancerConfig, SpeechEnhancer, is_added_branch, is_training_only
from pipelines.errors import BadInput
from pipelines.checkpoints import read_model

AUDIO_FIELDS = ("backbone", "preset", "n_fft", "hop_length", "window", "spec_exponent", "spec_factor", "normalisation",
                "sde", "sigma_min", "sigma_max", "eta",
                "t_eps", "score_parametrisation", "denoiser_output", "score_condition", "network", "centered",
                "denoiser_time", "pad_multiple")


def initial_config(path: Path, requested: EnhancerConfig) -> tuple[EnhancerConfig, dict[str, Tensor], dict]:
    """The run's config (MODEL's audio fields, the rest as requested), MODEL's weights, and its provenance for the
    run's model card: where it came from and the licence its weights carry (an MIT notice must travel with them)."""
    model = read_model(path)
    base = EnhancerConfig.from_dict(model["config"])  # with the defaults of configs older than some fields
    audio = {k: getattr(base, k) for k in AUDIO_FIELDS}
    config = EnhancerConfig.from_dict({**asdict(requested), **audio, "zero_adapter": True})
    card = model["card"]
    provenance = {"initialised_from": card.get("name") or card.get("imported_from", {}).get("file") or Path(path).name}
    if "licence" in card:
        provenance["licence"] = card["licence"]
    return config, {k: v for k, v in model["weights"].items() if not is_training_only(k)}, provenance


def load_initial_weights(model: SpeechEnhancer, weights: dict[str, Tensor], path: Path) -> None:
    """Copy MODEL's weights in; BadInput naming what does not fit (a part the run lacks, a shape, a missing audio
    weight)."""
    expected = model.state_dict()
    unexpected = [k for k in weights if k not in expected]
    missing = [k for k in expected if k not in weights and not is_training_only(k)
               and not is_added_branch(k)]
    shapes = [f"{k} {tuple(v.shape)} not {tuple(expected[k].shape)}" for k, v in weights.items()
              if k in expected and v.shape != expected[k].shape]
    kinds = (("it has that this run lacks", unexpected), ("missing", missing), ("of another shape", shapes))
    problems = [f"{len(keys)} {kind}: {', '.join(keys[:2])}" for kind, keys in kinds if keys]
    if problems:
        raise BadInput(f"--init-from {path}: its weights do not fit this run's model ({'; '.join(problems)})")
    model.load_state_dict(weights, strict=False)
