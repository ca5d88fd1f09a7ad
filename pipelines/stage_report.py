"""What a stage (or the workdir-free enhancement of files) did: counts of cached, computed, skipped and failed
items, for the CLI's summary line and table."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StageReport:
    stage: str
    split: str
    cached: int = 0
    computed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.stage} {self.split}: {self.cached} cached, {self.computed} computed"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        if self.failed:
            text += f", {len(self.failed)} failed"
        return text
