"""Which stage writes which artifact, with which command, and whether its jobs can be split with --shard I/N.

The one table `merge`, the "run `cmkt ...` first" hints and the CLI's --stage choices read (light: no HDF5)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArtifactKind:
    artifact: str  # STAGE in WORKDIR/artifacts/STAGE_SPLIT.h5
    stage: str  # the module in pipelines/stages/ that writes it
    command: str  # the cmkt command (without `cmkt`) that writes it
    shardable: bool  # its command takes --shard I/N, and `cmkt merge` joins the shards


CATALOG = {kind.artifact: kind for kind in (
    ArtifactKind("prepare", "prepare", "prepare", False),
    ArtifactKind("transcribe", "transcribe", "transcribe", True),
    ArtifactKind("text", "featurize_text", "featurize --text", True),
    ArtifactKind("lips", "featurize_lips", "featurize --lips", True),
    ArtifactKind("ssl", "featurize_ssl", "featurize --ssl", True),
    ArtifactKind("enhance", "enhance", "enhance", False),
    ArtifactKind("score", "score", "score", False),
)}
SHARDABLE = tuple(name for name, kind in CATALOG.items() if kind.shardable)


def command_for(artifact: str) -> str:
    """The cmkt command that writes `artifact` (an unlisted name, e.g. a test's, is its own command)."""
    kind = CATALOG.get(artifact)
    return kind.command if kind is not None else artifact
