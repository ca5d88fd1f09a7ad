"""Feature distillation after I²SRF-TFCKD (Cheng et al. 2025): correlated sets, recursive fusion, and weights
from teacher-student similarity along time and along frequency, cross-applied (`train --kd tfckd`).

The backbone taps its layers by stage (`context["taps"]`: encoder, bottleneck, decoder); each
stage is a correlated set. Every feature (B, C, T, F') is standardised per item, the student's
projected to the teacher's width (a learnt 1x1 convolution per student layer) and resampled to
the teacher layer's bands. A pair's distance has two streams: the MSE of the time profiles
(the features averaged over bands) and of the frequency profiles (averaged over frames).

- Intra-set: each student layer is matched with every teacher layer of its set. The time
  stream of a pair is weighted by how alike the pair's frequency profiles are, and the
  frequency stream by how alike the time profiles are (cosine similarities, softmax over the
  set's teacher layers, not trained through): the dual-stream cross-calibration.
- Inter-set: each set's student layers are averaged into one representative; from the deepest
  set up, a learnt gate fuses it with the fused feature of the set below it (recursive
  fusion). The fused student features are matched, calibrated the same way, with the
  teachers' set representatives.

L_kd = L_intra + L_inter, averaged over layers. The parameters here train with the student
and are dropped from the model file (training-only). This is an adaptation made from the
paper's abstract: the authors' demo code compares relation matrices with a symmetric KL and
learns its calibration weights. docs/model.md lists where the two differ and what was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Taps = dict[str, list[Tensor]]  # stage -> layer outputs (B, C, T, F'), shallow to deep


@dataclass
class TeacherOutput:
    """What a teacher made of the student's crops: its enhanced waveforms (B, N), and for tfckd its layers."""

    enhanced: Tensor
    taps: Taps | None = None


def standardise(h: Tensor) -> Tensor:
    """Zero mean, unit variance per item over (C, T, F'): distances compare shapes, not levels."""
    mean = h.mean(dim=(1, 2, 3), keepdim=True)
    return (h - mean) / h.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-5)


def resample_bands(h: Tensor, bands: int) -> Tensor:
    return h if h.shape[-1] == bands else F.interpolate(h, size=(h.shape[2], bands), mode="bilinear",
                                                        align_corners=False)


def calibrated_distance(students: list[Tensor], teachers: list[Tensor], temperature: float = 0.1) -> Tensor:
    """Mean over students of sum_j w^F_ij D^T_ij + w^T_ij D^F_ij against the teachers j (all at the teachers'
    width). D^T, D^F: MSE of time / frequency profiles; w^T, w^F: softmax over j of their cosine similarity."""
    losses = []
    for student in students:
        d_time, d_freq, s_time, s_freq = [], [], [], []
        for teacher in teachers:
            s = resample_bands(student, teacher.shape[-1])
            time_s, time_t = s.mean(-1).flatten(1), teacher.mean(-1).flatten(1)  # (B, C*T)
            freq_s, freq_t = s.mean(2).flatten(1), teacher.mean(2).flatten(1)  # (B, C*F')
            d_time.append((time_s - time_t).square().mean())
            d_freq.append((freq_s - freq_t).square().mean())
            s_time.append(F.cosine_similarity(time_s, time_t, dim=1).mean().detach())
            s_freq.append(F.cosine_similarity(freq_s, freq_t, dim=1).mean().detach())
        w_time = torch.softmax(torch.stack(s_time) / temperature, 0)
        w_freq = torch.softmax(torch.stack(s_freq) / temperature, 0)
        losses.append((w_freq * torch.stack(d_time)).sum() + (w_time * torch.stack(d_freq)).sum())
    return torch.stack(losses).mean()


class FusionGate(nn.Module):
    """Fuses a set's representative with the fused feature of the set below it: a per-bin gate from both."""

    def __init__(self, channels: int):
        super().__init__()
        self.gate = nn.Conv2d(2 * channels, 1, 1)

    def forward(self, own: Tensor, deeper: Tensor) -> Tensor:
        deeper = resample_bands(deeper, own.shape[-1])
        weight = torch.sigmoid(self.gate(torch.cat([own, deeper], dim=1)))
        return weight * own + (1 - weight) * deeper


class TimeFrequencyCalibratedKD(nn.Module):
    """L_kd between a student's and a teacher's tapped layers; `student_widths`/`teacher_widths`: channels of each
    tapped layer by stage (the stages both tap, in the student's order)."""

    def __init__(self, student_widths: dict[str, list[int]], teacher_widths: dict[str, list[int]]):
        super().__init__()
        self.stages = [stage for stage in student_widths if stage in teacher_widths]
        if not self.stages:
            raise ValueError("tfckd needs a teacher that taps the same stages as the student")
        self.projections = nn.ModuleDict({
            stage: nn.ModuleList(nn.Conv2d(width, teacher_widths[stage][0], 1) for width in student_widths[stage])
            for stage in self.stages})
        self.gates = nn.ModuleList(FusionGate(teacher_widths[stage][0]) for stage in self.stages[:-1])

    def forward(self, student: Taps, teacher: Taps) -> Tensor:
        projected = {stage: [standardise(p(h)) for p, h in zip(self.projections[stage], student[stage])]
                     for stage in self.stages}
        targets = {stage: [standardise(h) for h in teacher[stage]] for stage in self.stages}
        intra = torch.stack([calibrated_distance(projected[stage], targets[stage]) for stage in self.stages]).mean()
        fused = [_representative(projected[self.stages[-1]])]
        for gate, stage in zip(reversed(self.gates), reversed(self.stages[:-1])):
            fused.insert(0, gate(_representative(projected[stage]), fused[0]))
        inter = calibrated_distance(fused, [_representative(targets[stage]) for stage in self.stages])
        return intra + inter


def _representative(features: list[Tensor]) -> Tensor:
    """A set's features averaged, at the bands of its deepest layer."""
    bands = features[-1].shape[-1]
    return torch.stack([resample_bands(h, bands) for h in features]).mean(0)
