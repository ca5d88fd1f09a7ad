"""The manifest: one row per utterance, the table every later stage starts from.

Written as CSV (for people and pandas) and JSON (for tools) in the workdir.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields

from pipelines.artifacts.workdir import Workdir
from pipelines.atomic import write_csv, write_text
from pipelines.errors import BadInput

SPLITS = ("train", "valid", "test")


@dataclass
class Utterance:
    id: str
    split: str = ""
    clean_path: str = ""
    noisy_path: str = ""
    video_path: str = ""
    text_path: str = ""
    duration_s: float = 0.0
    sample_rate: int = 0  # of the source file, before conversion to 16 kHz
    checksum: str = ""  # of everything the utterance was made from
    speaker: str = ""
    language: str = ""
    transcript: str = ""
    transcript_source: str = ""  # "given" when the data came with it; stages may add others
    noise_path: str = ""
    noise_offset: int = -1  # in samples at 16 kHz, for mixtures made by `prepare`
    snr_db: float | None = None


MANIFEST_FIELDS = [f.name for f in fields(Utterance)]


def safe_id(name: str) -> str:
    """Utterance ids become HDF5 group and file names: keep letters and digits of any script, '_', '-', '.'."""
    cleaned = re.sub(r"[^\w.-]", "_", name).lstrip("._-")
    return cleaned or "utt"


def distinct_ids(names: list[str]) -> tuple[dict[str, str], list[str]]:
    """name -> safe id, with '-2', '-3' ... added where two names clean up to one id ('a b' and 'a_b');
    also returns a note for each id so changed, to show the user."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    notes = []
    for name in names:
        uid = base = safe_id(name)
        count = 1
        while uid in taken:
            count += 1
            uid = f"{base}-{count}"
        if count > 1:
            notes.append(f"'{name}' is scored as '{uid}' ('{base}' is another file's id)")
        taken.add(uid)
        ids[name] = uid
    return ids, notes


def write_manifest(workdir: Workdir, utterances: list[Utterance]) -> None:
    rows = [asdict(u) for u in sorted(utterances, key=lambda u: (SPLITS.index(u.split), u.id))]
    write_csv(workdir.manifest_csv, MANIFEST_FIELDS, rows)
    write_text(workdir.manifest_json, json.dumps(rows, indent=1, ensure_ascii=False))


def read_manifest(workdir: Workdir, split: str | None = None) -> list[Utterance]:
    if not workdir.manifest_json.exists():
        raise BadInput(f"no manifest in {workdir.root}: run `cmkt prepare` first")
    rows = json.loads(workdir.manifest_json.read_text(encoding="utf-8"))
    utterances = [Utterance(**row) for row in rows]
    return [u for u in utterances if split is None or u.split == split]


def chosen_splits(utterances: list[Utterance], wanted: list[str] | None) -> list[str]:
    """The splits a stage should run on: those asked for (each must exist), else every split present."""
    present = [s for s in SPLITS if any(u.split == s for u in utterances)]
    for split in wanted or []:
        if split not in present:
            raise BadInput(f"--split {split}: not in the manifest (it has {', '.join(present) or 'no utterances'})")
    return [s for s in present if wanted is None or s in wanted]
