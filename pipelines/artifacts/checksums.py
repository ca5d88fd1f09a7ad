"""What produced a cached item: hashes of stage configs, input files and parameters (no HDF5 needed, so light
modules such as the Whisper engines can fingerprint their weights without loading h5py)."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable short hash of a JSON-serialisable stage configuration."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


def file_checksum(path: Path) -> str:
    """sha256 of a file's bytes, memoised per (path, size, mtime) within a process."""
    stat = Path(path).stat()
    return _file_checksum(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _file_checksum(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def combine_checksums(*parts: Any) -> str:
    """One checksum for an item made of several inputs and parameters."""
    return hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
