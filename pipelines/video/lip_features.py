"""Lip embeddings for training and enhancement: the `lips` artifact read per utterance, cut to audio windows.

Training crops and inference chunks are windows of an utterance's audio; each gets the
lip frames whose time (frame / fps) falls inside it, with times counted from the window's
start, as `AudioVisualCrossAttention` expects. Utterances without lip features get an
empty window (the model's "no video" key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import h5py
import numpy as np
import torch
from torch import Tensor

from pipelines.artifacts.workdir import Workdir
from pipelines.errors import BadInput

STAGE = "lips"


@dataclass(frozen=True)
class LipTrack:
    embeddings: np.ndarray  # float32 (T_v, D)
    fps: float

    def window(self, start_s: float, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings, times from start_s) of the frames whose time lies in [start_s, start_s + duration_s)."""
        times = np.arange(len(self.embeddings)) / self.fps - start_s
        inside = (times >= 0) & (times < duration_s)
        return self.embeddings[inside], times[inside].astype(np.float32)


@dataclass(frozen=True)
class LipFeatureSet:
    dim: int
    encoder: str  # "untrained" or the weights' checksum
    items: dict[str, LipTrack]


def load_lip_features(workdir: Workdir, split: str) -> LipFeatureSet:
    path = workdir.artifact(STAGE, split)
    if not path.exists():
        raise BadInput(f"no lip features for split '{split}' in {workdir.root}: run `cmkt featurize --lips` first")
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["config"])
        items = {uid: LipTrack(g["embeddings"][()].astype(np.float32), float(g.attrs["fps"])) for uid, g in f.items()}
    dims = {track.embeddings.shape[1] for track in items.values()}
    if len(dims) > 1:
        raise BadInput(f"{path}: lip embeddings of different widths {sorted(dims)}; rerun `featurize --lips --force`")
    return LipFeatureSet(dims.pop() if dims else 0, str(config.get("encoder", "")), items)


def video_context(tracks: list[LipTrack | None], windows: list[tuple[float, float]], dim: int) -> dict[str, Tensor]:
    """Padded video (B, T_v, D), video_times (B, T_v) and video_mask (B, T_v) for (start_s, duration_s) windows."""
    cut = [track.window(*window) if track is not None else (np.zeros((0, dim), np.float32), np.zeros(0, np.float32))
           for track, window in zip(tracks, windows, strict=True)]
    length = max([len(times) for _, times in cut], default=0) or 1
    video = torch.zeros(len(cut), length, dim)
    times = torch.zeros(len(cut), length)
    mask = torch.zeros(len(cut), length, dtype=torch.bool)
    for row, (embeddings, offsets) in enumerate(cut):
        video[row, : len(offsets)] = torch.from_numpy(embeddings)
        times[row, : len(offsets)] = torch.from_numpy(offsets)
        mask[row, : len(offsets)] = True
    return {"video": video, "video_times": times, "video_mask": mask}
