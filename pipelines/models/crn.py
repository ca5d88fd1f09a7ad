"""A causal dual-path conv-recurrent network over complex spectrograms: GTCRN's design, in sizes.

GTCRN (Rong et al., ICASSP 2024) is the family's smallest member and its layout: the `gtcrn`
preset is the published network (48 k parameters counting its fixed ERB filters, 24 k
trained), so its
checkpoints load exactly (pipelines/interop/gtcrn.py); the larger presets widen every layer
and add dual-path blocks. One evaluation per utterance: a predictive model, never a score
network (it has no time input).

    spectrogram (B, 1, F, T) -> [|c|, Re, Im] -> ERB bands -> sub-band unfold
      -> encoder: 2 strided convs (F / 4), 3 grouped temporal convs (dilations 1, 2, 5)
      -> [lips: cross-attention] -> dual-path grouped GRUs (across F, then along T)
      -> [text: bottleneck modules] -> decoder (mirror, skip connections) -> complex mask

Every layer is causal in time: convolutions look back only (their history is padded at the
front), the GRUs along time are one-directional, and normalisation is per frame (LayerNorm) or
frozen statistics (BatchNorm in eval). So a recording enhanced block by block with `stream`
state gives the same output as enhanced whole, which is what streaming and memory-bounded
enhancement of long files rest on (pipelines/streaming.py).

Internally features are (B, C, T, F) as upstream; hook modules (`visual_module`,
`bottleneck_modules`) see (B, C, F', T) like the U-Net's, so the same audio-visual and text
modules attach to either backbone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipelines.models.registry import register_backbone
from pipelines.spectral import FrontEnd

Stream = dict  # a module -> its state between blocks (GRU hidden states, convolution history)


@dataclass(frozen=True)
class CRNConfig:
    channels: int = 16
    low_bins: int = 65  # bins below ~2 kHz, kept as they are
    erb_bands: int = 64  # triangular ERB bands summarising the bins above
    dilations: tuple[int, ...] = (1, 2, 5)  # of the grouped temporal convolutions, one block each
    dual_path_blocks: int = 2


PRESETS: dict[str, CRNConfig] = {
    "gtcrn": CRNConfig(),
    "crn-m": CRNConfig(channels=32, dual_path_blocks=3),
    "crn-l": CRNConfig(channels=96, dilations=(1, 2, 5, 9), dual_path_blocks=4),
}

FRONT_END = FrontEnd(n_fft=512, hop_length=256, window="sqrt_hann", spec_exponent=1.0, spec_factor=1.0,
                     normalisation="none")


def erb_filters(low_bins: int, bands: int, n_fft: int, sample_rate: int = 16_000) -> Tensor:
    """(bands, F - low_bins) triangular filters spaced evenly on the ERB-rate scale from bin `low_bins` to Nyquist.

    Neighbouring triangles cross at half height, the first starts at full height and the last
    is completed to sum to one with its neighbour: GTCRN's bank, whose published weights carry
    the same numbers.
    """
    def hz_to_erb(hz):
        return 21.4 * np.log10(0.00437 * hz + 1.0)

    def erb_to_hz(erb):
        return (10.0 ** (erb / 21.4) - 1.0) / 0.00437

    points = np.linspace(hz_to_erb(low_bins / n_fft * sample_rate), hz_to_erb(sample_rate / 2), bands)
    edges = np.round(erb_to_hz(points) / sample_rate * n_fft).astype(np.int64)
    bank = np.zeros((bands, n_fft // 2 + 1), dtype=np.float32)
    tiny = 1e-12

    def falling(lo: int, hi: int) -> np.ndarray:
        return (hi - np.arange(lo, hi) + tiny) / (hi - lo + tiny)

    def rising(lo: int, hi: int) -> np.ndarray:
        return (np.arange(lo, hi) - lo + tiny) / (hi - lo + tiny)

    bank[0, edges[0]:edges[1]] = falling(edges[0], edges[1])
    for band in range(1, bands - 1):
        bank[band, edges[band - 1]:edges[band]] = rising(edges[band - 1], edges[band])
        bank[band, edges[band]:edges[band + 1]] = falling(edges[band], edges[band + 1])
    bank[-1, edges[-2]:edges[-1] + 1] = 1.0 - bank[-2, edges[-2]:edges[-1] + 1]
    return torch.from_numpy(np.abs(bank[:, low_bins:]))


class ERBBands(nn.Module):
    """Bins -> ERB bands above `low_bins` (analysis) and back (synthesis, the transposed bank); fixed, not trained."""

    def __init__(self, low_bins: int, bands: int, n_fft: int):
        super().__init__()
        self.low_bins = low_bins
        bank = erb_filters(low_bins, bands, n_fft)
        self.register_buffer("analysis", bank)
        self.register_buffer("synthesis", bank.T.contiguous())

    def to_bands(self, x: Tensor) -> Tensor:
        return torch.cat([x[..., :self.low_bins], x[..., self.low_bins:] @ self.analysis.T], dim=-1)

    def to_bins(self, x: Tensor) -> Tensor:
        return torch.cat([x[..., :self.low_bins], x[..., self.low_bins:] @ self.synthesis.T], dim=-1)


def subband_unfold(x: Tensor) -> Tensor:
    """(B, C, T, F) -> (B, 3C, T, F): each bin with its two neighbours (zero beyond the edges), channel-major."""
    padded = F.pad(x, (1, 1))
    bins = x.shape[-1]
    return torch.stack([padded[..., k:k + bins] for k in range(3)], dim=2).flatten(1, 2)


class ConvBlock(nn.Module):
    """Conv (or transposed conv) along frequency, BatchNorm, PReLU (tanh for the mask)."""

    def __init__(self, in_channels: int, out_channels: int, groups: int = 1, transposed: bool = False,
                 last: bool = False):
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = conv(in_channels, out_channels, (1, 5), (1, 2), (0, 2), groups=groups)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.Tanh() if last else nn.PReLU()

    def forward(self, x: Tensor, stream: Stream | None = None) -> Tensor:
        return self.act(self.norm(self.conv(x)))


class TemporalAttention(nn.Module):
    """GTCRN's TRA: a GRU over each channel's per-frame energy gates the channel, frame by frame."""

    def __init__(self, channels: int):
        super().__init__()
        self.gru = nn.GRU(channels, 2 * channels, batch_first=True)
        self.fc = nn.Linear(2 * channels, channels)

    def forward(self, x: Tensor, stream: Stream | None = None) -> Tensor:
        energy = x.square().mean(-1).transpose(1, 2)  # (B, T, C)
        state = stream.get(self) if stream is not None else None
        gates, state = self.gru(energy, state)
        if stream is not None:
            stream[self] = state
        return x * torch.sigmoid(self.fc(gates)).transpose(1, 2)[..., None]


class GroupedTemporalConv(nn.Module):
    """Half the channels pass; the other half go through sub-band unfold, a pointwise conv, a causal dilated
    depthwise conv over time, a pointwise conv and temporal attention; then the halves are interleaved."""

    def __init__(self, channels: int, dilation: int, transposed: bool = False):
        super().__init__()
        half = channels // 2
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.history = 2 * dilation  # frames the depthwise conv looks back (kernel 3)
        self.point1 = conv(3 * half, channels, 1)
        self.norm1 = nn.BatchNorm2d(channels)
        self.act1 = nn.PReLU()
        # a transposed conv of stride 1 is a conv with a flipped kernel: trimming `history` frames keeps it causal
        self.depth = conv(channels, channels, (3, 3), padding=(self.history if transposed else 0, 1),
                          dilation=(dilation, 1), groups=channels)
        self.norm2 = nn.BatchNorm2d(channels)
        self.act2 = nn.PReLU()
        self.point2 = conv(channels, half, 1)
        self.norm3 = nn.BatchNorm2d(half)
        self.attention = TemporalAttention(half)

    def forward(self, x: Tensor, stream: Stream | None = None) -> Tensor:
        active, passed = x.chunk(2, dim=1)
        h = self.act1(self.norm1(self.point1(subband_unfold(active))))
        past = stream.get(self) if stream is not None else None
        if past is None:
            past = h.new_zeros(h.shape[0], h.shape[1], self.history, h.shape[3])
        h = torch.cat([past, h], dim=2)
        if stream is not None:
            stream[self] = h[:, :, h.shape[2] - self.history:]
        h = self.act2(self.norm2(self.depth(h)))
        h = self.attention(self.norm3(self.point2(h)), stream)
        return torch.stack([h, passed], dim=2).flatten(1, 2)  # channel shuffle: h0, x0, h1, x1, ...


class GroupedGRU(nn.Module):
    """Two GRUs, each on half the features (half the cost of one GRU of the full width)."""

    def __init__(self, features: int, hidden: int, bidirectional: bool):
        super().__init__()
        self.halves = nn.ModuleList(nn.GRU(features // 2, hidden // 2, batch_first=True, bidirectional=bidirectional)
                                    for _ in range(2))

    def forward(self, x: Tensor, stream: Stream | None = None) -> Tensor:
        outputs = []
        for gru, part in zip(self.halves, x.chunk(2, dim=-1)):
            state = stream.get(gru) if stream is not None else None
            output, state = gru(part, state)
            if stream is not None:
                stream[gru] = state
            outputs.append(output)
        return torch.cat(outputs, dim=-1)


class DualPathBlock(nn.Module):
    """A bidirectional grouped GRU across the bands of each frame, then a causal one along time in each band, each
    followed by a linear layer, a per-frame LayerNorm and a residual connection."""

    def __init__(self, channels: int, bands: int):
        super().__init__()
        self.across = GroupedGRU(channels, channels // 2, bidirectional=True)
        self.across_fc = nn.Linear(channels, channels)
        self.across_norm = nn.LayerNorm((bands, channels), eps=1e-8)
        self.along = GroupedGRU(channels, channels, bidirectional=False)
        self.along_fc = nn.Linear(channels, channels)
        self.along_norm = nn.LayerNorm((bands, channels), eps=1e-8)

    def forward(self, x: Tensor, stream: Stream | None = None) -> Tensor:
        batch, channels, frames, bands = x.shape
        x = x.permute(0, 2, 3, 1)  # (B, T, F, C)
        across = self.across_fc(self.across(x.reshape(batch * frames, bands, channels)))
        x = x + self.across_norm(across.reshape(batch, frames, bands, channels))
        sequences = x.transpose(1, 2).reshape(batch * bands, frames, channels)
        along = self.along_fc(self.along(sequences, stream)).reshape(batch, bands, frames, channels)
        x = x + self.along_norm(along.transpose(1, 2))
        return x.permute(0, 3, 1, 2)


@register_backbone("crn")
class ConvRecurrentNet(nn.Module):
    """The family's network; `forward(spec)` -> the masked spectrogram. See the module docstring."""

    generative = False  # no time input: a denoiser, never a score network
    causal = True
    presets = PRESETS
    front_end = FRONT_END
    default_loss = "hybrid"
    multiple = 1  # any number of frames
    taps_layers = True  # forward keeps its layers' outputs in context["taps"] (feature distillation)

    def __init__(self, preset: str | CRNConfig = "gtcrn", n_fft: int = FRONT_END.n_fft, **overrides: Any):
        super().__init__()
        config = PRESETS[preset] if isinstance(preset, str) else preset
        if overrides:
            config = dataclasses.replace(config, **{k: tuple(v) if isinstance(v, list) else v
                                                    for k, v in overrides.items()})
        self.config = config
        c = config.channels
        self.erb = ERBBands(config.low_bins, config.erb_bands, n_fft)
        bands = config.low_bins + config.erb_bands
        self.bottleneck_bins = (((bands + 1) // 2) + 1) // 2  # two stride-2 convs with padding 2, kernel 5
        self.bottleneck_channels = c
        self.encoder = nn.ModuleList([ConvBlock(9, c), ConvBlock(c, c, groups=2),
                                      *(GroupedTemporalConv(c, d) for d in config.dilations)])
        self.dual_path = nn.ModuleList(DualPathBlock(c, self.bottleneck_bins) for _ in range(config.dual_path_blocks))
        self.decoder = nn.ModuleList([*(GroupedTemporalConv(c, d, transposed=True) for d in reversed(config.dilations)),
                                      ConvBlock(c, c, groups=2, transposed=True),
                                      ConvBlock(c, 2, transposed=True, last=True)])
        self.visual_module: nn.Module | None = None  # lips, before the dual-path blocks
        self.bottleneck_modules = nn.ModuleList()  # text transfer, after them

    @classmethod
    def build(cls, config, in_complex: int, time_conditional: bool) -> "ConvRecurrentNet":
        """The network of an `EnhancerConfig` (a denoiser: one complex input, no time)."""
        if in_complex != 1:
            raise ValueError("the conv-recurrent backbone is a denoiser: it takes the noisy spectrogram alone")
        return cls(config.preset, config.n_fft, **config.network)

    def bottleneck_geometry(self, bins: int) -> tuple[int, int, int]:
        """(channels, bands, frames per hook frame) of the features the hook modules see."""
        return self.bottleneck_channels, self.bottleneck_bins, 1

    def attach_visual(self, module: nn.Module) -> None:
        self.visual_module = module

    def forward(self, x: Tensor, t: Tensor | None = None, context: dict[str, Any] | None = None,
                stream: Stream | None = None) -> Tensor:
        """x: complex (B, 1, F, T) -> complex (B, 1, F, T); `t` is ignored (kept for the backbone interface).
        `stream`: state carried from the previous block of the same recordings (updated in place)."""
        spec = x[:, 0].transpose(1, 2)  # (B, T, F) complex
        parts = torch.view_as_real(spec)
        real, imag = parts[..., 0], parts[..., 1]
        magnitude = torch.sqrt(real.square() + imag.square() + 1e-12)
        h = subband_unfold(self.erb.to_bands(torch.stack([magnitude, real, imag], dim=1)))
        taps = context.get("taps") if context is not None else None  # distillation reads the layers' outputs
        skips = []
        for layer in self.encoder:
            h = layer(h, stream)
            skips.append(h)
            _tap(taps, "encoder", h)
        if self.visual_module is not None:
            h = self._hook(self.visual_module, h, context)
        for block in self.dual_path:
            h = block(h, stream)
            _tap(taps, "bottleneck", h)
        for module in self.bottleneck_modules:
            h = self._hook(module, h, context)
        for layer in self.decoder:
            h = layer(h + skips.pop(), stream)
            if layer is not self.decoder[-1]:
                _tap(taps, "decoder", h)
        mask = self.erb.to_bins(h)  # (B, 2, T, F)
        enhanced = torch.complex(real * mask[:, 0] - imag * mask[:, 1], imag * mask[:, 0] + real * mask[:, 1])
        return enhanced.transpose(1, 2)[:, None]

    @staticmethod
    def _hook(module: nn.Module, h: Tensor, context: dict[str, Any] | None) -> Tensor:
        """Hook modules take (B, C, F', T), the U-Net's layout."""
        return module(h.transpose(2, 3), context).transpose(2, 3)


def _tap(taps: dict[str, list[Tensor]] | None, stage: str, h: Tensor) -> None:
    """Keep a layer's output (B, C, T, F') under its stage, for feature distillation (training/feature_kd.py)."""
    if taps is not None:
        taps.setdefault(stage, []).append(h)
