"""Checksums of artifact items, checked whenever an item is read, so damaged or edited data is never used silently.

Each item (an utterance's group) records in its attributes a sha256 of every dataset (values, dtype and shape, as
read back) and one of its other attributes; an artifact's own attributes get one too. Why a hash rather than HDF5's
Fletcher-32 filter: h5py cannot filter variable-length strings (transcript segments, BERT tokens) nor scalars, so
Fletcher-32 would leave those unguarded, and it covers no attribute (an edited `duration_s`). A hash covers all of
it, survives HDF5's raw copies and the virtual datasets of a merge unchanged, and costs one pass over the data at
about 1 GB/s when the item is read.

Versions: items record the `FORMAT` of their layout and meaning beside the `cmkt_version` that wrote them. FORMAT is
raised whenever a release changes what an item holds or means, so an item of another cmkt version with this FORMAT,
intact checksums and the same cache key (stage config and inputs) is what this version would write: it is reused.
Items of another FORMAT are recomputed, with a note. Items written before checksums existed carry neither: they are
read unchecked, as the reader says once.
"""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np

from pipelines.artifacts.checksums import canonical_json

CHECKSUMS = "checksums"  # attribute: JSON {"attrs": sha256, "datasets": {name: sha256}}
FORMAT_ATTRIBUTE = "artifact_format"
FORMAT = 2  # 1: items without checksums (cmkt before they existed)
UNCHECKED = "written before artifacts had checksums"


def sign(target: h5py.Group) -> None:
    """Record the checksums of `target`'s datasets (an item's; an artifact's root holds groups, not datasets) and of
    its attributes, as stored."""
    datasets = {name: _dataset_digest(target[name]) for name in _datasets(target)}
    target.attrs[CHECKSUMS] = json.dumps({"attrs": _attributes_digest(target), "datasets": datasets})


def damage(target: h5py.Group) -> str | None:
    """What differs from `target`'s recorded checksums (None: nothing; UNCHECKED: it records none)."""
    recorded = target.attrs.get(CHECKSUMS)
    if recorded is None:
        return UNCHECKED
    try:
        recorded = json.loads(recorded)
        attributes, datasets = recorded["attrs"], recorded["datasets"]
    except (ValueError, KeyError, TypeError):
        return "its checksums are unreadable"
    if _attributes_digest(target) != attributes:
        return "its attributes differ from their checksum"
    present = set(_datasets(target))
    if present != set(datasets):
        return f"it holds datasets {sorted(present)}, its checksums list {sorted(datasets)}"
    for name, digest in datasets.items():
        if _dataset_digest(target[name]) != digest:
            return f"the data of '{name}' differ from their checksum"
    return None


def _datasets(target: h5py.Group) -> list[str]:
    """The names of `target`'s datasets, found without opening its members (an artifact's items check themselves
    when opened)."""
    return [name for name in target if target.get(name, getclass=True) is h5py.Dataset]


def _attributes_digest(target: h5py.Group) -> str:
    values = {name: _plain(value) for name, value in target.attrs.items() if name != CHECKSUMS}
    return hashlib.sha256(canonical_json(values).encode()).hexdigest()


def _plain(value):
    """An attribute as read back (numpy scalar or array, bytes, str) as JSON-able Python."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (np.ndarray, np.generic)):
        return _plain(value.tolist()) if isinstance(value, np.ndarray) else value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _dataset_digest(dataset: h5py.Dataset) -> str:
    data = np.asarray(dataset[()])
    digest = hashlib.sha256(f"{data.shape}".encode())
    if h5py.check_string_dtype(dataset.dtype) is not None or data.dtype == object:
        for text in data.reshape(-1):
            encoded = text if isinstance(text, bytes) else str(text).encode("utf-8")
            digest.update(len(encoded).to_bytes(8, "little") + encoded)
    else:
        digest.update(data.dtype.str.encode())
        digest.update(np.ascontiguousarray(data).tobytes())
    return digest.hexdigest()
