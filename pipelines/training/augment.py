"""Training-time augmentation of (clean, noisy) crops: new mixtures every step from a small corpus.

A few hours of speech from a few dozen voices is little for a network meant to enhance voices
and rooms it never heard; each named augmentation (`train --augment`, pipelines/choices.py
AUGMENTATIONS) changes the crops of every step, drawn from the run's seeded generator so a
resumed run continues the same sequence:

- `remix`: the crop's noise (noisy - clean) is swapped for another item's, shifted in time and
  mixed at a random SNR (dynamic mixing), so speech and noise pairings never repeat;
- `reverb`: on part of the crops the speech is convolved with a simulated room impulse response
  (pyroomacoustics, image method; a bank made once per run and kept in the run folder), and the
  target is the speech with the direct sound and early reflections only (the first 50 ms);
- `bandlimit`: on part of the crops the speech is low-passed (telephone and wide-band codecs
  cut at 3.4-7 kHz), target included, since a missing band cannot be restored;
- `gain`: both signals scaled by a random gain, so a model that sees the waveform at its own
  level (no peak normalisation) works at any recording level.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pipelines import choices
from pipelines.atomic import write_bytes
from pipelines.audio_io import SAMPLE_RATE
from pipelines.errors import BadInput

AUGMENTATIONS = tuple(choices.AUGMENTATIONS)
EARLY_REFLECTIONS_S = 0.05


@dataclass(frozen=True)
class AugmentOptions:
    kinds: tuple[str, ...] = ()
    snr_db: tuple[float, float] = (-5.0, 20.0)  # remix: uniform in this range
    reverb_share: float = 0.3
    rt60_s: tuple[float, float] = (0.2, 0.9)
    bandlimit_share: float = 0.2
    cutoff_hz: tuple[float, float] = (3400.0, 7000.0)
    gain_db: tuple[float, float] = (-25.0, 5.0)  # of the noisy crop's peak, relative to full scale
    rooms: int = 128  # impulse responses in the bank

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in AUGMENTATIONS]
        if unknown:
            raise BadInput(f"--augment: unknown {', '.join(unknown)} (known: {', '.join(AUGMENTATIONS)})")

    @classmethod
    def parse(cls, text: str | None) -> "AugmentOptions":
        """'remix,reverb' -> the options with those kinds ('' or None: none)."""
        kinds = tuple(k.strip() for k in (text or "").split(",") if k.strip())
        return cls(kinds=kinds)


class Augmenter:
    """Applies the chosen augmentations to batches of crops (B, N) in place of the prepared pairs."""

    def __init__(self, options: AugmentOptions, run_folder: Path | None, seed: int):
        self.options = options
        self.rirs = room_bank(options, run_folder, seed) if "reverb" in options.kinds else None

    def __call__(self, clean: Tensor, noisy: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        o = self.options
        if not o.kinds:
            return clean, noisy
        noise = noisy - clean
        speech, target = clean, clean
        if "bandlimit" in o.kinds:
            speech = target = _some(speech, o.bandlimit_share, generator,
                                    lambda x: lowpass(x, _uniform(o.cutoff_hz, len(x), generator)))
        if self.rirs is not None:
            chosen = _chosen(len(speech), o.reverb_share, generator)
            if chosen.any():
                rooms = torch.randint(0, len(self.rirs), (int(chosen.sum()),), generator=generator)
                reverberant, early = reverberate(speech[chosen], self.rirs[rooms])
                speech, target = speech.clone(), target.clone()
                speech[chosen], target[chosen] = reverberant, early
        if "remix" in o.kinds:
            noise = remixed_noise(speech, noise, _uniform(o.snr_db, len(speech), generator), generator)
        noisy = speech + noise
        if "gain" in o.kinds:
            peak = noisy.abs().amax(-1, keepdim=True).clamp_min(1e-8)
            gain = 10.0 ** (_uniform(o.gain_db, len(noisy), generator)[:, None] / 20.0) / peak
            noisy, target = noisy * gain, target * gain
        return target, noisy


def _uniform(bounds: tuple[float, float], count: int, generator: torch.Generator) -> Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(count, generator=generator)


def _chosen(count: int, share: float, generator: torch.Generator) -> Tensor:
    return torch.rand(count, generator=generator) < share


def _some(x: Tensor, share: float, generator: torch.Generator, change) -> Tensor:
    chosen = _chosen(len(x), share, generator)
    if not chosen.any():
        return x
    x = x.clone()
    x[chosen] = change(x[chosen])
    return x


def lowpass(x: Tensor, cutoff_hz: Tensor) -> Tensor:
    """Each row low-passed at its cutoff, with a raised-cosine roll-off 400 Hz wide (in the FFT domain)."""
    spectrum = torch.fft.rfft(x, dim=-1)
    frequencies = torch.fft.rfftfreq(x.shape[-1], 1.0 / SAMPLE_RATE)
    width = 400.0
    position = ((frequencies[None, :] - cutoff_hz[:, None]) / width).clamp(0.0, 1.0)
    return torch.fft.irfft(spectrum * (0.5 + 0.5 * torch.cos(torch.pi * position)), n=x.shape[-1], dim=-1)


def reverberate(speech: Tensor, rirs: Tensor) -> tuple[Tensor, Tensor]:
    """(reverberant, early) speech: each row convolved with its impulse response (direct path at sample 0), and with
    its first EARLY_REFLECTIONS_S only; both cut to the crop's length."""
    early = rirs.clone()
    early[:, int(EARLY_REFLECTIONS_S * SAMPLE_RATE):] = 0.0
    return _convolve(speech, rirs), _convolve(speech, early)


def _convolve(x: Tensor, h: Tensor) -> Tensor:
    n = x.shape[-1] + h.shape[-1] - 1
    size = 1 << (n - 1).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(x, size) * torch.fft.rfft(h, size), size)
    return y[..., :x.shape[-1]]


def remixed_noise(speech: Tensor, noise: Tensor, snr_db: Tensor, generator: torch.Generator) -> Tensor:
    """Another item's noise for each item (a random rotation of the batch, a random shift in time), scaled to put
    the speech at `snr_db`; a speechless crop keeps its noise's level."""
    count, length = noise.shape
    if count > 1:
        noise = noise.roll(int(torch.randint(1, count, (1,), generator=generator)), dims=0)
    shifts = torch.randint(0, length, (count,), generator=generator)
    index = (torch.arange(length)[None, :] + shifts[:, None]) % length
    noise = torch.gather(noise, 1, index)
    speech_power = speech.square().mean(-1)
    noise_power = noise.square().mean(-1).clamp_min(1e-12)
    scale = torch.sqrt(speech_power / noise_power / 10.0 ** (snr_db / 10.0))
    return noise * torch.where(speech_power > 1e-10, scale, torch.ones_like(scale))[:, None]


def room_bank(options: AugmentOptions, run_folder: Path | None, seed: int) -> Tensor:
    """(rooms, samples) impulse responses, direct path first, unit energy; made once and kept as RUN/rirs.npy."""
    cached = run_folder / "rirs.npy" if run_folder is not None else None
    if cached is not None and cached.is_file():
        bank = np.load(cached, allow_pickle=False)
        if bank.ndim == 2 and len(bank) == options.rooms:
            return torch.from_numpy(bank)
    rng = np.random.default_rng(seed)
    responses = [simulated_room(rng, options.rt60_s) for _ in range(options.rooms)]
    length = max(len(r) for r in responses)
    bank = np.stack([np.pad(r, (0, length - len(r))) for r in responses]).astype(np.float32)
    if cached is not None:
        buffer = io.BytesIO()
        np.save(buffer, bank)
        write_bytes(cached, buffer.getbuffer())
    return torch.from_numpy(bank)


def simulated_room(rng: np.random.Generator, rt60_s: tuple[float, float]) -> np.ndarray:
    """One shoebox room (3-10 m by 3-8 m by 2.5-4 m) with a random reverberation time, source and microphone."""
    import pyroomacoustics as pra

    size = np.array([rng.uniform(3, 10), rng.uniform(3, 8), rng.uniform(2.5, 4)])
    rt60 = rng.uniform(*rt60_s)
    absorption, order = pra.inverse_sabine(rt60, size)
    room = pra.ShoeBox(size, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=min(order, 12))
    margin = 0.5
    room.add_source(rng.uniform(margin, size - margin))
    room.add_microphone(rng.uniform(margin, size - margin))
    room.compute_rir()
    response = np.asarray(room.rir[0][0], dtype=np.float64)
    response = response[int(np.argmax(np.abs(response))):]  # the direct sound at sample 0
    response = response[: int(1.2 * rt60 * SAMPLE_RATE)]
    return response / np.sqrt(np.sum(response ** 2))
