"""Waveform <-> (compressed) complex STFT, the representation every model works in.

Each backbone declares the front end it is designed for (`FrontEnd`), and a model's config
holds its own copy, so a checkpoint always rebuilds the STFT it was trained with. NCSN++
uses SGMSE's: a centred STFT with a periodic Hann window of n_fft = 510 samples (F = 256
bins, a power of two so the U-Net can halve it six times), followed by an amplitude
compression c -> beta |c|^alpha e^{i angle c}, which evens out the heavy-tailed magnitudes
of speech so a Gaussian diffusion fits them, and peak-normalised waveforms. The
conv-recurrent backbone uses GTCRN's: n_fft 512, hop 256, a square-root Hann window (so
analysis times synthesis window is a Hann that overlap-adds to one), no compression and the
waveform at its own level (a streaming model cannot know a recording's peak in advance).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


WINDOWS = ("hann", "sqrt_hann")
NORMALISATIONS = ("peak", "none")  # the input's level: divided by its peak (restored after), or as it is


@dataclass(frozen=True)
class FrontEnd:
    """The STFT and level handling a backbone is designed for (EnhancerConfig holds a copy per model)."""

    n_fft: int
    hop_length: int
    window: str
    spec_exponent: float
    spec_factor: float
    normalisation: str


def make_window(kind: str, n_fft: int, like: Tensor | None = None) -> Tensor:
    """A periodic Hann window, or its square root, computed in the dtype and on the device of `like` (so a model
    run in float64 gets the float64 window its reference implementation computes)."""
    dtype = like.real.dtype if like is not None else None
    window = torch.hann_window(n_fft, periodic=True, dtype=dtype, device=like.device if like is not None else None)
    return window.pow(0.5) if kind == "sqrt_hann" else window


class SpecTransform(nn.Module):
    """Waveform (B, N) <-> compressed complex spectrogram (B, 1, F, T); no parameters, no state.

    The window is computed for each call in the signal's dtype and device (a few microseconds).
    """

    def __init__(
        self,
        n_fft: int = 510,
        hop_length: int = 128,
        alpha: float = 0.5,
        beta: float = 0.15,
        window: str = "hann",
    ) -> None:
        super().__init__()
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if beta <= 0.0:
            raise ValueError(f"beta must be positive, got {beta}")
        if window not in WINDOWS:
            raise ValueError(f"unknown window {window!r} (known: {', '.join(WINDOWS)})")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.alpha = alpha
        self.beta = beta
        self.window_kind = window

    @classmethod
    def of(cls, front_end: FrontEnd) -> "SpecTransform":
        return cls(front_end.n_fft, front_end.hop_length, front_end.spec_exponent, front_end.spec_factor,
                   front_end.window)

    @property
    def compresses(self) -> bool:
        return (self.alpha, self.beta) != (1.0, 1.0)

    def window(self, like: Tensor) -> Tensor:
        return make_window(self.window_kind, self.n_fft, like)

    @property
    def num_bins(self) -> int:
        return self.n_fft // 2 + 1

    def num_frames(self, num_samples: int) -> int:
        """Frames the centred STFT yields for a waveform of `num_samples`."""
        return num_samples // self.hop_length + 1

    def compress(self, spec: Tensor) -> Tensor:
        """beta |c|^alpha e^{i angle c}, bin by bin (the identity, untouched, for alpha = beta = 1)."""
        if not self.compresses:
            return spec
        return torch.polar(self.beta * spec.abs().pow(self.alpha), spec.angle())

    def decompress(self, spec: Tensor) -> Tensor:
        """Exact inverse of `compress`."""
        if not self.compresses:
            return spec
        return torch.polar((spec.abs() / self.beta).pow(1.0 / self.alpha), spec.angle())

    def stft(self, wave: Tensor) -> Tensor:
        """Plain complex STFT (B, N) -> (B, F, T), no compression."""
        return torch.stft(
            wave,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window(wave),
            center=True,
            return_complex=True,
        )

    def istft(self, spec: Tensor, length: int) -> Tensor:
        """Inverse of `stft`, trimmed or zero-extended to exactly `length` samples."""
        return torch.istft(
            spec,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window(spec),
            center=True,
            length=length,
        )

    def to_spec(self, wave: Tensor) -> Tensor:
        """Waveform (B, N) -> compressed spectrogram (B, 1, F, T)."""
        if wave.ndim != 2:
            raise ValueError(f"expected a (batch, samples) waveform, got shape {tuple(wave.shape)}")
        return self.compress(self.stft(wave)).unsqueeze(1)

    def to_wave(self, spec: Tensor, length: int) -> Tensor:
        """Compressed spectrogram (B, 1, F, T) -> waveform (B, length)."""
        if spec.ndim != 4 or spec.shape[1] != 1:
            raise ValueError(f"expected a (batch, 1, bins, frames) spectrogram, got {tuple(spec.shape)}")
        return self.istft(self.decompress(spec.squeeze(1)), length)


def pad_frames(spec: Tensor, multiple: int) -> tuple[Tensor, int]:
    """Zero-pad the last (time) axis up to a multiple of `multiple`.

    The U-Net halves its input repeatedly, so T must divide by 2**(levels-1); F = 256
    already does. Returns the padded tensor and the original frame count for `crop_frames`.
    """
    frames = spec.shape[-1]
    missing = -frames % multiple
    if missing == 0:
        return spec, frames
    return F.pad(spec, (0, missing)), frames


def crop_frames(spec: Tensor, frames: int) -> Tensor:
    """Undo `pad_frames`: keep the first `frames` time frames."""
    return spec[..., :frames]
