"""One process per workdir: a second `cmkt` on the same workdir gets a clear error instead of racing.

The exceptions are shard jobs (`--shard I/N`) and training runs: they write only their own
files, so they hold the workdir lock shared (any other command is still kept out) plus a lock
of their own (the shard's, the run folder's).
`flock` is released by the kernel when the holder dies, even by SIGKILL, so a crashed
run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from pipelines.atomic import check_target
from pipelines.errors import WorkdirBusy


class WorkdirLock:
    def __init__(self, lock_file: Path, shared: bool = False, what: str = ""):
        """`what`: the name of what the lock holds, for the message (default: the workdir)."""
        self.lock_file = Path(lock_file)
        self.shared = shared
        self.what = what or f"workdir {self.lock_file.parent}"
        self._fd: int | None = None

    def __enter__(self) -> "WorkdirLock":
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(check_target(self.lock_file), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown, maybe --shard jobs"
            os.close(fd)
            raise WorkdirBusy(
                f"{self.what} is in use by another cmkt process (pid {holder}); "
                "wait for it to finish or use another --workdir"
            ) from None
        if not self.shared:  # shared holders are many: only a sole holder names itself
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            if not self.shared:
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
