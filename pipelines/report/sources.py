"""What a report compares: which files, and for each the noisy input, every system's output and the clean reference.

The inputs are a prepared workdir (its split gives noisy and clean speech, and every folder
under WORKDIR/enhanced/ is a system), enhanced folders of a workdir, or plain folders of
enhanced files with optional `--noisy` and `--clean` folders; files are matched by the ids
`cmkt enhance` gives them (relative path without suffix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.artifacts.workdir import Workdir
from pipelines.data.layout import media_files
from pipelines.data.manifest import read_manifest, safe_id
from pipelines.data.prepared import PreparedSplit
from pipelines.errors import BadInput
from pipelines.run_card import read_run_card

Audio = Path | np.ndarray  # a file, or samples at 16 kHz (a prepared split)


@dataclass
class Column:
    """One signal of every file: 'noisy', a system (an enhanced folder) or 'clean'."""

    name: str
    folder: str  # its audio folder inside the report
    card: dict | None = None  # a system's model.json (pipelines/run_card.py)
    kind: str = "system"  # or "noisy", "clean"


@dataclass
class Comparison:
    columns: list[Column]
    files: dict[str, dict[str, Audio]] = field(default_factory=dict)  # id -> column name -> audio
    origin: str = ""  # what was compared, for the page's heading


def gather(inputs: list[Path], noisy_dir: Path | None, clean_dir: Path | None, split: str,
           out_dir: Path) -> Comparison:
    """The comparison the inputs describe; files under `out_dir` (an earlier report) are never taken as inputs."""
    workdirs, systems = [], []
    for path in inputs:
        if not path.is_dir():
            raise BadInput(f"{path}: not a folder (give a prepared workdir or folders of enhanced files)")
        if Workdir(path).manifest_csv.exists():
            workdirs.append(Workdir(path))
            systems += sorted(p for p in (path / "enhanced").glob("*") if p.is_dir())
        else:
            systems.append(path)
            if path.parent.name == "enhanced" and Workdir(path.parent.parent).manifest_csv.exists():
                workdirs.append(Workdir(path.parent.parent))
    workdirs = list({w.root.resolve(): w for w in workdirs}.values())
    if len(workdirs) > 1:
        raise BadInput(f"the inputs come from {len(workdirs)} prepared workdirs; a report compares systems on one "
                       f"set of files")
    if workdirs and (noisy_dir or clean_dir):
        raise BadInput("--noisy and --clean are for plain folders: a prepared workdir has its own")
    if not systems and not workdirs:
        raise BadInput("nothing to report: give a prepared workdir or folders of enhanced files")
    report = out_dir.resolve()
    systems = [p for p in dict.fromkeys(p.resolve() for p in systems) if p != report and report not in p.parents]
    names = {"noisy", "clean"}
    system_columns = []
    for k, folder in enumerate(systems, start=1):
        name = _distinct(folder.name, names)
        system_columns.append((Column(name, f"{k}-{safe_id(name)}", read_run_card(folder)), folder))
    columns = [Column("noisy", "0-noisy", kind="noisy")] if workdirs or noisy_dir else []
    columns += [column for column, _ in system_columns]
    if workdirs or clean_dir:
        columns.append(Column("clean", f"{len(columns)}-clean", kind="clean"))
    comparison = Comparison(columns, origin=", ".join(str(p) for p in inputs))
    if workdirs:
        _from_workdir(comparison, workdirs[0], split)
    for column, folder in system_columns:
        _add_folder(comparison, column.name, folder, out_dir, keep_new=not workdirs)
    if noisy_dir is not None:
        _add_folder(comparison, "noisy", noisy_dir, out_dir, keep_new=True)
    if clean_dir is not None:
        _add_folder(comparison, "clean", clean_dir, out_dir, keep_new=False)
    if not comparison.files:
        raise BadInput(f"no audio files to report in {comparison.origin}")
    return comparison


def _distinct(name: str, taken: set[str]) -> str:
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name}-{k}", k + 1
    taken.add(candidate)
    return candidate


def _from_workdir(comparison: Comparison, workdir: Workdir, split: str) -> None:
    utterances = read_manifest(workdir, split)
    if not utterances:
        raise BadInput(f"split '{split}' of {workdir.root} has no utterances")
    with PreparedSplit(workdir, split) as prepared:
        for utterance in utterances:
            entry = prepared[utterance.id]
            comparison.files[utterance.id] = {"noisy": entry.noisy, "clean": entry.clean}


def _add_folder(comparison: Comparison, column: str, folder: Path, out_dir: Path, keep_new: bool) -> None:
    """The folder's files under their ids; ids not seen yet only with `keep_new` (a workdir's split, and the
    clean references, do not add files)."""
    if not folder.is_dir():
        raise BadInput(f"{folder}: no such folder")
    report = out_dir.resolve()
    for uid, path, _ in media_files(folder, "report"):
        if report in path.resolve().parents:
            continue
        if uid in comparison.files or keep_new:
            comparison.files.setdefault(uid, {})[column] = path
