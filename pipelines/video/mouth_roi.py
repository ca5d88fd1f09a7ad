"""Mouth crops: align each frame by a similarity transform on stable face points, cut 96 x 96 grayscale.

Stable points are the four eye corners (33, 133, 362, 263) and two nose points (bridge
168, tip 1): they move with the head but hardly with speech, unlike the lips and jaw.
MediaPipe's 478 points have no published mean face in the LRW sense, so each clip is
aligned to its own mean stable shape, turned upright (the eye line horizontal) and
scaled so the outer eye corners lie `eye_distance` pixels apart. That removes head
rotation, scale and translation from frame to frame while keeping the speaker's
proportions. Each frame's crop is then centred on its (smoothed) mouth centre, the mean
of the corners 61/291 and the lip midpoints 0/17.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipelines.atomic import write_bytes
from pipelines.video.face_landmarks import EYE_CORNERS, MOUTH_POINTS, NOSE_POINTS

STABLE_POINTS = EYE_CORNERS + NOSE_POINTS


@dataclass(frozen=True)
class CropSettings:
    size: int = 96  # crop side in pixels
    eye_distance: float = 80.0  # outer eye corners this far apart after alignment: lips about half the crop wide

    def to_dict(self) -> dict:
        return {"size": self.size, "eye_distance": self.eye_distance, "stable_points": list(STABLE_POINTS),
                "mouth_points": list(MOUTH_POINTS)}


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) taking (N, 2) source onto target, as 2 x 3."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    covariance = t.T @ s / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])  # no reflections
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / s.var(0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_t - scale * rotation @ mu_s
    return matrix


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (..., 2) points through a 2 x 3 affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def upright_template(stable: np.ndarray, eye_distance: float) -> np.ndarray:
    """The clip's mean stable shape (N, 2), rotated so the eyes are level and scaled to `eye_distance`."""
    mean = stable.mean(0)
    left_eye, right_eye = mean[0], mean[3]  # outer corners 33 and 263
    dx, dy = right_eye - left_eye
    angle, scale = np.arctan2(dy, dx), eye_distance / np.hypot(dx, dy)
    rotation = np.array([[np.cos(-angle), -np.sin(-angle)], [np.sin(-angle), np.cos(-angle)]])
    return scale * (mean - mean.mean(0)) @ rotation.T


def crop_transforms(landmarks: np.ndarray, settings: CropSettings) -> np.ndarray:
    """(T, 478, 2) smoothed pixel landmarks -> (T, 2, 3) matrices from frame pixels to crop pixels."""
    stable = landmarks[:, STABLE_POINTS]
    template = upright_template(stable, settings.eye_distance)
    matrices = np.stack([similarity(points, template) for points in stable])
    mouth = np.stack([apply(m, frame[list(MOUTH_POINTS)]).mean(0) for m, frame in zip(matrices, landmarks)])
    matrices[:, :, 2] += settings.size / 2 - mouth
    return matrices.astype(np.float32)


def crop_mouths(rgb: np.ndarray, transforms: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames -> (T, size, size) uint8 grayscale mouth crops."""
    crops = np.empty((len(rgb), size, size), dtype=np.uint8)
    for index, (frame, matrix) in enumerate(zip(rgb, transforms)):
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        crops[index] = cv2.warpAffine(gray, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REPLICATE)
    return crops


def write_contact_sheet(path: Path, crops: np.ndarray, count: int = 8, columns: int = 4) -> None:
    """A PNG of `count` crops spread evenly over the clip, so a person can check that they are mouths."""
    picks = crops[np.linspace(0, len(crops) - 1, min(count, len(crops))).round().astype(int)]
    rows = -(-len(picks) // columns)
    size = crops.shape[1]
    sheet = np.full((rows * (size + 2) + 2, columns * (size + 2) + 2), 255, dtype=np.uint8)
    for index, crop in enumerate(picks):
        top, left = 2 + (index // columns) * (size + 2), 2 + (index % columns) * (size + 2)
        sheet[top:top + size, left:left + size] = crop
    encoded, png = cv2.imencode(".png", sheet)
    if not encoded:
        raise OSError(f"could not encode {path}")
    write_bytes(path, png.tobytes())
