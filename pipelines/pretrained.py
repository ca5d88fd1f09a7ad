"""The models cmkt ships, by name: `cmkt enhance noisy.wav` uses the default, `--model NAME` another one.

Inference-only model files (pipelines/checkpoints.py) inside the installed package, so they load with no
network; a model's name is its file's stem in pipelines/weights/. How each was made and how well it does: its
model card (`cmkt export` wrote it; `cmkt models` lists them) and docs/pretrained.md; the recipes that train them
again: recipes/debian_corpus/.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipelines.errors import BadInput
from pipelines.inference import SamplingOptions

WEIGHTS = Path(__file__).resolve().parent / "weights"
DEFAULT_NAME = "cmkt-gtcrn-ssl-kd-debian"
DEFAULT_MODEL = WEIGHTS / f"{DEFAULT_NAME}.pt"
# what `cmkt enhance -` (standard input, frame by frame) uses when no model is named: streaming needs a causal model,
# and the default's speech encoder attends over whole chunks
STREAMING_NAME = "cmkt-gtcrn-debian"


def bundled_names() -> list[str]:
    """The bundled models' names, the default first."""
    names = sorted(path.stem for path in WEIGHTS.glob("*.pt"))
    return sorted(names, key=lambda name: name != DEFAULT_NAME)


def bundled_model(name: str | None = None, streaming: bool = False) -> Path:
    """The model file of the bundled model `name` (None: the default, or with `streaming` the causal default)."""
    name = name or (STREAMING_NAME if streaming else DEFAULT_NAME)
    if name not in bundled_names():
        known = ", ".join(bundled_names()) or "none: a partial install? reinstall cmkt"
        raise BadInput(f"no bundled model named {name!r} (bundled: {known}); a model file of your own goes to --ckpt")
    return WEIGHTS / f"{name}.pt"


def model_file(name_or_path: str | Path | None) -> Path:
    """What a user named: None or "bundled" the default, an existing path itself, a bundled model's name its
    file, anything else a path (read, and refused if unreadable, by whoever loads it)."""
    if name_or_path is None or str(name_or_path) == "bundled":
        return bundled_model()
    path = Path(name_or_path)
    if not path.exists() and str(name_or_path) in bundled_names():
        return bundled_model(str(name_or_path))
    return path


def bundled_summaries() -> list[dict]:
    """One row per bundled model, from its file (not its networks): what `cmkt models` lists."""
    from pipelines.checkpoints import read_model

    rows = []
    for name in bundled_names():
        model = read_model(WEIGHTS / f"{name}.pt")
        config, card = model["config"], model["card"]
        rows.append({"name": name, "default": name == DEFAULT_NAME,
                     "backbone": f"{config.get('backbone') or 'ncsnpp'}/{config['preset']}",
                     "parameters": sum(v.numel() for v in model["weights"].values()),
                     "sampler": recommended_sampling(card).tag, "trained_steps": card.get("trained_steps"),
                     "model": card.get("model", "")})
    return rows


def recommended_sampling(card: dict) -> SamplingOptions:
    """The sampler a model file's card names (measured best for that model); the paper's PC 30 + ALD otherwise."""
    return SamplingOptions.from_dict(card["sampling"]) if "sampling" in card else SamplingOptions()


def card_sampling(card: dict, chosen: SamplingOptions | None,
                  attenuation_limit: float | None = None) -> SamplingOptions:
    """`chosen`, or the card's sampler when none was chosen. What `chosen` leaves open (None) is the card's: a PC
    sampler without a step rule takes the card's, so an imported SGMSE+ or StoRM model keeps upstream's step rule
    with other step counts too, and any sampler takes the card's attenuation limit. `attenuation_limit`, when
    given, overrides both (`cmkt enhance --attenuation-limit` without --sampler)."""
    recommended = recommended_sampling(card)
    sampling = recommended if chosen is None else chosen
    if sampling.step_rule is None:
        sampling = replace(sampling, step_rule=recommended.step_rule)
    if attenuation_limit is None:
        attenuation_limit = sampling.attenuation_limit
    if attenuation_limit is None:
        attenuation_limit = recommended.attenuation_limit
    return replace(sampling, attenuation_limit=attenuation_limit)
