"""Lip frames for training and enhancement: the `lips` artifact read per utterance, cut to audio windows.

A frame is a lip embedding (D,) or, when the lip encoder is fine-tuned with the enhancer
(`train --lip-encoder finetune`), the 96 x 96 mouth crop itself. Training crops and
inference chunks are windows of an utterance's audio; each gets the lip frames whose time
(frame / fps) falls inside it, with times counted from the window's start, as
`AudioVisualCrossAttention` expects. Utterances without lip features get an empty window
(the model's "no video" key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pipelines.artifacts.merge import current_artifact
from pipelines.artifacts.store import ArtifactFile
from pipelines.artifacts.workdir import Workdir
from pipelines.errors import BadInput

STAGE = "lips"
KINDS = ("embeddings", "rois")  # the artifact's datasets a LipFeatureSet can hold


@dataclass(frozen=True)
class LipTrack:
    frames: np.ndarray  # (T_v, D) float32 embeddings or (T_v, 96, 96) uint8 mouth crops
    fps: float

    def window(self, start_s: float, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(frames, times from start_s) of the frames whose time lies in [start_s, start_s + duration_s)."""
        times = np.arange(len(self.frames)) / self.fps - start_s
        inside = (times >= 0) & (times < duration_s)
        return self.frames[inside], times[inside].astype(np.float32)


@dataclass(frozen=True)
class LipFeatureSet:
    shape: tuple[int, ...]  # of one frame: (D,) for embeddings, (96, 96) for crops
    encoder: str  # "untrained" or the weights' checksum
    items: dict[str, LipTrack]

    @property
    def dim(self) -> int:
        return self.shape[-1] if self.shape else 0


def load_lip_features(workdir: Workdir, split: str, kind: str = "embeddings") -> LipFeatureSet:
    """Each utterance's lip embeddings (kind "embeddings") or mouth crops ("rois") from the `lips` artifact."""
    path = current_artifact(workdir, STAGE, split)  # merged from its shards if need be
    if path is None:
        raise BadInput(f"no lip features for split '{split}' in {workdir.root}: run `cmkt featurize --lips` first")
    with ArtifactFile(path, STAGE) as f:
        config = json.loads(f.attrs["config"])
        items = {uid: LipTrack(g[kind][()], float(g.attrs["fps"])) for uid, g in f.items()}
    shapes = {track.frames.shape[1:] for track in items.values()}
    if len(shapes) > 1:
        raise BadInput(f"{path}: lip {kind} of different shapes {sorted(shapes)}; rerun `featurize --lips --force`")
    return LipFeatureSet(shapes.pop() if shapes else (), str(config.get("encoder", "")), items)


def video_context(tracks: list[LipTrack | None], windows: list[tuple[float, float]],
                  shape: tuple[int, ...]) -> dict[str, Tensor]:
    """Padded float video (B, T_v, *shape), video_times (B, T_v) and video_mask (B, T_v) for (start_s, duration_s)
    windows; `shape` is one frame's: (D,) embeddings or (96, 96) crops."""
    empty = (np.zeros((0, *shape), np.float32), np.zeros(0, np.float32))
    cut = [track.window(*window) if track is not None else empty for track, window in zip(tracks, windows, strict=True)]
    length = max([len(times) for _, times in cut], default=0) or 1
    video = torch.zeros(len(cut), length, *shape)
    times = torch.zeros(len(cut), length)
    mask = torch.zeros(len(cut), length, dtype=torch.bool)
    for row, (frames, offsets) in enumerate(cut):
        video[row, : len(offsets)] = torch.from_numpy(frames.astype(np.float32))
        times[row, : len(offsets)] = torch.from_numpy(offsets)
        mask[row, : len(offsets)] = True
    return {"video": video, "video_times": times, "video_mask": mask}
