"""Linguistic targets of a training batch: the BERT features of the tokens spoken inside each crop.

Training runs on random crops (about 1-2 s), while a transcript covers the whole
utterance, so each crop is paired with the tokens whose estimated time span
(`token_times`, from `featurize --text`) overlaps the crop. [CLS] and [SEP] span the whole
utterance and always overlap.

Misalignment strategy (`misalign_shift`, seconds, off by default): the window used to
pick the tokens is moved by a random offset drawn uniformly from [-shift, +shift] per
crop, so the linguistic targets are deliberately a little early or late and the model
learns an alignment that tolerates imprecise timing rather than exact positions.

A crop of an utterance without a transcript (or whose window holds no token) gets
has_text False: it trains the enhancement losses only.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from pipelines.audio_io import SAMPLE_RATE
from pipelines.text.features import TextFeatureSet


def text_batch(features: TextFeatureSet, uids: list[str], starts: list[int], crop_samples: int,
               misalign_shift: float, generator: torch.Generator) -> dict[str, Tensor]:
    """Padded tensors: text (B, T_t, d_s), text_ids (B, T_t), text_mask (B, T_t) and has_text (B,)."""
    chosen: list[tuple[np.ndarray, np.ndarray] | None] = []
    for uid, start in zip(uids, starts, strict=True):
        item = features.items.get(uid)
        if item is None:
            chosen.append(None)
            continue
        shift = misalign_shift * (2.0 * float(torch.rand(1, generator=generator)) - 1.0) if misalign_shift else 0.0
        begin = start / SAMPLE_RATE + shift
        end = (start + crop_samples) / SAMPLE_RATE + shift
        keep = (item.token_times[:, 1] > begin) & (item.token_times[:, 0] < end)
        chosen.append((item.features[keep], item.token_ids[keep]) if keep.any() else None)
    length = max([len(c[1]) for c in chosen if c is not None], default=1)
    batch = len(uids)
    text = torch.zeros(batch, length, features.hidden_size)
    ids = torch.zeros(batch, length, dtype=torch.long)
    mask = torch.zeros(batch, length, dtype=torch.bool)
    for row, selection in enumerate(chosen):
        if selection is not None:
            vectors, token_ids = selection
            text[row, : len(token_ids)] = torch.from_numpy(np.asarray(vectors, dtype=np.float32))
            ids[row, : len(token_ids)] = torch.from_numpy(np.asarray(token_ids, dtype=np.int64))
            mask[row, : len(token_ids)] = True
    return {"text": text, "text_ids": ids, "text_mask": mask, "has_text": mask.any(dim=1)}
