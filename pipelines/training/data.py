"""Training examples: random fixed-length crops of (clean, noisy) waveforms from the prepare artifact.

Crops are (frames - 1) * hop samples long so their STFT has exactly `frames` frames;
shorter utterances are zero-padded. Each pair is scaled by the noisy crop's peak, as
at inference, so the network sees the same level range in both (for a model with a
peak-normalising front end).
"""

from __future__ import annotations

import torch

from pipelines.artifacts.workdir import Workdir
from pipelines.data.prepared import PreparedSplit
from pipelines.errors import BadInput


class WaveformPairs:
    """All (clean, noisy) pairs of a split, held in memory (the corpora this runs on fit easily)."""

    def __init__(self, workdir: Workdir, split: str):
        with PreparedSplit(workdir, split) as prepared:
            entries = list(prepared)
            self.ids = [entry.uid for entry in entries]
            self.clean = [torch.from_numpy(entry.clean) for entry in entries]
            self.noisy = [torch.from_numpy(entry.noisy) for entry in entries]
        if not self.ids:
            raise BadInput(f"split '{split}' of {workdir.root} has no utterances to train on")

    def __len__(self) -> int:
        return len(self.ids)


def random_crops(pairs: WaveformPairs, indices: list[int], samples: int, generator: torch.Generator,
                 peak_normalise: bool = True) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """A batch of crops (B, samples) at random positions chosen by `generator`, each pair scaled by its noisy crop's
    peak (unless the model's front end keeps the level), and their starts."""
    clean_batch, noisy_batch, starts = [], [], []
    for index in indices:
        clean, noisy = pairs.clean[index], pairs.noisy[index]
        start = 0
        if len(clean) > samples:
            start = int(torch.randint(0, len(clean) - samples + 1, (1,), generator=generator))
            clean, noisy = clean[start:start + samples], noisy[start:start + samples]
        else:
            clean = torch.nn.functional.pad(clean, (0, samples - len(clean)))
            noisy = torch.nn.functional.pad(noisy, (0, samples - len(noisy)))
        scale = noisy.abs().max().clamp_min(1e-8) if peak_normalise else 1.0
        clean_batch.append(clean / scale)
        noisy_batch.append(noisy / scale)
        starts.append(start)
    return torch.stack(clean_batch), torch.stack(noisy_batch), starts
