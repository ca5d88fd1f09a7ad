"""Read the `ssl` artifact (`cmkt featurize --ssl`): a speech encoder's hidden states at the STFT frames.

Training with `--ssl frozen` takes crops of the noisy states as it takes crops of the waveforms; `cmkt ssl-layers`
compares the clean and noisy states. Both read through this class, not the HDF5 layout.
"""

from __future__ import annotations

import json

import numpy as np

from pipelines.artifacts.merge import current_artifact
from pipelines.artifacts.store import ArtifactFile
from pipelines.artifacts.workdir import Workdir
from pipelines.errors import BadInput

STAGE = "ssl"


class SSLFeatureSet:
    """One split's hidden states, open for reading: `with SSLFeatureSet(workdir, "train") as states: ...`."""

    def __init__(self, workdir: Workdir, split: str):
        path = current_artifact(workdir, STAGE, split)  # merged from its shards if need be
        if path is None:
            raise BadInput(f"no speech-encoder features for split '{split}' in {workdir.root}: run "
                           f"`cmkt featurize --ssl` first")
        self._file = ArtifactFile(path, STAGE)
        self.config = json.loads(self._file.attrs["config"])
        self.layers: list[int] = list(self.config["layers_kept"])
        self.hop: int = int(self.config["hop"])
        self.width: int = int(self.config["width"])

    def __enter__(self) -> SSLFeatureSet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __contains__(self, uid: object) -> bool:
        return uid in self._file

    def ids(self) -> list[str]:
        return sorted(self._file)

    def has_clean(self, uid: str) -> bool:
        return "clean" in self._file[uid]

    def states(self, uid: str, which: str = "noisy") -> np.ndarray:
        """(layers, frames, width) float32 of a whole utterance."""
        return self._file[uid][which][()].astype(np.float32)

    def crop(self, uid: str, first: int, frames: int) -> np.ndarray:
        """(layers, frames, width) float32 of the noisy states from STFT frame `first`, the last frame held past
        the end (as a crop of a short utterance is padded)."""
        data = self._file[uid]["noisy"]
        part = data[:, first:first + frames].astype(np.float32)
        if part.shape[1] < frames:
            tail = np.repeat(data[:, -1:].astype(np.float32), frames - part.shape[1], axis=1)
            part = np.concatenate([part, tail], axis=1)
        return part
