"""Building blocks of the NCSN++ U-Net (Song et al. 2021), written from the paper's description.

- `GaussianFourierEmbedding`: random Fourier features of log(t) (fixed, not trained).
- `FirDownsample2d` / `FirUpsample2d`: anti-aliased resampling by 2 with a separable FIR
  kernel (default [1, 3, 3, 1]), as depthwise (transposed) convolutions.
- `ResidualBlock`: BigGAN-style time-conditioned residual block, optionally resampling.
- `SelfAttention2d`: single-head self-attention over all positions of a feature map.

Conventions shared by all blocks: GroupNorm with min(C // 4, 32) groups and eps 1e-6,
SiLU activations, residual sums scaled by 1/sqrt(2) so activations keep their variance
through the depth of the net, and Glorot-uniform init with the last layer of every
residual branch zeroed, so each block starts as (a rescaled) identity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SKIP_SCALE = 1.0 / math.sqrt(2.0)


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=min(channels // 4, 32), num_channels=channels, eps=1e-6)


def conv2d(in_channels: int, out_channels: int, kernel_size: int, zero_init: bool = False) -> nn.Conv2d:
    """'Same' convolution with Glorot-uniform (or zero) weights and zero bias."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    init_weights(conv, zero_init)
    return conv


def linear(in_features: int, out_features: int, zero_init: bool = False) -> nn.Linear:
    layer = nn.Linear(in_features, out_features)
    init_weights(layer, zero_init)
    return layer


def init_weights(layer: nn.Conv2d | nn.Linear, zero_init: bool = False) -> None:
    if zero_init:
        nn.init.zeros_(layer.weight)
    else:
        nn.init.xavier_uniform_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class GaussianFourierEmbedding(nn.Module):
    """Embeds a positive scalar per batch item as [sin, cos](2 pi log(t) w), w ~ N(0, scale^2).

    The log makes the embedding resolve the small t (low noise) region as finely as the
    large one. The frequencies are fixed at construction and stored in the state dict.
    """

    frequencies: Tensor

    def __init__(self, num_frequencies: int, scale: float) -> None:
        super().__init__()
        self.register_buffer("frequencies", torch.randn(num_frequencies) * scale)

    @property
    def dim(self) -> int:
        return 2 * self.frequencies.numel()

    def forward(self, t: Tensor) -> Tensor:
        phase = torch.log(t.to(self.frequencies.dtype))[:, None] * (2.0 * math.pi * self.frequencies)[None, :]
        return torch.cat([phase.sin(), phase.cos()], dim=1)


def fir_kernel_2d(taps: Sequence[float]) -> Tensor:
    """Normalised separable 2-D kernel (sums to 1) from 1-D taps."""
    k = torch.as_tensor(taps, dtype=torch.float32)
    k2 = torch.outer(k, k)
    return k2 / k2.sum()


class FirDownsample2d(nn.Module):
    """Low-pass filter then keep every second sample, per channel; halves H and W.

    Equivalent to upfirdn2d(x, k, down=2) with padding (1, 1) for a 4-tap kernel.
    """

    kernel: Tensor

    def __init__(self, channels: int, taps: Sequence[float]) -> None:
        super().__init__()
        kernel = fir_kernel_2d(taps)
        if kernel.shape[0] % 2:
            raise ValueError("FIR resampling by 2 needs an even number of taps")
        self.padding = (kernel.shape[0] - 2) // 2
        self.register_buffer("kernel", kernel.expand(channels, 1, -1, -1).clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.kernel, stride=2, padding=self.padding, groups=x.shape[1])


class FirUpsample2d(nn.Module):
    """Zero-insertion upsampling by 2 followed by the FIR low-pass (gain 4 keeps the DC level).

    A transposed depthwise convolution does both in one step; it equals
    upfirdn2d(x, 4 k, up=2) with padding (2, 1) for a 4-tap kernel.
    """

    kernel: Tensor

    def __init__(self, channels: int, taps: Sequence[float]) -> None:
        super().__init__()
        kernel = fir_kernel_2d(taps) * 4.0
        if kernel.shape[0] % 2:
            raise ValueError("FIR resampling by 2 needs an even number of taps")
        self.padding = (kernel.shape[0] - 2) // 2
        self.register_buffer("kernel", kernel.expand(channels, 1, -1, -1).clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.kernel, stride=2, padding=self.padding, groups=x.shape[1])


class ResidualBlock(nn.Module):
    """BigGAN-style residual block conditioned on the time embedding.

    GN -> SiLU -> (resample) -> conv3x3 -> + Dense(time) -> GN -> SiLU -> dropout -> conv3x3,
    added to the (resampled, 1x1-projected when the shape changes) input and scaled by 1/sqrt(2).
    Resampling happens after the first activation on both branches, as in BigGAN. With
    time_dim 0 the block has no time input (StoRM's denoiser).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        time_dim: int,
        resample: str | None = None,
        fir_taps: Sequence[float] = (1, 3, 3, 1),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm_in = group_norm(in_channels)
        self.resample: nn.Module | None
        if resample == "down":
            self.resample = FirDownsample2d(in_channels, fir_taps)
        elif resample == "up":
            self.resample = FirUpsample2d(in_channels, fir_taps)
        elif resample is None:
            self.resample = None
        else:
            raise ValueError(f"resample must be 'up', 'down' or None, got {resample!r}")
        self.conv_in = conv2d(in_channels, out_channels, 3)
        self.time_proj = linear(time_dim, out_channels) if time_dim else None
        self.norm_out = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv_out = conv2d(out_channels, out_channels, 3, zero_init=True)
        needs_projection = in_channels != out_channels or resample is not None
        self.skip = conv2d(in_channels, out_channels, 1) if needs_projection else None

    def forward(self, x: Tensor, time_features: Tensor | None) -> Tensor:
        """`time_features` is SiLU(time embedding), computed once per forward by the U-Net (None: no time input)."""
        h = F.silu(self.norm_in(x))
        if self.resample is not None:
            h = self.resample(h)
            x = self.resample(x)
        h = self.conv_in(h)
        if self.time_proj is not None:
            h += self.time_proj(time_features)[:, :, None, None]  # in place: fresh tensors, no saved outputs
        h = self.conv_out(self.dropout(F.silu(self.norm_out(h))))
        if self.skip is not None:
            x = self.skip(x)
        return h.add_(x).mul_(SKIP_SCALE)


class SelfAttention2d(nn.Module):
    """Single-head dot-product self-attention over the H*W positions, residual, scaled by 1/sqrt(2).

    Works in (B, H*W, C) token layout: free to reach from channels_last tensors, one copy
    from contiguous ones. The query/key/value projections are fused into one matrix.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        for part in self.qkv.weight.data.chunk(3, dim=0):  # Glorot per projection, as if separate
            nn.init.xavier_uniform_(part)
        nn.init.zeros_(self.qkv.bias)
        self.out = linear(channels, channels, zero_init=True)

    def forward(self, x: Tensor) -> Tensor:
        b, c, height, width = x.shape
        tokens = self.norm(x).permute(0, 2, 3, 1).reshape(b, 1, height * width, c)
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        attended = self.out(F.scaled_dot_product_attention(q, k, v))
        h = attended.reshape(b, height, width, c).permute(0, 3, 1, 2)
        return x.add(h).mul_(SKIP_SCALE)  # x first: the result keeps x's memory format
