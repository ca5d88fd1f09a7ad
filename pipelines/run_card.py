"""What made a folder of enhanced files: `model.json` beside them (checkpoint, sampler, NFE, measured speed).

A folder of WAVs says nothing of the system behind it; `cmkt report` compares folders, so
enhance leaves this card in each output folder and the report shows it as the system's
model card.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.atomic import write_text

RUN_CARD = "model.json"


def write_run_card(folder: Path, facts: dict) -> Path:
    """Merge `facts` into the folder's card (a rerun that enhanced nothing keeps the measured speed)."""
    card = {**(read_run_card(folder) or {}), **facts}
    return write_text(folder / RUN_CARD, json.dumps(card, indent=1, ensure_ascii=False))


def read_run_card(folder: Path) -> dict | None:
    """The card in `folder`, or None (a folder not written by `cmkt enhance`, or a damaged card)."""
    try:
        card = json.loads((folder / RUN_CARD).read_text())
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None
