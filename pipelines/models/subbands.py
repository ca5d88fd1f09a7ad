"""Sub-bands of the STFT bins, for sub-band distillation (Hao et al. 2020; docs/model.md "Sub-band KD").

An elite sub-band teacher (`train --subband-teacher K/N`) is a model that sees and enhances band
K of N alone: its input spectrogram is zero outside the band and so is its output, so it spends
its whole capacity on that band. The general student (`train --kd subband`) enhances every band
and is guided on each by that band's teacher: the teachers' outputs, band by band, make one
full-band target (training/distillation.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pipelines.errors import BadInput


def parse_band(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N): band K (from 1, lowest first) of N."""
    try:
        band, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise BadInput(f"--subband-teacher expects K/N, as 2/4 (band 2 of 4), got {text!r}") from None
    if not 1 <= band <= count or count < 2:
        raise BadInput(f"--subband-teacher K/N needs N >= 2 and 1 <= K <= N, got {text!r}")
    return band, count


def band_edges(bins: int, count: int) -> list[int]:
    """The first bin of each of `count` equal-width bands, and `bins` at the end (the last band takes the rest)."""
    width = bins // count
    return [k * width for k in range(count)] + [bins]


def band_mask(bins: int, band: int, count: int, device: torch.device | None = None) -> Tensor:
    """(bins, 1): 1 on the bins of band `band` (from 1) of `count`, 0 elsewhere; multiplies (B, 1, F, T)."""
    edges = band_edges(bins, count)
    mask = torch.zeros(bins, 1, device=device)
    mask[edges[band - 1]:edges[band]] = 1.0
    return mask
