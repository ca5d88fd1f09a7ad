"""Audio-visual cross-attention inside the U-Nets (DLAV-SE eq. 15): h~ = CA(v, h).

At one U-Net level (by default the deepest, whose output becomes the bottleneck H),
the feature map (B, C, F', T') is read as T' audio frames of C * F' features. Audio
frames are the queries; the lip embeddings (25 fps) are keys and values. The two streams
run at different rates, so both get the same sinusoidal encoding of *time in seconds*
from the start of the chunk: a query at t and a key at t' then have matching position
codes exactly when t = t', which makes the correspondence easy to learn without fixing
it. A learnt "no video" key is always present, so a crop without lip frames (or a
checkpoint used without video) attends to it instead of to nothing. The output
projection starts at zero: training begins from the audio-only network.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

SLOWEST_PERIOD_S = 100.0  # time encodings cover periods from 2 video frames up to this


def time_encoding(seconds: Tensor, dim: int, fastest_period_s: float = 0.08) -> Tensor:
    """Sinusoids of time in seconds, (...,) -> (..., dim), periods geometric from fastest to SLOWEST_PERIOD_S."""
    periods = torch.exp(torch.linspace(math.log(fastest_period_s), math.log(SLOWEST_PERIOD_S), dim // 2,
                                       device=seconds.device))
    angles = 2 * math.pi * seconds[..., None] / periods
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class AudioVisualCrossAttention(nn.Module):
    def __init__(self, channels: int, bins: int, visual_dim: int, seconds_per_frame: float, dim: int = 256,
                 heads: int = 4):
        super().__init__()
        audio_dim = channels * bins
        self.seconds_per_frame = seconds_per_frame
        self.dim = dim
        self.audio_in = nn.Linear(audio_dim, dim)
        self.visual_in = nn.Linear(visual_dim, dim)
        self.query_norm = nn.LayerNorm(dim)
        self.key_norm = nn.LayerNorm(dim)
        self.no_video = nn.Parameter(torch.zeros(1, 1, dim))
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.out = nn.Linear(dim, audio_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: Tensor, context: dict[str, Any] | None) -> Tensor:
        """h (B, C, F', T'); context["video"] (B, T_v, visual_dim), ["video_times"] (B, T_v), ["video_mask"] (B, T_v)."""
        batch, channels, bins, frames = h.shape
        sequence = h.permute(0, 3, 1, 2).reshape(batch, frames, channels * bins)
        times = (torch.arange(frames, device=h.device, dtype=sequence.dtype) + 0.5) * self.seconds_per_frame
        queries = self.query_norm(self.audio_in(sequence)) + time_encoding(times, self.dim).to(sequence.dtype)
        keys, mask = self._keys(batch, context, sequence)
        attended, _ = self.attention(queries, keys, keys, key_padding_mask=~mask, need_weights=False)
        return h + self.out(attended).reshape(batch, frames, channels, bins).permute(0, 2, 3, 1)

    def _keys(self, batch: int, context: dict[str, Any] | None, like: Tensor) -> tuple[Tensor, Tensor]:
        """Projected lip frames plus the always-present 'no video' key, and which keys are real."""
        no_video = self.no_video.to(like.dtype).expand(batch, 1, self.dim)
        present = torch.ones(batch, 1, dtype=torch.bool, device=like.device)
        if context is None or "video" not in context:
            return no_video, present
        video = self.key_norm(self.visual_in(context["video"].to(like.dtype)))
        video = video + time_encoding(context["video_times"].to(like.dtype), self.dim).to(like.dtype)
        return torch.cat([video, no_video], dim=1), torch.cat([context["video_mask"], present], dim=1)
