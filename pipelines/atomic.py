"""Files written whole or not at all: into a temporary name beside the target, renamed into place on success.

A kill or a full disk therefore never leaves a partial file under the real name, and a full disk is reported as
one line naming where (the session turns it into exit 2).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipelines.errors import no_space_left


@contextmanager
def replaced_atomically(path: Path, temporary: Path) -> Iterator[Path]:
    """Yield `temporary` to write; on success it replaces `path`; on any failure it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield temporary
        temporary.replace(path)
    except OSError as err:
        if (full := no_space_left(err, path.parent)) is not None:
            raise full from err
        raise
    finally:
        temporary.unlink(missing_ok=True)
