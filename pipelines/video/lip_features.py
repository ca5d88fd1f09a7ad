"""The reader of the `lips` artifact (`featurize --lips`): each utterance's lip frames as a `LipTrack`, and the
train split's mouth-crop statistics."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from pipelines.artifacts.merge import current_artifact
from pipelines.artifacts.store import ArtifactFile, open_artifact
from pipelines.artifacts.workdir import Workdir
from pipelines.errors import BadInput
from pipelines.video.lip_track import LipTrack

STAGE = "lips"
KINDS = ("embeddings", "rois")  # the artifact's datasets a LipFeatureSet can hold


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


def roi_normalisation(workdir: Workdir) -> tuple[float, float]:
    """Mean and std of pixel / 255 over every train-split crop in the lips artifact (for `--lip-encoder finetune`)."""
    total = total_sq = count = 0.0
    with open_artifact(workdir, STAGE, "train") as artifact:
        for group in artifact.values():
            total += float(group.attrs["roi_sum"])
            total_sq += float(group.attrs["roi_sum_sq"])
            count += group["rois"].size
    if not count:
        raise BadInput(f"no mouth crops in the train split of {workdir.root}: no train utterance has a video with a "
                       f"face that `cmkt featurize --lips` could crop (audio-only training, --modality a, needs none)")
    mean = total / count
    return mean, float(np.sqrt(max(total_sq / count - mean ** 2, 0.0)))
