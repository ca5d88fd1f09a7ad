"""Decode a video's frames with PyAV (FFmpeg), whose wheels bundle the codecs of mp4, mpg, avi and the like."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from pipelines.errors import BadInput


@dataclass
class Video:
    rgb: np.ndarray  # (T, H, W, 3) uint8
    fps: float


def read_video(path: Path) -> Video:
    """All frames of the first video stream of `path` (mp4, mpg, avi, ...); `BadInput` when there are none."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such video file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadInput(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
            rate = stream.average_rate or stream.guessed_rate
    except av.error.FFmpegError as err:
        raise BadInput(f"{path}: not readable as video ({err})") from None
    if not frames:
        raise BadInput(f"{path}: the video stream has no frames")
    if not rate:
        raise BadInput(f"{path}: the video has no frame rate")
    return Video(np.stack(frames), float(rate))
