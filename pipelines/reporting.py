"""User-facing output shared by all stages: messages, progress bars and the log file.

Stages talk to a `Reporter` rather than printing, so the same code runs quietly in
tests, shows rich progress bars in a terminal and always leaves a log in the workdir.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipelines.atomic import check_target

log = logging.getLogger("cmkt")

# rich lays tables out 80 columns wide when the output is a file or a pipe: wide enough here for the widest table
PIPED_WIDTH = 160


class Reporter:
    """Messages to the terminal (unless quiet) and to the log file (always).

    `silent` also keeps warnings off the terminal: the ranks other than 0 of a distributed
    run, which rank 0 speaks for (their errors are still printed, by the caller).
    """

    def __init__(self, quiet: bool = False, console: Console | None = None, silent: bool = False):
        self.quiet = quiet or silent
        self.silent = silent
        piped = not sys.stderr.isatty() and "COLUMNS" not in os.environ
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True,
                                          width=PIPED_WIDTH if piped else None)
        self._said_once: set[str] = set()

    def info(self, message: str) -> None:
        log.info(message)
        if not self.quiet:
            self.console.print(message)

    def warn(self, message: str) -> None:
        log.warning(message)
        if not self.silent:
            self.console.print(f"[yellow]warning:[/] {message}")

    def once(self, key: str, message: str) -> None:
        """Say something once per run (e.g. 'converted to 16 kHz mono'), however many files trigger it."""
        if key not in self._said_once:
            self._said_once.add(key)
            self.info(message)

    @contextmanager
    def progress(self, total: int, label: str) -> Iterator["ProgressTask"]:
        """A rich progress bar over `total` items; silent when quiet or not a terminal."""
        if self.quiet or total == 0:
            yield ProgressTask(None, None)
            return
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=False) as bar:
            yield ProgressTask(bar, bar.add_task(label, total=total))


_ACTIVE: ContextVar[Reporter | None] = ContextVar("cmkt_reporter", default=None)


def active_reporter() -> Reporter:
    """The running command's reporter, for code that has none to hand (an artifact merged from its shards when
    first read), so it speaks as quietly as the command; outside a command, one shared default, so that what it says
    `once` is said once per process."""
    return _ACTIVE.get() or _default_reporter()


@lru_cache(maxsize=1)
def _default_reporter() -> Reporter:
    return Reporter()


@contextmanager
def speaking_for_command(reporter: Reporter) -> Iterator[Reporter]:
    """Make `reporter` the one `active_reporter` returns while a command runs."""
    token = _ACTIVE.set(reporter)
    try:
        yield reporter
    finally:
        _ACTIVE.reset(token)


class ProgressTask:
    """Handle to advance one progress bar (a no-op when there is no bar)."""

    def __init__(self, bar: Progress | None, task_id):
        self._bar, self._task = bar, task_id

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)


def stop_log_file() -> None:
    """Close the log file an earlier command in this process opened, so that a command with no workdir (export,
    report) writes into no workdir."""
    root = logging.getLogger("cmkt")
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()


def start_log_file(workdir: Path, stage: str) -> Path:
    """Append this run's log to workdir/logs/<stage>.log and return its path."""
    path = check_target(workdir / "logs" / f"{stage}.log")  # appended to, so checked here (pipelines/atomic.py)
    path.parent.mkdir(parents=True, exist_ok=True)
    stop_log_file()
    root = logging.getLogger("cmkt")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    log.info("cmkt %s: %s", stage, " ".join(sys.argv))
    return path
