"""Knowledge distillation: frozen teacher models run on the student's noisy crops (`train --teacher --kd`).

A teacher is any model cmkt loads (a trained or bundled model, an imported GTCRN, SGMSE+ or
StoRM checkpoint), run with the sampler its card names and no attenuation limit. Its waveform
goes through the *student's* front end (SpeechEnhancer.losses), so teacher and student may
differ in STFT, size and backbone. What each --kd takes from it:

- output: the enhanced crops;
- tfckd: also the outputs of its layers (a predictive teacher whose backbone taps them), which
  models/tf_calibrated_kd.py matches with the student's;
- subband: N elite sub-band teachers (`train --subband-teacher K/N`), given as a comma-separated
  list; each enhances its own band, and the bands put together are the target.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from pipelines.checkpoints import load_for_inference
from pipelines.errors import BadInput
from pipelines.models.tf_calibrated_kd import TeacherOutput
from pipelines.pretrained import card_sampling
from pipelines.spectral import crop_frames, pad_frames


class Teacher:
    def __init__(self, path: Path, device: torch.device, with_taps: bool = False):
        self.path, self.with_taps = path, with_taps
        self.model = load_for_inference(path, device)
        self.sampling = replace(card_sampling(self.model.card, None), attenuation_limit=float("inf"))
        if with_taps and (self.model.config.generative or not getattr(self.model.denoiser, "taps_layers", False)):
            raise BadInput(f"--kd tfckd needs a predictive teacher whose layers can be read (a conv-recurrent model); "
                           f"{path} is {self.model.config.backbone} ({self.model.config.preset}): use --kd output")

    @property
    def tap_widths(self) -> dict[str, list[int]]:
        return self.model.tap_widths()

    @torch.no_grad()
    def __call__(self, noisy: Tensor, generator: torch.Generator | None = None) -> TeacherOutput:
        """The teacher's enhanced crops (B, N) at the crops' level, and its layers' outputs when asked for."""
        model = self.model
        scale = (noisy.abs().amax(-1, keepdim=True).clamp_min(1e-8) if model.config.normalisation == "peak"
                 else torch.ones(len(noisy), 1, device=noisy.device))
        if not self.with_taps:
            enhanced, _ = model.enhance(noisy / scale, self.sampling.sampler, generator,
                                        **self.sampling.sampler_kwargs())
            return TeacherOutput(enhanced * scale)
        y, frames = pad_frames(model.spec.to_spec(noisy / scale), model.frame_multiple)
        context: dict = {"taps": {}}
        y_hat = model.denoise(y, context)
        return TeacherOutput(model.spec.to_wave(crop_frames(y_hat, frames), noisy.shape[-1]) * scale,
                             context["taps"])


class SubbandTeachers:
    """N elite teachers, band 1 to N of the same split: their enhanced bands summed are one full-band target."""

    def __init__(self, paths: list[Path], device: torch.device):
        self.teachers = [Teacher(path, device) for path in paths]
        self.path = ", ".join(str(path) for path in paths)
        bands = [tuple(t.model.config.subband) for t in self.teachers]
        count = len(paths)
        if sorted(bands) != [(k, count) for k in range(1, count + 1)]:
            shown = ", ".join(f"{b[0]}/{b[1]}" if b else "full band" for b in bands)
            raise BadInput(f"--kd subband needs one elite teacher per band, bands 1/{count} to {count}/{count} "
                           f"(`train --subband-teacher K/{count}`); the --teacher models are: {shown}")
        self.model = self.teachers[0].model

    @torch.no_grad()
    def __call__(self, noisy: Tensor, generator: torch.Generator | None = None) -> TeacherOutput:
        return TeacherOutput(sum(teacher(noisy, generator).enhanced for teacher in self.teachers))


def load_teacher(paths: list[Path], kind: str, device: torch.device) -> Teacher | SubbandTeachers:
    """The teacher(s) of `--kd kind`: one model, or for subband one per band."""
    if kind == "subband":
        return SubbandTeachers(paths, device)
    if len(paths) != 1:
        raise BadInput(f"--kd {kind} distils from one --teacher; a list of models is for --kd subband")
    return Teacher(paths[0], device, with_taps=kind == "tfckd")
