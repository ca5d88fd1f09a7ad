"""The HDF5 artifact cache: one file per (stage, split), one group per utterance.

Each group records what produced it (`config_hash`, `config`, `input_checksum`,
`cmkt_version` attributes) and the datasets it was written with (`datasets`), so a rerun
skips an utterance whose input and stage config are unchanged and recomputes one whose
input or config changed, or whose datasets are no longer all there.

Crash safety. HDF5 files are not journaled: a process killed while writing into one
can leave it unreadable. So a run never writes into the committed file. Each finished
item goes to its own small file in a `pending` folder, written under a temporary name
and renamed into place (atomic), so an item is either fully there or absent. At the
end of a run `commit` builds a new artifact from the committed entries and the pending
ones, and renames it over the old one (atomic again). A run killed at any point leaves
the old artifact intact plus every item it finished; the rerun finds those items
cached and commits them.

Shards. A `--shard I/N` job's store writes its own file and pending folder
(`STAGE_SPLIT.shard-I-of-N.h5`), so concurrent shard jobs never touch each other's files;
`merge.py` joins them. The whole corpus's store starts from the merge of a complete set of
shards when there is one, so an unsharded rerun reuses their items.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any, Mapping

import h5py
import numpy as np

from pipelines import __version__
from pipelines.artifacts.catalog import command_for
from pipelines.artifacts.checksums import canonical_json, config_hash
from pipelines.artifacts.integrity import FORMAT, FORMAT_ATTRIBUTE, UNCHECKED, damage, sign
from pipelines.artifacts.merge import current_artifact
from pipelines.artifacts.shards import WHOLE, Shard
from pipelines.artifacts.workdir import Workdir
from pipelines.atomic import check_target, replaced_atomically
from pipelines.errors import BadInput
from pipelines.reporting import active_reporter


class ArtifactStore:
    """Writes one stage's per-utterance results for one split, crash-safely, with caching."""

    def __init__(self, workdir: Workdir, stage: str, split: str, config: Mapping[str, Any], force: bool = False,
                 shard: Shard = WHOLE):
        self.workdir = workdir.create()
        self.stage, self.split = stage, split
        self.config = dict(config)
        self.config_hash = config_hash(self.config)
        self.force = force
        self.path = check_target(workdir.artifact(stage, split, shard))  # before any work: no link on the way
        self.pending_dir = check_target(workdir.pending(stage, split, shard))
        if shard.whole:
            current_artifact(workdir, stage, split)
        self._committed = self._read_committed_keys()
        self._pending = self._read_pending_keys()
        self._wanted: dict[str, str] = {}

    def entry_key(self, input_checksum: str) -> str:
        """What an entry must match to be reused: this stage config and this input."""
        return hashlib.sha256(f"{self.config_hash}:{input_checksum}".encode()).hexdigest()[:16]

    def is_cached(self, uid: str, input_checksum: str) -> bool:
        key = self.entry_key(input_checksum)
        self._wanted[uid] = key
        if self.force:
            return False
        return self._pending.get(uid) == key or self._committed.get(uid) == key

    def put(self, uid: str, input_checksum: str, arrays: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> None:
        """Store one finished item durably (it survives a kill from the moment this returns)."""
        _check_uid(uid)
        key = self.entry_key(input_checksum)
        final = self.pending_dir / f"{uid}.{key}.h5"
        with replaced_atomically(final, self.pending_dir / f".{uid}.{key}.tmp") as temporary:
            with h5py.File(temporary, "w") as f:
                for name, array in arrays.items():
                    text = array.dtype == object  # e.g. transcript segments: variable-length UTF-8 strings
                    f.create_dataset(name, data=array, dtype=h5py.string_dtype() if text else None)
                _write_attrs(f, attrs)
                f.attrs["input_checksum"] = input_checksum
                f.attrs["config_hash"] = self.config_hash
                f.attrs["config"] = canonical_json(self.config)
                f.attrs["cmkt_version"] = __version__
                f.attrs[FORMAT_ATTRIBUTE] = FORMAT
                f.attrs[DATASETS] = json.dumps(sorted(arrays))
                sign(f)
            _fsync(temporary)
        old = self._pending.get(uid)
        if old is not None and old != key:
            (self.pending_dir / f"{uid}.{old}.h5").unlink(missing_ok=True)
        self._pending[uid] = key
        self._wanted[uid] = key

    def commit(self) -> Path:
        """Write the artifact of this run's items (cached and new; an item this run failed keeps the result it had)
        and drop the items this run no longer has."""
        old = h5py.File(self.path, "r") if self._committed else None
        written: dict[str, str] = {}
        try:
            with replaced_atomically(self.path, self.path.with_suffix(".h5.tmp")) as temporary:
                with h5py.File(temporary, "w") as out:
                    out.attrs["stage"] = self.stage
                    out.attrs["split"] = self.split
                    out.attrs["config"] = canonical_json(self.config)
                    out.attrs["config_hash"] = self.config_hash
                    out.attrs["cmkt_version"] = __version__
                    sign(out)
                    for uid in sorted(self._wanted):
                        key = self._wanted[uid]
                        if self._pending.get(uid) == key:
                            with h5py.File(self.pending_dir / f"{uid}.{key}.h5", "r") as item:
                                _copy_group(item, out.create_group(uid))
                            written[uid] = key
                        elif old is not None and uid in self._committed:  # cached, or failed in this run: a
                            _copy_group(old[uid], out.create_group(uid))  # failure never drops a finished result
                            written[uid] = self._committed[uid]
                _fsync(temporary)
        finally:
            if old is not None:
                old.close()
        _fsync(self.path.parent)
        if self.pending_dir.exists():
            for leftover in self.pending_dir.iterdir():
                leftover.unlink()
            self.pending_dir.rmdir()
        self._committed = written
        self._pending = {}
        return self.path

    def _read_committed_keys(self) -> dict[str, str]:
        """The reusable entries of the committed artifact. An entry missing one of its datasets, or whose checksums
        show it damaged or edited, or of another artifact format, is computed again (saying so); an unreadable
        artifact is moved aside to .h5.damaged and all of it computed again."""
        if not self.path.exists():
            return {}
        try:
            with h5py.File(self.path, "r") as f:
                reuse = _Reuse(self.path)
                keys = {
                    uid: hashlib.sha256(f"{g.attrs['config_hash']}:{g.attrs['input_checksum']}".encode()).hexdigest()[:16]
                    for uid, g in f.items() if _complete(g) and (self.force or reuse.checked(uid, g))
                }
                reuse.say(damage(f))
                return keys
        except (OSError, KeyError) as err:
            damaged = check_target(self.path.with_suffix(".h5.damaged"))
            os.replace(self.path, damaged)
            active_reporter().warn(f"{self.path} is damaged ({_reason(err)}): moved it to {damaged.name}; computing "
                                   f"its items again")
            return {}

    def _read_pending_keys(self) -> dict[str, str]:
        keys: dict[str, str] = {}
        if not self.pending_dir.exists():
            return keys
        for entry in self.pending_dir.iterdir():
            if entry.name.startswith("."):
                entry.unlink()  # a write interrupted before its rename
                continue
            uid, key, _ = entry.name.rsplit(".", 2)
            keys[uid] = key
        return keys


DATASETS = "datasets"  # attribute of each entry: JSON list of the dataset names it was written with


class _Reuse:
    """Which committed items a rerun of their own stage may reuse (pipelines/artifacts/integrity.py), and what it says
    of the others: a warning per damaged item, one line per artifact for the rest."""

    def __init__(self, path: Path):
        self.path = path
        self.unchecked = 0
        self.foreign: dict[tuple[str, object], int] = {}  # (cmkt version, format) -> items recomputed
        self.compatible: dict[str, int] = {}  # another cmkt version, this format -> items reused

    def checked(self, uid: str, group: h5py.Group) -> bool:
        problem = damage(group)
        version = str(group.attrs.get("cmkt_version", "?"))
        if problem == UNCHECKED:
            self.unchecked += 1
        elif problem is not None:
            active_reporter().warn(f"{uid} in {self.path} is damaged or was edited ({problem}): computing it again")
            return False
        elif group.attrs.get(FORMAT_ATTRIBUTE) != FORMAT:
            kind = (version, _plain_number(group.attrs.get(FORMAT_ATTRIBUTE)))
            self.foreign[kind] = self.foreign.get(kind, 0) + 1
            return False
        elif version != __version__:
            self.compatible[version] = self.compatible.get(version, 0) + 1
        return True

    def say(self, header: str | None) -> None:
        """`header`: what is wrong with the artifact's own attributes (the commit writes them anew)."""
        reporter = active_reporter()
        if header not in (None, UNCHECKED):
            reporter.warn(f"{self.path}: its own attributes are damaged or were edited ({header}): written anew")
        if self.unchecked:
            _say_unchecked(self.path)
        for (version, form), count in self.foreign.items():
            reporter.warn(f"{self.path}: {count} items written by cmkt {version} in artifact format {form} (this cmkt "
                          f"writes format {FORMAT}): computing them again")
        for version, count in self.compatible.items():
            reporter.info(f"{self.path}: {count} items written by cmkt {version} reused: same artifact format "
                          f"({FORMAT}), same settings and inputs, checksums intact")


def _say_unchecked(path: Path) -> None:
    """Once per artifact and command, by whichever reads it first (its own stage, or a later one)."""
    active_reporter().once(f"unchecked {Path(path).resolve()}", f"{path}: items {UNCHECKED} are used unchecked "
                                                                f"(rerun its stage with --force to add them)")


def _plain_number(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def open_artifact(workdir: Workdir, stage: str, split: str) -> "ArtifactFile":
    """Open a committed artifact for reading (merged from its shards if need be), with a clear error when the
    stage has not run, or when the file is damaged or edited (see `ArtifactFile`)."""
    path = current_artifact(workdir, stage, split)
    if path is None:
        raise BadInput(f"no {stage} artifact for split '{split}' in {workdir.root}: run `cmkt {command_for(stage)}` "
                       f"first")
    return ArtifactFile(path, stage)


class ArtifactFile(h5py.File):
    """A committed artifact open for reading. A file HDF5 cannot open (truncated, overwritten), and, inside its
    `with` block, an error HDF5 raises reading it (a dataset or entry deleted, unreadable data) become one BadInput
    line naming the file and the command that writes it again, instead of an internal error."""

    def __init__(self, path: Path, stage: str):
        try:
            super().__init__(path, "r")
        except OSError as err:
            raise BadInput(_damaged(Path(path), stage, err)) from None
        self._artifact = (Path(path), stage)
        self._checked: set[str] = set()
        problem = damage(self)
        if problem not in (None, UNCHECKED):
            self.close()
            raise BadInput(f"{path} is damaged or was edited ({problem}): rerun `cmkt {command_for(stage)}`")

    def __getitem__(self, name):
        """An item is checked against its checksums the first time it is taken (pipelines/artifacts/integrity.py)."""
        return self._checked_item(super().__getitem__(name))

    def get(self, name, default=None, **how):
        """As h5py's (which `items()` and `values()` use), checking an item taken."""
        item = super().get(name, default, **how)
        return item if how else self._checked_item(item)

    def _checked_item(self, item):
        if isinstance(item, h5py.Group) and item.name.count("/") == 1 and item.name != "/" and \
                item.name not in self._checked:
            self._check(item)
            self._checked.add(item.name)
        return item

    def _check(self, item: h5py.Group) -> None:
        path, stage = self._artifact
        uid, rerun = item.name.lstrip("/"), f"rerun `cmkt {command_for(stage)}`"
        problem = damage(item)
        if problem == UNCHECKED:
            _say_unchecked(path)
        elif problem is not None:
            raise BadInput(f"{path} is damaged or was edited (item {uid}: {problem}): {rerun}, which computes it "
                           f"again")
        elif item.attrs.get(FORMAT_ATTRIBUTE) != FORMAT:
            raise BadInput(f"{path}: {uid} was written by cmkt {item.attrs.get('cmkt_version', '?')} in artifact "
                           f"format {_plain_number(item.attrs.get(FORMAT_ATTRIBUTE))}, this cmkt reads format "
                           f"{FORMAT}: {rerun}")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        super().__exit__(kind, error, traceback)
        if isinstance(error, (OSError, KeyError)) and _raised_by_hdf5(error):
            raise BadInput(_damaged(*self._artifact, error)) from None


def _damaged(path: Path, stage: str, err: BaseException) -> str:
    return f"{path} is damaged or was edited ({_reason(err)}): rerun `cmkt {command_for(stage)}`"


def _reason(err: BaseException) -> str:
    """HDF5's message without h5py's wrapping, e.g. "object 'noisy' doesn't exist", "truncated file: eof = ..."."""
    text = str(err.args[0]) if err.args else type(err).__name__
    inner = re.search(r"\((.*)\)$", text)
    return inner.group(1) if inner else text


def _raised_by_hdf5(err: BaseException) -> bool:
    """The error came out of h5py (reading), not out of this store writing its own files or other code."""
    frames = []
    tb = err.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    writing = any(code.co_filename == __file__ and code.co_name in ("put", "commit") for code in frames)
    return bool(frames) and not writing and "h5py" in Path(frames[-1].co_filename).parts


def _complete(group: h5py.Group) -> bool:
    """Whether an entry still has every dataset it was written with (entries of older versions: assumed so)."""
    listed = group.attrs.get(DATASETS)
    return listed is None or set(json.loads(listed)) <= set(group)


_UID = re.compile(r"[^\W_][\w.-]*")  # letters and digits of any script first, then also '_', '.', '-'


def _check_uid(uid: str) -> None:
    """Ids become HDF5 group names and file names: keep them to a safe alphabet."""
    if not _UID.fullmatch(uid):
        raise ValueError(f"invalid utterance id {uid!r}")


def _write_attrs(target: h5py.HLObject, attrs: Mapping[str, Any]) -> None:
    for name, value in attrs.items():
        target.attrs[name] = "" if value is None else value


def _copy_group(source: h5py.Group, target: h5py.Group) -> None:
    """Datasets and attributes. A virtual dataset (of a merge of shards) is copied as data, so the new artifact
    stands alone: it no longer records the shard files it would read, so nothing would notice them gone."""
    for name, dataset in source.items():
        if dataset.is_virtual:
            target.create_dataset(name, data=dataset[()], dtype=dataset.dtype)
        else:
            source.copy(dataset, target, name=name)
    for name, value in source.attrs.items():
        target.attrs[name] = value


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
