"""One utterance's lip frames in memory, and the padded batch the model takes: what the enhancer and inference
need of the video, without HDF5 or the video pipeline.

A frame is a lip embedding (D,) or, when the lip encoder is fine-tuned with the enhancer
(`train --lip-encoder finetune`), the 96 x 96 mouth crop itself. Training crops and
inference chunks are windows of an utterance's audio; each gets the lip frames whose time
(frame / fps) falls inside it, with times counted from the window's start, as
`AudioVisualCrossAttention` expects. Utterances without lip features get an empty window
(the model's "no video" key).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class LipTrack:
    frames: np.ndarray  # (T_v, D) float32 embeddings or (T_v, 96, 96) uint8 mouth crops
    fps: float

    def window(self, start_s: float, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(frames, times from start_s) of the frames whose time lies in [start_s, start_s + duration_s)."""
        times = np.arange(len(self.frames)) / self.fps - start_s
        inside = (times >= 0) & (times < duration_s)
        return self.frames[inside], times[inside].astype(np.float32)


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
