"""Where things live inside a workdir, in one place so no stage invents its own paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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

    def artifact(self, stage: str, split: str) -> Path:
        return self.artifacts / f"{stage}_{split}.h5"

    def pending(self, stage: str, split: str) -> Path:
        """Items finished by a run that has not been committed into the artifact yet."""
        return self.artifacts / f".{stage}_{split}.pending"

    def reports(self, stage: str) -> Path:
        return self.root / "reports" / stage

    @property
    def lock_file(self) -> Path:
        return self.root / ".cmkt.lock"

    def create(self) -> "Workdir":
        self.artifacts.mkdir(parents=True, exist_ok=True)
        return self
