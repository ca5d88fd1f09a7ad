"""`--shard I/N`: which utterances one job of a split corpus owns, so N jobs (a SLURM array) cover it once.

I counts from 1, like SLURM array task ids (`--array=1-N`). An utterance belongs to the shard
its id hashes to (sha256), not to a position in the manifest: adding files moves no other
utterance to another shard, so each shard's cache stays valid. Shard 1/1 is the whole corpus.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pipelines.errors import BadInput

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
_SUFFIX = re.compile(r"\.shard-(\d+)-of-(\d+)$")


@dataclass(frozen=True)
class Shard:
    index: int = 1  # 1 ... count
    count: int = 1

    @classmethod
    def parse(cls, spec: str) -> "Shard":
        """'2/3' -> Shard(2, 3), or BadInput saying what is wrong."""
        match = _SPEC.fullmatch(spec)
        if not match:
            raise BadInput(f"--shard {spec}: expected I/N, e.g. 2/3 (shard I of N, counting from 1)")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 1 <= index <= count:
            raise BadInput(f"--shard {spec}: I must be between 1 and N (and N at least 1)")
        return cls(index, count)

    @property
    def whole(self) -> bool:
        return self.count == 1

    def owns(self, uid: str) -> bool:
        return self.whole or shard_of(uid, self.count) == self.index

    @property
    def suffix(self) -> str:
        """What a shard adds to file names: '' for the whole corpus, else '.shard-I-of-N'."""
        return "" if self.whole else f".shard-{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Shard()


def shard_of(uid: str, count: int) -> int:
    """The shard (1 ... count) an utterance id belongs to."""
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big") % count + 1


def split_suffix(stem: str) -> tuple[str, Shard] | None:
    """'text_train.shard-2-of-3' -> ('text_train', Shard(2, 3)); None for a name without a shard suffix."""
    match = _SUFFIX.search(stem)
    if not match:
        return None
    index, count = int(match[1]), int(match[2])
    return (stem[:match.start()], Shard(index, count)) if 1 <= index <= count else None
