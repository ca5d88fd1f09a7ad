"""`cmkt merge`: join the files of `--shard I/N` jobs into each stage's normal artifact, without copying the data."""

from __future__ import annotations

from pathlib import Path

import typer

from cmkt_cli.options import QUIET, WORKDIR
from cmkt_cli.session import stage_session
from pipelines.artifacts.catalog import SHARDABLE as SHARDED
from pipelines.errors import BadInput


def merge_command(stage: str = typer.Option("all", "--stage", help=f"{', '.join(SHARDED)} or all."),
                  force: bool = typer.Option(False, "--force", help="Replace an artifact an unsharded run wrote."),
                  workdir: Path = WORKDIR, quiet: bool = QUIET) -> None:
    """Join the shard files of `--shard I/N` runs into each stage's artifact: virtual datasets that read the shard
    files (keep them; the next stage would also merge by itself)."""
    from pipelines.artifacts.merge import merge_stage

    with stage_session(workdir, "merge", quiet) as (place, reporter):
        if stage not in (*SHARDED, "all"):
            raise BadInput(f"--stage must be one of {', '.join(SHARDED)} or all, got {stage!r}")
        merged = 0
        for name in SHARDED if stage == "all" else (stage,):
            for result in merge_stage(place, name, force):
                reporter.console.print(f"{result.stage} {result.split}: {result.shards} shards, {result.items} "
                                       f"utterances -> {result.path}")
                merged += 1
        if not merged:
            raise BadInput(f"no shard files of {'any stage' if stage == 'all' else stage} in {place.artifacts}: run "
                           f"`cmkt transcribe` or `cmkt featurize` with --shard I/N first")
