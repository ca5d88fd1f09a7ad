"""The model cmkt ships: `cmkt enhance noisy.wav` enhances with it when no --ckpt is given.

An inference-only model file (pipelines/checkpoints.py) inside the installed
package, so it loads with no network. How it was made and how well it does: its model
card (`cmkt export` wrote it) and docs/pretrained.md; the recipe that trains it again:
recipes/debian_corpus/.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipelines.errors import BadInput
from pipelines.inference import SamplingOptions

DEFAULT_MODEL = Path(__file__).resolve().parent / "weights" / "cmkt-a-small-debian.pt"


def default_model() -> Path:
    if not DEFAULT_MODEL.is_file():
        raise BadInput(f"the bundled model {DEFAULT_MODEL} is missing (a partial install?): reinstall cmkt or give "
                       f"--ckpt")
    return DEFAULT_MODEL


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
