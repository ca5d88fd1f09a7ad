"""Backbone registry: networks selectable by name from configs (`BACKBONES.get("ncsnpp")`).

A backbone class declares what the rest of cmkt needs to know of it, so nothing else
special-cases a backbone by name:

- `presets` (name -> its shape config; preset names are unique across backbones, so a preset
  names its backbone), `front_end` (the STFT and level handling it is designed for),
  `generative` (it takes a diffusion time and can serve as the score network), `causal`
  (output frame t depends on input frames up to t only: it can stream), `multiple` (frame
  counts must divide by it);
- `build(config, in_complex, time_conditional)`: the network of an `EnhancerConfig`;
- `bottleneck_geometry(bins)` -> (channels, bins, frames per hook frame) of the features that
  `bottleneck_modules` (text transfer) and `attach_visual(module)` (lips) hook into, read as
  (B, C, F', T') by the hook modules.
- optionally `taps_layers` (True: `forward` keeps its layers' outputs, by stage, in
  `context["taps"]`, which feature distillation (`--kd tfckd`) matches layer by layer).
"""

from __future__ import annotations

from torch import nn

from pipelines import choices
from pipelines.errors import BadInput
from pipelines.registry import Registry

BACKBONES: Registry[nn.Module] = Registry("backbone", choices.BACKBONES)
register_backbone = BACKBONES.register


def backbone_of_preset(preset: str) -> str:
    """The backbone whose presets include `preset` (BadInput naming every preset otherwise)."""
    for name in BACKBONES.names():
        if preset in BACKBONES.get(name).presets:
            return name
    known = ", ".join(name for backbone in BACKBONES.names() for name in BACKBONES.get(backbone).presets)
    raise BadInput(f"--preset must be one of {known}, got {preset!r}")


def all_presets() -> list[str]:
    return [name for backbone in BACKBONES.names() for name in BACKBONES.get(backbone).presets]
