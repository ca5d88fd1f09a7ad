"""One video -> aligned mouth crops -> lip embeddings: the per-clip work `featurize --lips` caches for training and
`enhance --video` repeats for a new recording, so both make lip features the same way.

Decode, MediaPipe face landmarks per frame, gaps interpolated, landmarks smoothed,
similarity-aligned 96 x 96 grayscale mouth crops, then the lip encoder over the centre
88 x 88 of each crop, normalised with the LRW constants its weights were trained with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from pipelines.artifacts.checksums import file_checksum
from pipelines.errors import BadInput
from pipelines.models.lip_resnet import LipResNet, embed_frames, initial_encoder, normalise_crops
from pipelines.video.decode import read_video
from pipelines.video.face_landmarks import detect_landmarks, fill_missing, resolve_face_model, smooth
from pipelines.video.lip_track import LipTrack
from pipelines.video.mouth_roi import CropSettings, crop_mouths, crop_transforms

UNTRAINED = "untrained"
SMOOTHING_WINDOW = 5  # frames (0.2 s at 25 fps): removes landmark jitter, keeps head motion
LRW_MEAN, LRW_STD = 0.421, 0.165  # of pixel / 255 on LRW: what pretrained weights expect
STEPS = ("decode", "landmarks", "crop", "encoder")
MISSING = "missing"  # the checksum of a video file that is not there (its utterance fails, others go on)


@dataclass(frozen=True)
class ClipTask:
    """Everything a worker needs for one clip (picklable)."""

    uid: str
    split: str
    checksum: str
    video: str
    face_model: str
    weights: str | None
    threads: int
    crop: CropSettings = CropSettings()
    smoothing: int = SMOOTHING_WINDOW
    embed: bool = True  # False: crops only (a fine-tuned checkpoint embeds them with its own encoder)

    @property
    def video_key(self) -> str:
        """Same key, same video content (a missing file is keyed by its path)."""
        return self.video if self.checksum == MISSING else self.checksum


@dataclass
class ClipFeatures:
    arrays: dict[str, np.ndarray]
    attrs: dict
    seconds: dict[str, float]


def featurize_clip(task: ClipTask) -> ClipFeatures:
    """One video -> rois, landmarks, detected, transforms, embeddings (and how long each step took)."""
    clock = time.perf_counter()
    seconds = {}

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step], clock = now - clock, now

    video = read_video(Path(task.video))
    lap("decode")
    landmarks, detected = detect_landmarks(video.rgb, video.fps, Path(task.face_model))
    lap("landmarks")
    if not detected.any():
        raise BadInput(f"{task.video}: no face found in any of its {len(detected)} frames")
    landmarks = fill_missing(landmarks, detected)
    transforms = crop_transforms(smooth(landmarks, task.smoothing), task.crop)
    rois = crop_mouths(video.rgb, transforms, task.crop.size)
    lap("crop")
    arrays = {"rois": rois, "landmarks": landmarks, "detected": detected, "transforms": transforms}
    if task.embed:
        arrays["embeddings"] = embed_frames(_encoder(task.weights, task.threads), encoder_input(rois))
    lap("encoder")
    scaled = rois.astype(np.float64) / 255
    attrs = {"fps": video.fps, "encoder": UNTRAINED if task.weights is None else file_checksum(Path(task.weights)),
             "roi_sum": scaled.sum(), "roi_sum_sq": np.square(scaled).sum()}
    return ClipFeatures(arrays, attrs, seconds)


def encoder_input(rois: np.ndarray) -> np.ndarray:
    """(T, 96, 96) uint8 crops -> the centre 88 x 88, as LRW-normalised float32."""
    return normalise_crops(torch.from_numpy(rois), LRW_MEAN, LRW_STD).numpy()


@lru_cache(maxsize=1)
def _encoder(weights: str | None, threads: int) -> LipResNet:
    """One encoder per process (see `initial_encoder`)."""
    torch.set_num_threads(threads)
    return initial_encoder(Path(weights) if weights else None).eval()


def check_lip_encoder(weights: Path | None, expected: str) -> None:
    """`enhance --video` must embed lips with the encoder the checkpoint was trained on ("untrained" or a checksum)."""
    encoder = UNTRAINED if weights is None else file_checksum(weights)
    if expected and encoder != expected:
        wanted = "no --lip-weights (the untrained encoder)" if expected == UNTRAINED else \
            f"--lip-weights with sha256 {expected[:12]}..."
        raise BadInput(f"the checkpoint's lip embeddings were made with {wanted}; give the same encoder to enhance")


def lip_track(video: Path, face_model: Path | None, weights: Path | None, kind: str = "embeddings") -> LipTrack:
    """Lip embeddings (or, kind "rois", the mouth crops) of one video for `enhance`, made exactly as
    `featurize --lips` made the training ones."""
    task = ClipTask(video.stem, "", "", str(video), str(resolve_face_model(face_model)),
                    str(weights) if weights else None, torch.get_num_threads(), embed=kind == "embeddings")
    features = featurize_clip(task)
    return LipTrack(features.arrays[kind], float(features.attrs["fps"]))
