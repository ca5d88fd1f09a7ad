"""Cached stage outputs: one HDF5 file per stage and split, keyed by what produced each entry.

The HDF5 parts (`ArtifactStore`, `open_artifact`) load on first use, so the CLI can hold a workdir without h5py."""

from importlib import import_module

from pipelines.artifacts.checksums import config_hash, file_checksum
from pipelines.artifacts.lock import WorkdirLock
from pipelines.artifacts.workdir import Workdir

_LAZY = {"ArtifactStore": "pipelines.artifacts.store", "open_artifact": "pipelines.artifacts.store"}

__all__ = ["ArtifactStore", "Workdir", "WorkdirLock", "config_hash", "file_checksum", "open_artifact"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
