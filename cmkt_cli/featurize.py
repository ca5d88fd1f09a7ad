"""`cmkt featurize`: training-only features cached in the workdir (BERT token features now, lip embeddings later)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from cmkt_cli.options import FORCE, QUIET, WORKDIR
from cmkt_cli.session import stage_session
from cmkt_cli.tables import print_stage_reports
from pipelines.errors import BadInput
from pipelines.stages.featurize_text import TextOptions, featurize_text

USAGE = "say what to featurize: cmkt featurize --text [--text-model NAME|PATH] [--split S] -w WORKDIR"


def featurize_command(
    text: bool = typer.Option(False, "--text", help="BERT last hidden states of each utterance's transcript "
                                                    "(the CMKT training targets)."),
    lips: bool = typer.Option(False, "--lips", help="Lip-region embeddings (arrives with the visual branch)."),
    text_model: Optional[str] = typer.Option(None, "--text-model", help="Hub name (e.g. bert-base-uncased, "
                                             "bert-base-chinese) or local folder; default: the packaged "
                                             "all-MiniLM-L6-v2 (offline)."),
    split: Optional[List[str]] = typer.Option(None, "--split", help="Split to featurize (repeatable; default: all "
                                              "splits in the manifest)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Transcripts run through BERT together."),
    workdir: Path = WORKDIR, force: bool = FORCE, quiet: bool = QUIET,
) -> None:
    """BERT token features of the transcripts (--text), cached for training; inference never needs them."""
    with stage_session(workdir, "featurize", quiet) as (place, reporter):
        if lips:
            raise BadInput("`featurize --lips` arrives with the visual branch")
        if not text:
            raise BadInput(USAGE)
        options = TextOptions(model=text_model, splits=split or None, batch_size=batch_size, force=force)
        reports = featurize_text(place, options, reporter)
        print_stage_reports(reporter.console, reports)
        reporter.info(f"text features: {', '.join(str(place.artifact('text', r.split)) for r in reports)}")
