"""Speech-encoder states fused with the spectrogram features at a backbone's bottleneck (the SSL seed, Hung et al.
2022: the embeddings alone lack the detail to rebuild speech, beside the spectrogram they help).

A learnt weighted sum of the chosen layers (softmax weights, equal at the start), normalised, then a per-frame
scale and shift of every bottleneck channel (feature-wise modulation): h * (1 + gamma_t) + beta_t. The projection
starts at zero, so a model initialised from an audio-only one (`--init-from`) begins exactly where that one was.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SSLFusion(nn.Module):
    def __init__(self, channels: int, layers: int, width: int, stride: int = 1):
        """`channels`: the bottleneck's; `layers`, `width`: of the states in context["ssl"] (B, layers, T, width),
        at the STFT frames; `stride`: STFT frames per bottleneck frame (the U-Net downsamples time)."""
        super().__init__()
        self.layer_logits = nn.Parameter(torch.zeros(layers))
        self.norm = nn.LayerNorm(width)
        self.modulation = nn.Linear(width, 2 * channels)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.stride = stride

    def layer_weights(self) -> Tensor:
        return torch.softmax(self.layer_logits, dim=0)

    def forward(self, h: Tensor, context: dict[str, Any] | None) -> Tensor:
        """h: (B, C, F', T') bottleneck features; context["ssl"]: (B, L, T, D) states at the STFT frames."""
        states = torch.einsum("l,bltd->btd", self.layer_weights(), context["ssl"].to(h.dtype))
        if self.stride > 1:
            states = F.avg_pool1d(states.transpose(1, 2), self.stride, ceil_mode=True).transpose(1, 2)
        frames = h.shape[-1]
        if states.shape[1] < frames:  # padded spectrogram frames: the last state held
            states = torch.cat([states, states[:, -1:].expand(-1, frames - states.shape[1], -1)], dim=1)
        gamma, beta = self.modulation(self.norm(states[:, :frames])).transpose(1, 2).chunk(2, dim=1)
        return h * (1 + gamma[:, :, None]) + beta[:, :, None]
