"""Join a stage's shard files (`--shard I/N` jobs) into its normal artifact without copying the data.

The merged `STAGE_SPLIT.h5` holds every utterance group with its attributes (small, copied)
and, for each dataset, an HDF5 virtual dataset reading the shard file's one. Sources are
named relative to the merged file (same folder), so the artifacts folder can be moved whole.
HDF5 reads a virtual dataset whose source file is gone as fill values, without an error, so
the merge records each shard file's size and mtime: `current_artifact` merges again when a
shard changed (was rerun) and refuses when one is gone. An unsharded rerun of the stage
turns the merge into a self-contained artifact (the store copies virtual data on commit).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import h5py

from pipelines.artifacts.integrity import sign
from pipelines.artifacts.shards import Shard, split_suffix
from pipelines.artifacts.workdir import Workdir
from pipelines.atomic import replaced_atomically
from pipelines.errors import BadInput
from pipelines.reporting import active_reporter

MERGED_FROM = "merged_from"  # root attribute of a merge: JSON {shard file name: [size, mtime_ns]}


@dataclass(frozen=True)
class MergeResult:
    stage: str
    split: str
    shards: int
    items: int
    path: Path


def shard_files(workdir: Workdir, stage: str) -> dict[str, dict[Shard, Path]]:
    """split -> {shard: file} for every shard file of `stage` in the workdir."""
    found: dict[str, dict[Shard, Path]] = {}
    for path in sorted(workdir.artifacts.glob(f"{stage}_*.shard-*-of-*.h5")):
        parsed = split_suffix(path.stem)
        if parsed is not None:
            name, shard = parsed
            found.setdefault(name.removeprefix(f"{stage}_"), {})[shard] = path
    return found


def merge_stage(workdir: Workdir, stage: str, force: bool = False) -> list[MergeResult]:
    """Merge the shards of every split of `stage` that has some."""
    return [merge_split(workdir, stage, split, force) for split in shard_files(workdir, stage)]


def merge_split(workdir: Workdir, stage: str, split: str, force: bool = False) -> MergeResult:
    """Write STAGE_SPLIT.h5 over a complete, consistent set of shard files (BadInput says what is wrong).

    An artifact there that is not a merge (an unsharded run's) is replaced only with `force`."""
    shards = _complete_set(workdir, stage, split)
    target = workdir.artifact(stage, split)
    if not force and target.exists() and _merged_from(target) is None:
        raise BadInput(f"{target} exists and was not merged from shards: `cmkt merge --force` replaces it with "
                       f"the merge of the {len(shards)} shards")
    # concurrent readers may merge at once: each into its own temporary file
    with replaced_atomically(target, target.with_name(f".{target.name}.{os.getpid()}.tmp")) as temporary:
        items = _write_merge(temporary, shards, f"{stage} {split}")
    return MergeResult(stage, split, len(shards), items, target)


def _write_merge(target: Path, shards: list[Path], label: str) -> int:
    """The merged file: the first shard's root attributes, every shard's groups linked, the shards' stamps."""
    stamps, items = {}, 0
    with h5py.File(target, "w") as out:
        for path in shards:
            stamps[path.name] = _stamp(path)
            with h5py.File(path, "r") as shard:
                if path == shards[0]:
                    out.attrs.update(shard.attrs)
                for uid, group in shard.items():
                    if uid in out:
                        raise BadInput(f"{label}: utterance {uid} is in two shards; delete the shard files and rerun "
                                       f"the shards")
                    _link_group(group, out.create_group(uid), path.name)
                    items += 1
        out.attrs[MERGED_FROM] = json.dumps(stamps)
        sign(out)
    return items


def current_artifact(workdir: Workdir, stage: str, split: str) -> Path | None:
    """The artifact a reader should open: STAGE_SPLIT.h5, merged (again) from its shards when it is missing
    or they changed since; None when there is neither."""
    path = workdir.artifact(stage, split)
    merged_from = _merged_from(path)
    if path.exists() and merged_from is None:
        return path  # an unsharded run's own
    if merged_from is not None and all(_stamp(path.parent / name) == stamp for name, stamp in merged_from.items()):
        return path
    if split not in shard_files(workdir, stage):
        if merged_from is None:
            return None
        raise BadInput(f"{path} reads its data from shard files that are gone ({', '.join(merged_from)}): rerun "
                       f"the shards, or the stage without --shard")
    result = merge_split(workdir, stage, split)
    active_reporter().info(f"{stage} {split}: merged {result.shards} shards ({result.items} utterances) into {path}")
    return path


def _complete_set(workdir: Workdir, stage: str, split: str) -> list[Path]:
    """The shard files of one (stage, split) in order, all N of them, none with unfinished work."""
    files = shard_files(workdir, stage).get(split, {})
    if not files:
        raise BadInput(f"no shard files of {stage} {split} in {workdir.artifacts}")
    counts = sorted({shard.count for shard in files})
    if len(counts) > 1:
        raise BadInput(f"{stage} {split}: shard files of different runs (of {', of '.join(map(str, counts))}) in "
                       f"{workdir.artifacts}: delete the stale ones")
    count = counts[0]
    missing = [Shard(i, count) for i in range(1, count + 1) if Shard(i, count) not in files]
    if missing:
        raise BadInput(f"{stage} {split}: shard {', '.join(map(str, missing))} missing (no "
                       f"{', '.join(workdir.artifact(stage, split, s).name for s in missing)}): run "
                       f"{'it' if len(missing) == 1 else 'them'} with --shard I/{count}")
    unfinished = [shard for shard in files if workdir.pending(stage, split, shard).exists()]
    if unfinished:
        raise BadInput(f"{stage} {split}: shard {', '.join(map(str, unfinished))} has unfinished work (a run is going "
                       f"on, or was stopped: rerun it)")
    paths = [files[Shard(i, count)] for i in range(1, count + 1)]
    hashes = {}
    for path in paths:
        with h5py.File(path, "r") as shard:
            hashes.setdefault(str(shard.attrs["config_hash"]), []).append(path.name)
    if len(hashes) > 1:
        made = "; ".join(f"{digest} in {', '.join(names)}" for digest, names in hashes.items())
        raise BadInput(f"{stage} {split}: the shards were made with different settings (config {made}): rerun "
                       f"the odd ones with the same options")
    return paths


def _link_group(source: h5py.Group, target: h5py.Group, file_name: str) -> None:
    """Attributes copied; each dataset a virtual dataset reading `file_name` (relative to the merged file)."""
    target.attrs.update(source.attrs)
    for name, dataset in source.items():
        layout = h5py.VirtualLayout(shape=dataset.shape, dtype=dataset.dtype)
        layout[...] = h5py.VirtualSource(file_name, dataset.name, shape=dataset.shape, dtype=dataset.dtype)
        target.create_virtual_dataset(name, layout)


def _merged_from(path: Path) -> dict[str, list[int]] | None:
    """The shard stamps a merged artifact recorded; None for an unsharded artifact or no (readable) file."""
    try:
        with h5py.File(path, "r") as f:
            return json.loads(f.attrs[MERGED_FROM]) if MERGED_FROM in f.attrs else None
    except OSError:
        return None


def _stamp(path: Path) -> list[int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [stat.st_size, stat.st_mtime_ns]
