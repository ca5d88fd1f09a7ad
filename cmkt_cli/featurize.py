"""`cmkt featurize` (being written)."""

from __future__ import annotations

import typer


def featurize_command() -> None:
    """BERT token features (--text) or lip embeddings (--lips)."""
    raise typer.Exit(2)
