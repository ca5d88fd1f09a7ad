"""Waveform <-> compressed complex STFT, the representation the diffusion models work in.

SGMSE-style front end: a centred STFT with a periodic Hann window of n_fft = 510 samples
(F = 256 bins, a power of two so the U-Net can halve it six times), followed by an
amplitude compression c -> beta |c|^alpha e^{i angle c}. The compression evens out the
heavy-tailed magnitude distribution of speech so a Gaussian diffusion fits it; the
inverse is exact, so enhancement output goes back to audio without loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SpecTransform(nn.Module):
    """Waveform (B, N) <-> compressed complex spectrogram (B, 1, F, T).

    A module only so the window follows `.to(device)`; it has no parameters and the
    window is not saved in state dicts.
    """

    window: Tensor

    def __init__(
        self,
        n_fft: int = 510,
        hop_length: int = 128,
        alpha: float = 0.5,
        beta: float = 0.15,
    ) -> None:
        super().__init__()
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if beta <= 0.0:
            raise ValueError(f"beta must be positive, got {beta}")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.alpha = alpha
        self.beta = beta
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    @property
    def num_bins(self) -> int:
        return self.n_fft // 2 + 1

    def num_frames(self, num_samples: int) -> int:
        """Frames the centred STFT yields for a waveform of `num_samples`."""
        return num_samples // self.hop_length + 1

    def compress(self, spec: Tensor) -> Tensor:
        """beta |c|^alpha e^{i angle c}, bin by bin."""
        return torch.polar(self.beta * spec.abs().pow(self.alpha), spec.angle())

    def decompress(self, spec: Tensor) -> Tensor:
        """Exact inverse of `compress`."""
        return torch.polar((spec.abs() / self.beta).pow(1.0 / self.alpha), spec.angle())

    def stft(self, wave: Tensor) -> Tensor:
        """Plain complex STFT (B, N) -> (B, F, T), no compression."""
        return torch.stft(
            wave,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window,
            center=True,
            return_complex=True,
        )

    def istft(self, spec: Tensor, length: int) -> Tensor:
        """Inverse of `stft`, trimmed or zero-extended to exactly `length` samples."""
        return torch.istft(
            spec,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window,
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
