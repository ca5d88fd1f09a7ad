"""What every command shares: the workdir lock, the log file, and turning errors into exit codes.

Exit codes: 0 done, 2 bad input or usage (one line, no traceback), 1 internal error
(one line here, the traceback in the workdir's log), 130 interrupted (work saved).
"""

from __future__ import annotations

import logging
import math
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import typer
from rich.markup import escape

from pipelines.artifacts import Workdir, WorkdirLock
from pipelines.artifacts.shards import WHOLE, Shard
from pipelines.atomic import guarded_writes
from pipelines.errors import BadInput, CmktError, no_space_left
from pipelines.reporting import Reporter, speaking_for_command, start_log_file, stop_log_file

log = logging.getLogger("cmkt")
# Until a command's log file is set up, its records go nowhere: without a handler Python would print them (an
# error's traceback included) to stderr beside the one line the console prints.
log.addHandler(logging.NullHandler())


@contextmanager
def stage_session(workdir: Path, stage: str, quiet: bool, follower: bool = False,
                  shared: bool = False) -> Iterator[tuple[Workdir, Reporter]]:
    """Hold the workdir for one command and map any failure to a one-line message and an exit code.

    `follower`: a process other than rank 0 of a distributed `cmkt train` (torchrun). Rank 0
    holds the lock, keeps the log and prints for the run; a follower prints only its errors.
    `shared`: the command only reads the workdir's artifacts and locks what it writes itself
    (`train`, its run folder), so several run beside each other; commands that write
    artifacts are kept out while it runs.
    """
    with sharded_session(workdir, stage, quiet, None, follower, shared) as (place, reporter, _):
        yield place, reporter


@contextmanager
def sharded_session(workdir: Path, stage: str, quiet: bool, shard: str | None,
                    follower: bool = False, shared: bool = False) -> Iterator[tuple[Workdir, Reporter, Shard]]:
    """`stage_session` for a command taking `--shard I/N` (parsed here, a bad one exits 2). A shard job holds the
    workdir shared, so the other shards' jobs run beside it, and its own shard exclusively; it logs to
    logs/STAGE.shard-I-of-N.log."""
    reporter = Reporter(quiet=quiet, silent=follower)
    log_paths: list[Path] = []
    with exit_codes(reporter, log_paths, workdir):
        part = Shard.parse(shard) if shard is not None else WHOLE
        place = Workdir(workdir).create()
        with ExitStack() as locks:
            locks.enter_context(speaking_for_command(reporter))
            if follower:  # drop its log records rather than let Python print them
                log.addHandler(logging.NullHandler())
            else:
                locks.enter_context(WorkdirLock(place.lock_file, shared=shared or not part.whole))
                if not part.whole:
                    locks.enter_context(WorkdirLock(place.shard_lock_file(stage, part)))
                log_paths.append(start_log_file(place.root, f"{stage}{part.suffix}"))
            yield place, reporter, part


@contextmanager
def command_session(quiet: bool) -> Iterator[Reporter]:
    """For a command that uses no workdir (export, report): the same exit codes, no lock and no log file."""
    stop_log_file()
    reporter = Reporter(quiet=quiet)
    with exit_codes(reporter, []), speaking_for_command(reporter):
        yield reporter


@contextmanager
def exit_codes(reporter: Reporter, log_paths: list[Path], workdir: Path | None = None) -> Iterator[None]:
    """Map a failure to a one-line message and the exit code; `log_paths`: where the traceback went, once known;
    `workdir`: where a full disk is, when the error does not say."""
    try:
        check_numbers()
        with guarded_writes(*command_paths()):
            yield
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
        if (full := no_space_left(err, workdir)) is not None:
            log.error("%s", full, exc_info=err)
            reporter.console.print(f"[red]error:[/] {escape(str(full))}")
            raise typer.Exit(full.exit_code) from None
        log.exception("internal error")
        where = f" (traceback in {log_paths[0]})" if log_paths else ""
        reporter.console.print(f"[red]internal error:[/] {type(err).__name__}: {escape(str(err))}{where}")
        raise typer.Exit(1) from None


SEED_RANGE = (0, 2**64 - 1)
UNLIMITED_BY_INF = {"attenuation_limit"}  # float options where +inf means "no limit"


def check_numbers() -> None:
    """Numbers of the running command's options that click accepts but nothing can use: a float option given nan or
    inf (inf is "no limit" where UNLIMITED_BY_INF says so), a --seed that is negative or wider than 64 bits
    (BadInput, so one line and exit 2 like any bad option)."""
    context = _click_context()
    if context is None:
        return
    for param in context.command.params:
        value = context.params.get(param.name)
        flag = next((o for o in param.opts if o.startswith("--")), param.opts[0] if param.opts else param.name)
        no_limit = param.name in UNLIMITED_BY_INF and value == math.inf
        if isinstance(value, float) and not math.isfinite(value) and not no_limit:
            raise BadInput(f"{flag} must be a finite number, got {value}")
        if param.name == "seed" and isinstance(value, int) and not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
            raise BadInput(f"{flag} must be an integer from {SEED_RANGE[0]} to {SEED_RANGE[1]} (2**64 - 1), "
                           f"got {value}")


OUTPUT_OPTIONS = ("out", "workdir")  # the options naming where a command writes; every other path it is given it reads


def command_paths() -> tuple[list[Path], list[Path]]:
    """The running command's output paths and input paths, from its options (pipelines/atomic.py guards them)."""
    outputs: list[Path] = []
    inputs: list[Path] = []
    context = _click_context()
    for name, value in (context.params.items() if context is not None else ()):
        paths = [v for v in (value if isinstance(value, (list, tuple)) else [value]) if isinstance(v, Path)]
        (outputs if name in OUTPUT_OPTIONS else inputs).extend(paths)
    return outputs, inputs


def _click_context():
    """The running command's click context (newer Typer versions carry their own copy of click)."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:
        from click import get_current_context
    return get_current_context(silent=True)
