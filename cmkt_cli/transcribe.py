"""`cmkt transcribe` (being written)."""

from __future__ import annotations

import typer


def transcribe_command() -> None:
    """Transcribe clean speech with Whisper."""
    raise typer.Exit(2)
