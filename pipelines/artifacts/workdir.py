"""Where things live inside a workdir, in one place so no stage invents its own paths."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.artifacts.shards import WHOLE, Shard
from pipelines.atomic import check_target
from pipelines.errors import BadInput


@dataclass(frozen=True)
class Workdir:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def manifest_csv(self) -> Path:
        return self.root / "manifest.csv"

    @property
    def manifest_json(self) -> Path:
        return self.root / "manifest.json"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def artifact(self, stage: str, split: str, shard: Shard = WHOLE) -> Path:
        return self.artifacts / f"{stage}_{split}{shard.suffix}.h5"

    def pending(self, stage: str, split: str, shard: Shard = WHOLE) -> Path:
        """Items finished by a run that has not been committed into the artifact yet (one folder per shard)."""
        return self.artifacts / f".{stage}_{split}{shard.suffix}.pending"

    def reports(self, stage: str) -> Path:
        return self.root / "reports" / stage

    @property
    def lock_file(self) -> Path:
        return self.root / ".cmkt.lock"

    def shard_lock_file(self, command: str, shard: Shard) -> Path:
        """Held by the one job running this shard of this command (shard jobs share `lock_file`)."""
        return self.root / f".cmkt.{command}{shard.suffix}.lock"

    def create(self) -> "Workdir":
        make_folder(self.root, "--workdir")
        make_folder(self.artifacts, "--workdir")
        return self


def make_folder(path: Path, option: str) -> Path:
    """Create a folder a command writes into (an output option's), or say in one line (BadInput) why it cannot be:
    a path under a regular file, a file of that name, no permission."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"{option} {path}: cannot create this folder ({err.strerror or err})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInput(f"{option} {path}: this folder is not writable")
    return path


def output_file(path: Path, option: str, force: bool) -> Path:
    """The one file a command writes (export's, import-checkpoint's `-o FILE`), or BadInput in one line: a folder, a
    link, one of the command's inputs, or an existing file without --force. Its folder is created."""
    if path.is_dir():
        raise BadInput(f"{option} {path}: this is a folder; give the file to write (e.g. {path / 'model.pt'})")
    check_target(path)
    if path.exists() and not force:
        raise BadInput(f"{option} {path}: the file exists; --force replaces it")
    make_folder(path.parent, option)
    return path
