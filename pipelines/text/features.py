"""Read the `text` artifact (`cmkt featurize --text`): the BERT targets the CMKT loss aligns to.

Training code depends on this reader rather than on the HDF5 layout, so the layout can
change in one place. Utterances without a transcript have no entry: they train without
the CMKT loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from pipelines.artifacts.merge import current_artifact
from pipelines.artifacts.store import ArtifactFile
from pipelines.artifacts.workdir import Workdir
from pipelines.errors import BadInput

STAGE = "text"


@dataclass(frozen=True)
class TokenFeatures:
    token_ids: np.ndarray    # int64 (T_t,)
    features: np.ndarray     # float32 (T_t, hidden_size): BERT's last hidden state
    token_times: np.ndarray  # float32 (T_t, 2), seconds: a uniform-speaking-rate estimate of (start, end)


@dataclass(frozen=True)
class TextFeatureSet:
    model: str
    hidden_size: int
    vocab_size: int
    items: dict[str, TokenFeatures]  # utterance id -> features; utterances without a transcript are absent


def load_text_features(workdir: Workdir, split: str) -> TextFeatureSet:
    """Every utterance's token features for one split, in memory (small: T_t × d_s floats each)."""
    path = current_artifact(workdir, STAGE, split)  # merged from its shards if need be
    if path is None:
        raise BadInput(f"no text features for split '{split}' in {workdir.root}: run `cmkt featurize --text` first")
    with ArtifactFile(path, STAGE) as f:
        config = json.loads(f.attrs["config"])
        items = {uid: TokenFeatures(token_ids=group["token_ids"][()].astype(np.int64),
                                    features=group["features"][()].astype(np.float32),
                                    token_times=group["token_times"][()].astype(np.float32))
                 for uid, group in f.items()}
    return TextFeatureSet(model=config["model"], hidden_size=int(config["hidden_size"]),
                          vocab_size=int(config["vocab_size"]), items=items)
