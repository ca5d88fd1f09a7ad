"""Making noisy speech: clean + noise at a chosen SNR, deterministic per utterance.

Each noise file is cut in time into train/valid/test regions in the split proportions,
so test mixtures use noise the model never heard in training. A noise region shorter
than the speech is looped.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.audio_io import AUDIO_SUFFIXES, audio_kinds
from pipelines.data.layout import files_in
from pipelines.data.manifest import SPLITS
from pipelines.errors import BadInput


@dataclass(frozen=True)
class MixPlan:
    """Which noise, where in it and at what SNR one utterance is mixed (all chosen before any audio is read)."""

    noise_path: str
    snr_db: float
    region: tuple[float, float]  # the part of the noise file reserved for this split, as fractions
    start: float  # where in the region the noise starts, as a fraction of the region


def parse_snrs(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        raise BadInput(f"--snr expects a comma-separated list of (finite) dB values like -5,0,5, got {text!r}")
    return values


def find_noise_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise BadInput(f"{folder}: noise folder does not exist")
    files = sorted(p.resolve() for p in files_in(folder, AUDIO_SUFFIXES))
    if not files:
        raise BadInput(f"{folder}: no noise audio files ({audio_kinds()}) found")
    return files


def plan_mixture(
    uid: str,
    split: str,
    noises: list[Path],
    snrs: list[float],
    seed: int,
    fractions: tuple[float, float, float],
    split_noise: bool = True,
) -> MixPlan:
    """Choose noise, SNR and offset from a generator seeded by (seed, uid): adding files changes no other mixture."""
    digest = hashlib.sha256(f"{seed}:{uid}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "little"))
    noise = noises[rng.randrange(len(noises))]
    snr = snrs[rng.randrange(len(snrs))]
    if split_noise:
        index = SPLITS.index(split)
        low = sum(fractions[:index])
        region = (low, low + fractions[index])
    else:
        region = (0.0, 1.0)
    return MixPlan(str(noise), snr, region, rng.random())


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, plan: MixPlan) -> tuple[np.ndarray, int]:
    """Return (noisy, offset of the noise in samples); noise is scaled so that 10 log10(P_clean/P_noise) = SNR."""
    begin = int(plan.region[0] * len(noise))
    end = max(int(plan.region[1] * len(noise)), begin + 1)
    region = noise[begin:end]
    offset = int(plan.start * len(region))
    segment = np.resize(np.roll(region, -offset), len(clean))  # np.resize repeats: loops short noise
    clean_power = float(np.mean(clean.astype(np.float64) ** 2))
    noise_power = float(np.mean(segment.astype(np.float64) ** 2))
    if clean_power == 0.0:
        raise BadInput("clean speech is all zeros: cannot mix at an SNR")
    if noise_power == 0.0:
        raise BadInput(f"{plan.noise_path}: the chosen noise segment is silent")
    gain = np.sqrt(clean_power / (noise_power * 10.0 ** (plan.snr_db / 10.0)))
    noisy = clean + gain * segment
    return noisy.astype(np.float32), begin + offset
