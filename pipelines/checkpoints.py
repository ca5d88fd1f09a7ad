"""Checkpoints that carry everything `enhance` and `--resume` need, and the inference-only model files.

A checkpoint holds the model config (so `enhance` rebuilds the network from the file
alone), the EMA weights used for inference, and, for resuming, the live weights, the
optimiser state, the step counters and the random-generator state.

A model file (`cmkt export`; the bundled default is one) holds only what enhancing needs:
the config, the EMA weights in float16 (half the size; enhancing computes in float32) and a
model card (how it was trained, how well it does, the sampler it is meant to run with).
It is read with `weights_only=True`: tensors and plain containers, never code.

Wherever a model file is read, an upstream SGMSE+, StoRM or GTCRN checkpoint is accepted too
(pipelines/interop/, read without running its pickle's code); `import_model` writes one
as a model file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from pipelines import __version__
from pipelines.atomic import replaced_atomically
from pipelines.enhancer import EnhancerConfig, SpeechEnhancer, is_added_branch, is_training_only
from pipelines.errors import BadInput
from pipelines.interop.importer import import_upstream, is_upstream
from pipelines.interop.reader import load_restricted

FORMAT = "cmkt-checkpoint-1"
MODEL_FORMAT = "cmkt-model-1"


@dataclass
class TrainingState:
    step: int = 0
    epoch: int = 0
    best_metric: float = float("-inf")
    seconds: float = 0.0
    validated_step: int = -1  # so resuming a finished run does not validate (and log) its last step again


def save_checkpoint(path: Path, model: SpeechEnhancer, ema_model: SpeechEnhancer, optimizer: torch.optim.Optimizer,
                    state: TrainingState, generator: torch.Generator, extra: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so a kill during saving never leaves a broken checkpoint."""
    payload = {
        "format": FORMAT,
        "cmkt_version": __version__,
        "config": model.config.to_dict(),
        "ema": ema_model.state_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "state": vars(state),
        "generator": generator.get_state(),
        "extra": extra,
    }
    _save(payload, path, path.with_suffix(".tmp"))


def _save(payload: dict[str, Any], path: Path, temporary: Path) -> None:
    """torch.save atomically (pipelines/atomic.py). A write that fails (a full disk) reaches the caller as the OSError
    it is, which becomes the one-line exit 2: torch itself reports it only as RuntimeError "unexpected pos"."""
    with replaced_atomically(path, temporary) as partial, open(partial, "wb") as f:
        target = _KeepsWriteErrors(f)
        try:
            torch.save(payload, target)
        except RuntimeError:
            if target.error is None:
                raise
            raise target.error from None


class _KeepsWriteErrors:
    """A file for torch.save that keeps the OSError of a failed write (torch swallows it)."""

    def __init__(self, file):
        self.file, self.error = file, None

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.file.flush()


def read_checkpoint(path: Path) -> dict[str, Any]:
    payload = load_restricted(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise BadInput(f"{path}: not a cmkt checkpoint")
    return payload


def read_model(path: Path) -> dict[str, Any]:
    """A model file, a training checkpoint or an upstream one, as {"config", "weights", "card"} (card empty for
    training checkpoints)."""
    payload = load_restricted(path)
    if is_upstream(payload):
        return _imported(payload, path)
    if not isinstance(payload, dict) or payload.get("format") not in (MODEL_FORMAT, FORMAT):
        raise BadInput(f"{path}: not a cmkt checkpoint or model file, nor an SGMSE+, StoRM or GTCRN checkpoint")
    weights_key = "weights" if payload["format"] == MODEL_FORMAT else "ema"
    for key, kind in (("config", dict), (weights_key, dict), ("card", dict)):
        if not isinstance(payload.get(key, {}), kind) or key not in payload and key != "card":
            raise BadInput(f"{path}: a damaged cmkt file (its '{key}' is missing or not a {kind.__name__})")
    if payload["format"] == MODEL_FORMAT:
        return {"config": payload["config"], "weights": _finite(_float32(payload["weights"]), path),
                "card": payload.get("card", {})}
    return {"config": payload["config"], "weights": _finite(payload["ema"], path), "card": {}}


def export_model(checkpoint: Path, out: Path, card: dict[str, Any], sampling: Callable[[bool], dict],
                 interpolate_with: Path | None = None, alpha: float = 1.0) -> tuple[int, dict]:
    """Write the inference-only model file of a training checkpoint (EMA weights, float16); returns its size and
    the card's sampling, `sampling(generative)`: the sampler the model is meant to run with, given whether it has a
    score network. `interpolate_with`: the model it was fine-tuned from, whose weights take a share 1 - `alpha` (WiSE-FT,
    Wortsman et al. 2022: the fine-tuned model keeps more of what the original knew of other data)."""
    payload = read_checkpoint(checkpoint)
    weights = {k: v for k, v in payload["ema"].items() if not is_training_only(k)}
    state = payload["state"]
    generative = EnhancerConfig.from_dict(payload["config"]).generative
    card = {"trained_steps": state["step"], "training_seconds": round(state["seconds"]),
            **payload["extra"].get("provenance", {}), **card, "sampling": sampling(generative)}
    if interpolate_with is not None:
        weights = interpolate_weights(weights, read_model(interpolate_with)["weights"], alpha, interpolate_with)
        card["interpolated"] = {"with": interpolate_with.name, "alpha": alpha}
    weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    return _write_model(out, payload["config"], weights, card), card["sampling"]


def interpolate_weights(tuned: dict[str, torch.Tensor], original: dict[str, torch.Tensor], alpha: float,
                        path: Path) -> dict[str, torch.Tensor]:
    """alpha tuned + (1 - alpha) original, tensor by tensor (integer buffers: the tuned model's); the two must
    be the same network, except for the branches the tuned model added (lips, text transfer, a speech encoder),
    which `original` lacks and which keep their tuned weights."""
    if not 0.0 <= alpha <= 1.0:
        raise BadInput(f"--alpha must be between 0 and 1, got {alpha}")
    missing = sorted(k for k in set(tuned) ^ set(original) if not (k in tuned and is_added_branch(k)))
    mismatched = [k for k in tuned if k in original and tuple(tuned[k].shape) != tuple(original[k].shape)]
    if missing or mismatched:
        raise BadInput(f"{path}: not the network the checkpoint was trained from ({len(missing)} weights differ by "
                       f"name, {len(mismatched)} by shape, e.g. {(missing + mismatched)[0]})")
    return {k: alpha * v.float() + (1.0 - alpha) * original[k].float() if v.is_floating_point() and k in original
            else v for k, v in tuned.items()}


def import_model(upstream: Path, out: Path) -> tuple[int, dict[str, Any]]:
    """Write an SGMSE+, StoRM or GTCRN checkpoint as a cmkt model file (float32 weights); returns its size and card."""
    payload = load_restricted(upstream)
    if not is_upstream(payload):
        raise BadInput(f"{upstream}: not an SGMSE+ or StoRM (Lightning) checkpoint, nor a GTCRN one")
    imported = _imported(payload, upstream)
    return _write_model(out, imported["config"], imported["weights"], imported["card"]), imported["card"]


def _imported(payload: dict[str, Any], path: Path) -> dict[str, Any]:
    imported = import_upstream(payload, path)
    return {**imported, "weights": _finite(_float32(imported["weights"]), path)}


def _float32(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What enhancing computes in: model files store float16, imports come in float64."""
    return {k: v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in weights.items()}


def _finite(weights: dict[str, Any], path: Path) -> dict[str, Any]:
    """`weights`, unless one holds nan or inf: such a model could only ever write NaN audio (refused wherever a model
    is read: enhance, import-checkpoint, train --init-from)."""
    broken = [k for k, v in weights.items()
              if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise BadInput(f"{path}: {len(broken)} of its weights hold nan or inf (e.g. {broken[0]}): the model is "
                       f"unusable")
    return weights


def _write_model(out: Path, config: dict[str, Any], weights: dict[str, torch.Tensor], card: dict[str, Any]) -> int:
    """Atomically, like checkpoints; returns the file's size."""
    _save({"format": MODEL_FORMAT, "cmkt_version": __version__, "config": config, "weights": weights, "card": card},
          out, out.with_name(out.name + ".tmp"))
    return out.stat().st_size


def read_card(path: Path) -> dict[str, Any]:
    """Model-card facts from a JSON object file (`cmkt export --card`)."""
    import json

    try:
        facts = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BadInput(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(facts, dict):
        raise BadInput(f"{path}: the model card must be a JSON object")
    return facts


def load_for_inference(path: Path, device: torch.device) -> SpeechEnhancer:
    """Rebuild the model from a model file's or checkpoint's config and load its EMA weights, ready for `enhance`.

    The cross-modal aligners (training only) are not built and their weights not loaded.
    The model card (empty for a checkpoint) is kept as `model.card`.
    """
    payload = read_model(path)
    try:
        model = SpeechEnhancer(EnhancerConfig.from_dict(payload["config"]), training_parts=False,
                               weights=payload["weights"])
    except BadInput as err:  # a name the registries do not know, e.g. an unknown preset or modality
        raise BadInput(f"{path}: its model config cannot be built ({err})") from None
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise BadInput(f"{path}: its model config cannot be built ({type(err).__name__}: {err})") from None
    try:
        weights = {k: v for k, v in payload["weights"].items() if not is_training_only(k)}
        expected = model.state_dict()
        kinds = {"missing": [k for k in expected if k not in weights],
                 "unexpected": [k for k in weights if k not in expected],
                 "of the wrong shape": [f"{k} {tuple(v.shape)} not {tuple(expected[k].shape)}"
                                        for k, v in weights.items()
                                        if k in expected and tuple(v.shape) != tuple(expected[k].shape)]}
        problems = [f"{len(keys)} {kind}: {', '.join(keys[:2])}{', ...' if len(keys) > 2 else ''}"
                    for kind, keys in kinds.items() if keys]
        if not problems:
            model.load_state_dict(weights)
    except (RuntimeError, AttributeError, TypeError) as err:
        problems = [f"{type(err).__name__}: {str(err).strip().splitlines()[0][:200] if str(err).strip() else ''}"]
    if problems:  # renamed keys, another preset's shapes: say which, in one line
        raise BadInput(f"{path}: its weights do not fit the model its config describes ({'; '.join(problems)})")
    model.card = payload["card"]
    if not model.config.generative and "sampling" not in model.card:  # a training checkpoint: its only sampler
        model.card = {**model.card, "sampling": {"sampler": "predictive", "steps": 1}}
    return ready_for_inference(model, device)


def ready_for_inference(model: SpeechEnhancer, device: torch.device) -> SpeechEnhancer:
    """On `device`, in eval mode, without gradients, the U-Nets channels_last (18 % faster for the paper preset on
    CPU, docs/performance.md; the lip encoder's Conv3d stays contiguous)."""
    for network in model.networks:
        network.to(memory_format=torch.channels_last)
    return model.to(device).eval().requires_grad_(False)
