"""The reader of the `prepare` artifact: each utterance's 16 kHz mono (clean, noisy) waveforms and what made them.

Stages, training and benchmarks read prepared speech through this rather than through HDF5 key strings, so the
layout can change in one place (docs/data.md). Waveforms are read when asked for, inside the `with` block.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Iterator

import h5py
import numpy as np

from pipelines.artifacts.store import open_artifact
from pipelines.artifacts.workdir import Workdir
from pipelines.audio_io import SAMPLE_RATE
from pipelines.errors import BadInput

STAGE = "prepare"


class PreparedUtterance:
    """One utterance's entry; valid while its `PreparedSplit` is open."""

    def __init__(self, uid: str, group: h5py.Group):
        self.uid = uid
        self._group = group

    @property
    def checksum(self) -> str:
        """What made the entry (its inputs and prepare's config): the cache key of the stages that read it."""
        return str(self._group.attrs["input_checksum"])

    @property
    def clean(self) -> np.ndarray:
        return self._group["clean"][()]

    @property
    def noisy(self) -> np.ndarray:
        return self._group["noisy"][()]

    @property
    def seconds(self) -> float:
        return self._group["noisy"].shape[0] / SAMPLE_RATE

    @property
    def facts(self) -> dict:
        """What prepare measured: duration_s, source_rate and, for a mixture, noise_offset and snr_db."""
        return dict(self._group.attrs)


class PreparedSplit:
    """One split of the `prepare` artifact, open for reading: `with PreparedSplit(workdir, "test") as prepared:`.

    A missing or damaged artifact is one BadInput line naming `cmkt prepare` (see `open_artifact`)."""

    def __init__(self, workdir: Workdir, split: str):
        self._file = open_artifact(workdir, STAGE, split)

    def __enter__(self) -> PreparedSplit:
        self._file.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._file.__exit__(kind, error, traceback)

    @property
    def path(self) -> Path:
        return Path(self._file.filename)

    def ids(self) -> list[str]:
        return sorted(self._file)

    def __contains__(self, uid: object) -> bool:
        return uid in self._file

    def __getitem__(self, uid: str) -> PreparedUtterance:
        if uid not in self._file:
            raise BadInput(f"utterance '{uid}' is in the manifest but not in {self.path}: rerun `cmkt prepare`")
        return PreparedUtterance(uid, self._file[uid])

    def __iter__(self) -> Iterator[PreparedUtterance]:
        return (self[uid] for uid in self.ids())
