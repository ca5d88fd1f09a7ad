"""NCSN++ U-Net (Song et al. 2021) as configured by SGMSE, over complex spectrograms.

Inputs are complex (B, in_complex, F, T) tensors, packed as 2 * in_complex real channels
(real, imag of each complex channel in turn); the output is one complex channel
(B, 1, F, T). The score model feeds [x_t, y_hat] (in_complex = 2) or [x_t, y, y_hat]
(3, StoRM), the predictive denoiser feeds y (in_complex = 1); both are conditioned on t
through a Gaussian Fourier embedding of log(t) (the denoiser runs at t = 1), unless
`time_conditional` is off (StoRM's denoiser has no time input). `centered` False shifts
the real inputs to 2u - 1 first, as NCSN++ does for data in [0, 1] (SGMSE's `--no-centered`
and all of StoRM's networks), so such checkpoints compute what they were trained to.

Architecture (the "paper" preset): nf 128, channel multipliers (1, 1, 2, 2, 2, 2, 2),
two BigGAN residual blocks per level with FIR ([1, 3, 3, 1]) down/up-sampling blocks
between levels, self-attention at resolution 16 and in the middle, a progressive
"input skip" (the input, FIR-downsampled, 1x1-projected and summed into each new level)
and a progressive "output skip" (every up level adds a 3x3-conv read-out to a FIR-upsampled
output pyramid, which is the network output). F and T must divide by `multiple`
(2 ** (levels - 1)); see `pipelines.spectral.pad_frames`.

Extension hooks (empty by default, so the plain net is unchanged):

- `bottleneck_modules` (nn.ModuleList): after the down path and the middle blocks, the
  bottleneck feature H (B, bottleneck_channels, F / multiple, T / multiple), for the paper
  preset on 256 x 256 inputs (B, 256, 4, 4), passes through each module in turn as
  `h = m(h, context)`. This is where cross-modal knowledge transfer attaches.
- `level_modules` (nn.ModuleDict): keyed by a level's resolution as a string, the nominal
  frequency size at that level (`level_resolutions`: "256", "128", ..., "4" for the paper
  preset; `level_channels` gives each level's width). The module runs as
  `h = m(h, context)` after each of the level's num_res_blocks down-path residual blocks
  (not after the downsampling block) and once after the level's up-path blocks, each time
  right after the self-attention block where the level has one (so at resolution 16 it
  follows every attention block). The same module (same weights) serves all
  num_res_blocks + 1 call sites. Meant for audio-visual cross-attention.

`context` is the dict given to `forward` (or None); hook modules may read conditioning
from it and write auxiliary outputs (e.g. extra losses) into it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipelines.models.ncsnpp_layers import (
    FirDownsample2d,
    FirUpsample2d,
    GaussianFourierEmbedding,
    ResidualBlock,
    SelfAttention2d,
    conv2d,
    group_norm,
    linear,
)
from pipelines.models.registry import register_backbone
from pipelines.spectral import FrontEnd


@dataclass(frozen=True)
class NCSNppConfig:
    """Shape of the U-Net; block types are fixed (those of the paper configuration)."""

    nf: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 2, 2, 2)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    image_size: int = 256  # nominal input size; names each level by its resolution
    dropout: float = 0.0
    fir_taps: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)
    fourier_scale: float = 16.0
    centered: bool = True  # False: the real inputs u enter as 2u - 1
    time_conditional: bool = True  # False: no time embedding, blocks without a time input

    @property
    def num_levels(self) -> int:
        return len(self.ch_mult)

    @property
    def multiple(self) -> int:
        return 2 ** (self.num_levels - 1)

    def resolution(self, level: int) -> int:
        return self.image_size // 2**level


PRESETS: dict[str, NCSNppConfig] = {
    "paper": NCSNppConfig(),
    # CPU-sized: thin at full resolution (where convolutions cost most), wider deeper down.
    "small": NCSNppConfig(nf=16, ch_mult=(1, 2, 4, 8, 8), num_res_blocks=1),
}
FRONT_END = FrontEnd(n_fft=510, hop_length=128, window="hann", spec_exponent=0.5, spec_factor=0.15,
                     normalisation="peak")


class DownLevel(nn.Module):
    """Modules of one down-path level; `NCSNpp.forward` drives them so hooks can interleave."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        num_blocks: int,
        attention: bool,
        downsample: bool,
        input_channels: int,
        time_dim: int,
        config: NCSNppConfig,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            ResidualBlock(
                in_channels if i == 0 else channels,
                channels,
                time_dim,
                fir_taps=config.fir_taps,
                dropout=config.dropout,
            )
            for i in range(num_blocks)
        )
        self.attentions = nn.ModuleList(SelfAttention2d(channels) for _ in range(num_blocks if attention else 0))
        self.downsample = (
            ResidualBlock(
                channels, channels, time_dim, resample="down", fir_taps=config.fir_taps, dropout=config.dropout
            )
            if downsample
            else None
        )
        # progressive input skip: the downsampled network input, projected and summed in
        self.input_skip = conv2d(input_channels, channels, 1) if downsample else None


class UpLevel(nn.Module):
    """Modules of one up-path level, including its read-out into the output pyramid."""

    def __init__(
        self,
        in_channels: int,
        skip_channels: list[int],
        channels: int,
        attention: bool,
        upsample: bool,
        output_channels: int,
        time_dim: int,
        config: NCSNppConfig,
    ) -> None:
        super().__init__()
        block_inputs = [in_channels] + [channels] * (len(skip_channels) - 1)
        self.blocks = nn.ModuleList(
            ResidualBlock(block_in + skip, channels, time_dim, fir_taps=config.fir_taps, dropout=config.dropout)
            for block_in, skip in zip(block_inputs, skip_channels, strict=True)
        )
        self.attention = SelfAttention2d(channels) if attention else None
        self.output_norm = group_norm(channels)
        self.output_conv = conv2d(channels, output_channels, 3, zero_init=True)
        self.upsample = (
            ResidualBlock(channels, channels, time_dim, resample="up", fir_taps=config.fir_taps, dropout=config.dropout)
            if upsample
            else None
        )


@register_backbone("ncsnpp")
class NCSNpp(nn.Module):
    """Score / denoiser U-Net over complex spectrograms; see the module docstring for the hooks."""

    generative = True  # takes t: serves as the score network too
    causal = False  # convolutions and attention see the whole chunk
    presets = PRESETS
    front_end = FRONT_END
    default_loss = "spec_mse"

    def __init__(self, in_complex: int, preset: str | NCSNppConfig = "paper", **overrides: Any) -> None:
        super().__init__()
        if isinstance(preset, str):
            if preset not in PRESETS:
                raise KeyError(f"unknown NCSN++ preset {preset!r} (known: {', '.join(sorted(PRESETS))})")
            config = PRESETS[preset]
        else:
            config = preset
        if overrides:
            config = dataclasses.replace(
                config, **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
            )
        self.config = config
        self.in_complex = in_complex
        self.multiple = config.multiple
        input_channels = 2 * in_complex
        output_channels = 2
        nf = config.nf
        time_dim = 4 * nf if config.time_conditional else 0
        widths = [nf * m for m in config.ch_mult]
        levels = config.num_levels
        self.level_resolutions = [str(config.resolution(i)) for i in range(levels)]
        self.level_channels = dict(zip(self.level_resolutions, widths, strict=True))
        self.bottleneck_channels = widths[-1]
        has_attention = [config.resolution(i) in config.attn_resolutions for i in range(levels)]

        if config.time_conditional:
            self.time_embedding = GaussianFourierEmbedding(nf, config.fourier_scale)
            self.time_mlp = nn.Sequential(linear(self.time_embedding.dim, time_dim), nn.SiLU(),
                                          linear(time_dim, time_dim))
        self.conv_in = conv2d(input_channels, nf, 3)
        self.input_downsample = FirDownsample2d(input_channels, config.fir_taps)

        skip_channels = [nf]
        self.down_levels = nn.ModuleList()
        in_ch = nf
        for i, width in enumerate(widths):
            last = i == levels - 1
            self.down_levels.append(
                DownLevel(
                    in_ch, width, config.num_res_blocks, has_attention[i], not last, input_channels, time_dim, config
                )
            )
            in_ch = width
            skip_channels += [width] * (config.num_res_blocks + (0 if last else 1))

        self.middle_in = ResidualBlock(in_ch, in_ch, time_dim, dropout=config.dropout)
        self.middle_attention = SelfAttention2d(in_ch)
        self.middle_out = ResidualBlock(in_ch, in_ch, time_dim, dropout=config.dropout)
        self.bottleneck_modules = nn.ModuleList()
        self.level_modules = nn.ModuleDict()

        self.up_levels = nn.ModuleList()  # in processing order: deepest level first
        for i in reversed(range(levels)):
            level_skips = [skip_channels.pop() for _ in range(config.num_res_blocks + 1)]
            self.up_levels.append(
                UpLevel(in_ch, level_skips, widths[i], has_attention[i], i > 0, output_channels, time_dim, config)
            )
            in_ch = widths[i]
        self.output_upsample = FirUpsample2d(output_channels, config.fir_taps)

    @classmethod
    def build(cls, config, in_complex: int, time_conditional: bool) -> "NCSNpp":
        """A network of an `EnhancerConfig`: its preset, shape overrides and input centring."""
        return cls(in_complex, config.preset, **config.network, centered=config.centered,
                   time_conditional=time_conditional)

    def bottleneck_geometry(self, bins: int) -> tuple[int, int, int]:
        """(channels, bins, frames per hook frame) of the deepest level, where the lips and the text attach."""
        return self.bottleneck_channels, bins // self.multiple, self.multiple

    def attach_visual(self, module: nn.Module) -> None:
        """At the deepest level: after each of its down-path blocks and after its up-path blocks."""
        self.level_modules[self.level_resolutions[-1]] = module

    def forward(self, x: Tensor, t: Tensor, context: dict[str, Any] | None = None) -> Tensor:
        """x: complex (B, in_complex, F, T), t: (B,) (or one value for all) in (0, 1] -> complex (B, 1, F, T)."""
        if not x.is_complex() or x.ndim != 4 or x.shape[1] != self.in_complex:
            raise ValueError(f"expected complex (B, {self.in_complex}, F, T) input, got {x.dtype} {tuple(x.shape)}")
        batch, channels, bins, frames = x.shape
        if bins % self.multiple or frames % self.multiple:
            raise ValueError(f"F and T must be multiples of {self.multiple}, got {bins} x {frames}")
        memory_format = (
            torch.channels_last
            if self.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
            else torch.contiguous_format
        )
        inputs = (
            torch.view_as_real(x)
            .permute(0, 1, 4, 2, 3)
            .reshape(batch, 2 * channels, bins, frames)
            .contiguous(memory_format=memory_format)
        )
        if not self.config.centered:
            inputs = 2.0 * inputs - 1.0
        time_features = (F.silu(self.time_mlp(self.time_embedding(t.reshape(-1).expand(batch))))
                         if self.config.time_conditional else None)

        h = self.conv_in(inputs)
        skips = [h]
        input_pyramid = inputs
        for index, level in enumerate(self.down_levels):
            for block_index, block in enumerate(level.blocks):
                h = block(h, time_features)
                if level.attentions:
                    h = level.attentions[block_index](h)
                h = self._level_hook(index, h, context)
                skips.append(h)
            if level.downsample is not None:
                h = level.downsample(h, time_features)
                input_pyramid = self.input_downsample(input_pyramid)
                h += level.input_skip(input_pyramid)
                skips.append(h)

        h = self.middle_in(h, time_features)
        h = self.middle_attention(h)
        h = self.middle_out(h, time_features)
        for module in self.bottleneck_modules:
            h = module(h, context)

        output: Tensor | None = None
        for offset, level in enumerate(self.up_levels):
            index = len(self.up_levels) - 1 - offset
            for block in level.blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), time_features)
            if level.attention is not None:
                h = level.attention(h)
            h = self._level_hook(index, h, context)
            readout = level.output_conv(F.silu(level.output_norm(h)))
            output = readout if output is None else self.output_upsample(output) + readout
            if level.upsample is not None:
                h = level.upsample(h, time_features)
        assert output is not None and not skips

        if output.dtype not in (torch.float32, torch.float64):  # e.g. autocast; no complex half
            output = output.float()
        return torch.view_as_complex(output.permute(0, 2, 3, 1).contiguous()).unsqueeze(1)

    def _level_hook(self, level: int, h: Tensor, context: dict[str, Any] | None) -> Tensor:
        key = self.level_resolutions[level]
        if key in self.level_modules:
            h = self.level_modules[key](h, context)
        return h
