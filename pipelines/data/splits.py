"""Deterministic train/valid/test splits by speaker (no speaker in two splits) or by file."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

from pipelines import choices
from pipelines.data.manifest import SPLITS, Utterance
from pipelines.errors import BadInput, check_choice


def parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0:
        raise BadInput(f"--split expects three non-negative fractions like 0.8,0.1,0.1, got {text!r}")
    total = sum(values)
    return tuple(v / total for v in values)  # type: ignore[return-value]


def assign_splits(utterances: list[Utterance], fractions: tuple[float, float, float], by: str, seed: int) -> None:
    """Shuffle the groups (speakers or files) with `seed` and deal them out in the given proportions.

    Every split with a non-zero fraction gets at least one group when there are enough
    groups, so a tiny corpus still yields a test set.
    """
    check_choice("--split-by", by, tuple(choices.SPLIT_UNITS))
    groups = sorted({u.speaker if by == "speaker" else u.id for u in utterances})
    random.Random(seed).shuffle(groups)
    counts = _counts(len(groups), fractions)
    split_of = {}
    position = 0
    for split, count in zip(SPLITS, counts):
        for group in groups[position:position + count]:
            split_of[group] = split
        position += count
    for utterance in utterances:
        utterance.split = split_of[utterance.speaker if by == "speaker" else utterance.id]


def _counts(n: int, fractions: tuple[float, float, float]) -> list[int]:
    wanted = [i for i, f in enumerate(fractions) if f > 0]
    counts = [int(round(n * f)) for f in fractions]
    for i in wanted:
        if counts[i] == 0 and n >= len(wanted):
            counts[i] = 1
    while sum(counts) > n:  # take the excess from the largest split
        counts[counts.index(max(counts))] -= 1
    while sum(counts) < n:
        counts[0 if fractions[0] > 0 else wanted[0]] += 1
    return counts


def assign_listed_splits(utterances: list[Utterance], table: Path) -> None:
    """Put each speaker in the split a TSV (columns speaker, split) names: held-out voices chosen by hand."""
    if not table.is_file():
        raise BadInput(f"{table}: no such speaker table")
    with open(table, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if not reader.fieldnames or not {"speaker", "split"} <= set(reader.fieldnames):
            raise BadInput(f"{table}: expected a tab-separated table with columns speaker, split")
        split_of = {row["speaker"]: row["split"] for row in reader}
    wrong = sorted({v for v in split_of.values() if v not in SPLITS})
    if wrong:
        raise BadInput(f"{table}: unknown split(s) {', '.join(wrong)} (use {', '.join(SPLITS)})")
    unlisted = sorted({u.speaker for u in utterances} - set(split_of))
    if unlisted:
        raise BadInput(f"{table}: no split for speaker(s) {', '.join(unlisted[:5])}" + (" ..." if len(unlisted) > 5 else ""))
    for utterance in utterances:
        utterance.split = split_of[utterance.speaker]
