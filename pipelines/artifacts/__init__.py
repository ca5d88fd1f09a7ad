"""Cached stage outputs: one HDF5 file per stage and split, keyed by what produced each entry."""

from pipelines.artifacts.lock import WorkdirLock
from pipelines.artifacts.store import ArtifactStore, config_hash, file_checksum, open_artifact
from pipelines.artifacts.workdir import Workdir

__all__ = ["ArtifactStore", "Workdir", "WorkdirLock", "config_hash", "file_checksum", "open_artifact"]
