"""Every file cmkt writes goes through here: whole or not at all, never through a symbolic link below the output
folder, never over one of the command's own inputs.

Whole or not at all: into a temporary name beside the target, renamed into place on success. A kill or a full disk
therefore never leaves a partial file under the real name, and a full disk is reported as one line naming where (the
session turns it into exit 2).

Where: a command declares its output folders (`-o`, `--out`, the workdir) and its input files once (cmkt_cli/session.py
does it from the command's options; a stage adds the files it finds in an input folder), and every writer, however
deep, checks its target against them here: the rule lives in one place instead of in every writer's arguments.
Below an output folder no part of a target's path may be a symbolic link, since a link there sends the write (or the
rename over the link's target) outside the folder; the folder itself may be one (a workdir on another disk). A target
outside every output folder (a file written beside its input) is checked itself. Inputs are compared by real path,
so no link or second name makes an output replace one.
"""

from __future__ import annotations

import csv
import io
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from pipelines.errors import BadInput, no_space_left

_OUTPUTS: list[str] = []  # absolute paths of the running command's output folders (or output files)
_INPUTS: set[str] = set()  # real paths of its input files and folders


@contextmanager
def guarded_writes(outputs: Iterable[Path], inputs: Iterable[Path]) -> Iterator[None]:
    """While one command runs: where it writes, and what it reads (which nothing it writes may replace)."""
    saved = list(_OUTPUTS), set(_INPUTS)
    _OUTPUTS[:] = [os.path.abspath(path) for path in outputs]
    _INPUTS.clear()
    add_inputs(inputs)
    try:
        yield
    finally:
        _OUTPUTS[:] = saved[0]
        _INPUTS.clear()
        _INPUTS.update(saved[1])


def add_inputs(paths: Iterable[Path]) -> None:
    """More inputs of the running command (e.g. the files a stage found in an input folder)."""
    _INPUTS.update(os.path.realpath(path) for path in paths)


def check_target(path: Path) -> Path:
    """`path` if the running command may write it; BadInput naming the link or the input otherwise."""
    target = os.path.abspath(path)
    root = max((r for r in _OUTPUTS if target == r or target.startswith(r.rstrip(os.sep) + os.sep)), key=len,
               default=os.path.dirname(target))
    current, below = root, Path(os.path.relpath(target, root)).parts if target != root else ()
    for part in below:
        current = os.path.join(current, part)
        if os.path.islink(current):
            where = "" if current == target else f" ({current} is one)"
            raise BadInput(f"{path}: the output would be written through a symbolic link{where}; remove the link or "
                           f"choose another output folder")
    if not below and os.path.islink(target):
        raise BadInput(f"{path}: the output would be written through a symbolic link; remove it or choose another "
                       f"output")
    if os.path.realpath(target) in _INPUTS:
        raise BadInput(f"{path}: the output would overwrite its input (one of this command's inputs); choose another "
                       f"output")
    return Path(path)


def check_removable(folder: Path) -> None:
    """BadInput if replacing `folder` as a whole (e.g. `train --force`) would delete one of the command's inputs."""
    check_target(folder)
    inside = os.path.realpath(folder).rstrip(os.sep) + os.sep
    held = sorted(p for p in _INPUTS if p.startswith(inside))
    if held:
        raise BadInput(f"{folder} holds {held[0]}, an input of this command: starting over there would delete it")


@contextmanager
def replaced_atomically(path: Path, temporary: Path | None = None) -> Iterator[Path]:
    """Yield a temporary file (`.NAME.PID.partial` beside `path` unless given: two processes writing one file each
    write their own) to write; on success it replaces `path`; on any failure it is removed. `path` is checked first
    (`check_target`)."""
    path = check_target(Path(path))
    temporary = (Path(temporary) if temporary is not None
                 else path.with_name(f".{path.name}.{os.getpid()}.partial"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.unlink(missing_ok=True)  # a link left under the temporary name is removed, never written through
        yield temporary
        temporary.replace(path)
    except OSError as err:
        if (full := no_space_left(err, path.parent)) is not None:
            raise full from err
        raise
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes | memoryview) -> Path:
    with replaced_atomically(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping], delimiter: str = ",") -> Path:
    """A table with a header row; a row's keys outside `columns` are left out."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, columns, extrasaction="ignore", delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, text.getvalue())
