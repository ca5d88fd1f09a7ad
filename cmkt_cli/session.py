"""What every command shares: the workdir lock, the log file, and turning errors into exit codes.

Exit codes: 0 done, 2 bad input or usage (one line, no traceback), 1 internal error
(one line here, the traceback in the workdir's log), 130 interrupted (work saved).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import typer
from rich.markup import escape

from pipelines.artifacts import Workdir, WorkdirLock
from pipelines.errors import CmktError
from pipelines.reporting import Reporter, start_log_file

log = logging.getLogger("cmkt")


@contextmanager
def stage_session(workdir: Path, stage: str, quiet: bool) -> Iterator[tuple[Workdir, Reporter]]:
    """Hold the workdir for one command and map any failure to a one-line message and an exit code."""
    reporter = Reporter(quiet=quiet)
    log_path = None
    try:
        place = Workdir(workdir).create()
        with WorkdirLock(place.lock_file):
            log_path = start_log_file(place.root, stage)
            yield place, reporter
    except CmktError as err:
        log.error("%s", err)
        reporter.console.print(f"[red]error:[/] {escape(str(err))}")
        raise typer.Exit(err.exit_code) from None
    except KeyboardInterrupt:
        reporter.console.print("[red]interrupted[/]")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as err:  # anything else is our bug: short message here, traceback in the log
        log.exception("internal error")
        where = f" (traceback in {log_path})" if log_path else ""
        reporter.console.print(f"[red]internal error:[/] {type(err).__name__}: {escape(str(err))}{where}")
        raise typer.Exit(1) from None

