"""Knowledge distillation: a frozen teacher model's enhanced output as an extra target for the student.

The teacher is any model cmkt loads (a trained or bundled model, an imported GTCRN, SGMSE+
or StoRM checkpoint), run on the same noisy crops as the student with the sampler its card
names and no attenuation limit. Its waveform goes through the *student's* front end
(SpeechEnhancer.losses), so teacher and student may differ in STFT, size and backbone.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from pipelines.checkpoints import load_for_inference
from pipelines.pretrained import card_sampling


class Teacher:
    def __init__(self, path: Path, device: torch.device):
        self.path = path
        self.model = load_for_inference(path, device)
        self.sampling = replace(card_sampling(self.model.card, None), attenuation_limit=float("inf"))

    @torch.no_grad()
    def __call__(self, noisy: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The teacher's enhanced crops (B, N), at the crops' level."""
        scale = (noisy.abs().amax(-1, keepdim=True).clamp_min(1e-8) if self.model.config.normalisation == "peak"
                 else torch.ones(len(noisy), 1, device=noisy.device))
        enhanced, _ = self.model.enhance(noisy / scale, self.sampling.sampler, generator,
                                         **self.sampling.sampler_kwargs())
        return enhanced * scale
