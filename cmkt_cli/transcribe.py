"""`cmkt transcribe`: Whisper transcripts of a prepared workdir's clean speech, or of a folder of files."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from cmkt_cli.options import FORCE, JOBS, LANGUAGE, QUIET, SHARD, WORKDIR
from cmkt_cli.session import sharded_session
from cmkt_cli.tables import MAX_FILE_ROWS, print_stage_reports
from pipelines.text.whisper_engines import DEFAULT_ENGINE, ENGINES, make_engine, parse_option_pairs

PATH = typer.Argument(None, help="A prepared workdir, or audio/video files to transcribe (a folder or one file); "
                                 "without it, the prepared --workdir.")
ENGINE = typer.Option(DEFAULT_ENGINE, "--engine", help=f"Whisper implementation: {', '.join(ENGINES)}.")
MODEL = typer.Option(None, "--model", help="A model name (e.g. large-v3; downloads when online) or a local model "
                                           "(faster-whisper: a CTranslate2 folder; openai-whisper: a .pt file). "
                                           "Default: Whisper tiny.en, shipped for offline use.")
OPTION = typer.Option([], "--option", "-O", help="Engine option KEY=VALUE, repeatable (faster-whisper: batch_size, "
                                                 "beam_size, compute_type, device; openai-whisper: beam_size, device).")
IGNORE_GIVEN = typer.Option(False, "--ignore-given", help="Transcribe with Whisper also what the data came with a "
                                                           "transcript for (to train on machine transcripts only).")
SPLITS = typer.Option(None, "--split", help="Splits of a prepared workdir to transcribe, comma-separated "
                                            "(default: all it has).")


def transcribe_command(path: Optional[Path] = PATH, workdir: Path = WORKDIR, engine: str = ENGINE,
                       model: Optional[str] = MODEL, option: List[str] = OPTION, language: str = LANGUAGE,
                       split: Optional[str] = SPLITS, ignore_given: bool = IGNORE_GIVEN,
                       shard: Optional[str] = SHARD, force: bool = FORCE,
                       quiet: bool = QUIET, jobs: int = JOBS) -> None:
    """Transcribe clean speech with Whisper (transcripts given with the data are kept as they are, unless
    --ignore-given)."""
    from pipelines.stages.transcribe import Transcriber, transcribe_files, transcribe_workdir

    prepared = path is not None and (path / "manifest.json").is_file()
    with sharded_session(path if prepared else workdir, "transcribe", quiet, shard) as (place, reporter, part):
        recogniser = make_engine(engine, model, parse_option_pairs(option), workers=jobs)
        transcriber = Transcriber(recogniser, language, reporter, ignore_given)
        if path is None or prepared:
            splits = [s.strip() for s in split.split(",") if s.strip()] if split else None
            result = transcribe_workdir(place, splits, transcriber, force, reporter, part)
        else:
            result = transcribe_files(place, path, transcriber, force, reporter, part)
        _print(reporter.console, result)
        if any(r.failed for r in result.reports):
            raise typer.Exit(2)


def _print(console: Console, result) -> None:
    print_stage_reports(console, result.reports)
    if result.rows and len(result.rows) <= MAX_FILE_ROWS:
        table = Table(title="transcripts", title_justify="left")
        for column, justify in (("id", "left"), ("source", "left"), ("lang", "left"), ("logprob", "right"),
                                ("text", "left")):
            table.add_column(column, justify=justify)
        for row in result.rows:
            table.add_row(row.uid, row.source, row.language,
                          "" if row.source == "given" else f"{row.avg_logprob:.2f}", row.text)
        console.print(table)
    for path in result.tables:
        console.print(f"saved {path}")
