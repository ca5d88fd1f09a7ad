"""Finding utterances on disk.

Two layouts are understood:
* SGMSE style: DATA/{train,valid,test}/{clean,noisy}/NAME.wav with matching names,
  optionally video/NAME.{mp4,mpg,avi} and text/NAME.txt beside them;
* flat: one or more folders of clean speech (audio files or talking-face videos,
  searched recursively), to be mixed with noise by `prepare`.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

from pipelines.audio_io import AUDIO_SUFFIXES, VIDEO_SUFFIXES
from pipelines.data.manifest import Utterance, safe_id
from pipelines.errors import BadInput
from pipelines.reporting import active_reporter

SPLIT_ALIASES = {"train": "train", "valid": "valid", "val": "valid", "validation": "valid", "dev": "valid", "test": "test"}


def is_sgmse_layout(root: Path) -> bool:
    return any((root / name / "clean").is_dir() or (root / name / "noisy").is_dir() for name in SPLIT_ALIASES)


def discover_sgmse(root: Path, speaker_regex: str | None) -> list[Utterance]:
    """Pair clean/noisy (and video/text) files by name in each split folder."""
    utterances = []
    for folder_name, split in SPLIT_ALIASES.items():
        split_dir = root / folder_name
        if not split_dir.is_dir():
            continue
        clean = _by_stem(split_dir / "clean", AUDIO_SUFFIXES)
        noisy = _by_stem(split_dir / "noisy", AUDIO_SUFFIXES)
        video = _by_stem(split_dir / "video", VIDEO_SUFFIXES)
        text = _by_stem(split_dir / "text", {".txt"})
        for stem in sorted(set(clean) | set(noisy) | set(video)):
            utterance = Utterance(
                id=safe_id(stem),
                split=split,
                clean_path=_absolute(clean.get(stem)),
                noisy_path=_absolute(noisy.get(stem)),
                video_path=_absolute(video.get(stem)),
                speaker=speaker_of(Path(stem), speaker_regex),
            )
            if stem in text:
                _give_transcript(utterance, text[stem])
            utterances.append(utterance)
    _reject_duplicate_ids(utterances)
    return utterances


def discover_flat(sources: list[Path], speaker_regex: str | None) -> list[Utterance]:
    """Every audio or video file under the source folders is one clean utterance."""
    utterances = []
    for source in sources:
        groups: dict[Path, dict[str, Path]] = defaultdict(dict)
        for path in files_in(source, AUDIO_SUFFIXES | VIDEO_SUFFIXES | {".txt"}):
            suffix = path.suffix.lower()
            kind = "text" if suffix == ".txt" else "video" if suffix in VIDEO_SUFFIXES else "audio"
            key = path.with_suffix("")
            if kind in groups[key]:
                raise BadInput(f"two {kind} files for one utterance: {groups[key][kind]} and {path}")
            groups[key][kind] = path
        for key, files in groups.items():
            if "audio" not in files and "video" not in files:
                continue
            utterance = Utterance(
                id=safe_id(key.name),
                clean_path=_absolute(files.get("audio")),
                video_path=_absolute(files.get("video")),
                speaker=speaker_of(key.relative_to(source), speaker_regex),
            )
            if "text" in files:
                _give_transcript(utterance, files["text"])
            utterances.append(utterance)
    if not utterances:
        raise BadInput(f"no audio or video files found in {', '.join(map(str, sources))}")
    _reject_duplicate_ids(utterances)
    return utterances


def speaker_of(relative: Path, speaker_regex: str | None) -> str:
    """Speaker label: the regex's first group on the relative path, else the parent folder, else the name."""
    if speaker_regex:
        match = re.search(speaker_regex, relative.as_posix())
        if match:
            return match.group(1) if match.groups() else match.group(0)
    if len(relative.parts) > 1:
        return relative.parts[0]
    return relative.stem


def apply_transcript_table(utterances: list[Utterance], table: Path) -> int:
    """Attach transcripts from a TSV (path, language, transcript; paths relative to the TSV). Returns matches."""
    if not table.is_file():
        raise BadInput(f"{table}: no such transcript table")
    by_path: dict[Path, tuple[str, str]] = {}
    with open(table, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if not reader.fieldnames or not {"path", "transcript"} <= set(reader.fieldnames):
            raise BadInput(f"{table}: expected a tab-separated table with columns path, language, transcript")
        for row in reader:
            by_path[(table.parent / row["path"]).resolve()] = (row.get("language") or "", row["transcript"] or "")
    matched = 0
    for utterance in utterances:
        for candidate in (utterance.clean_path, utterance.video_path):
            if candidate and Path(candidate).resolve() in by_path:
                language, transcript = by_path[Path(candidate).resolve()]
                utterance.language = utterance.language or language
                if not utterance.transcript and transcript.strip():
                    utterance.transcript, utterance.transcript_source = transcript.strip(), "given"
                matched += 1
                break
    return matched


def _absolute(path: Path | None) -> str:
    return str(path.resolve()) if path else ""


def _give_transcript(utterance: Utterance, path: Path) -> None:
    utterance.text_path = _absolute(path)
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if text:
        utterance.transcript, utterance.transcript_source = text, "given"


def _by_stem(folder: Path, suffixes: set[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for path in files_in(folder, suffixes, recursive=False):
        if path.stem in found:
            raise BadInput(f"duplicate id '{path.stem}': {found[path.stem]} and {path}")
        found[path.stem] = path
    return found


def _reject_duplicate_ids(utterances: list[Utterance]) -> None:
    seen: dict[str, Utterance] = {}
    clashes = []
    for utterance in utterances:
        if utterance.id in seen:
            first = seen[utterance.id]
            clashes.append(f"'{utterance.id}' ({first.clean_path or first.video_path or first.noisy_path} "
                           f"and {utterance.clean_path or utterance.video_path or utterance.noisy_path})")
        seen[utterance.id] = utterance
    if clashes:
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise BadInput(f"duplicate utterance ids: {'; '.join(clashes[:3])}{more}")


def media_files(inputs: Path, doing: str) -> list[tuple[str, Path, Path]]:
    """(id, path, path relative to the input folder) of one audio/video file or of every one under a folder.

    Ids are the relative path without suffix, '/' written as '__'; two files that would
    share an id (a.wav and a.flac) are refused rather than one silently replacing the other.
    `doing` completes the error message: "no audio or video files to {doing}".
    """
    if not inputs.exists():
        raise BadInput(f"{inputs}: no such file or folder")
    files = [inputs] if inputs.is_file() else files_in(inputs, AUDIO_SUFFIXES | VIDEO_SUFFIXES)
    if not files:
        raise BadInput(f"{inputs}: no audio or video files to {doing}")
    root = inputs.parent if inputs.is_file() else inputs
    found, seen = [], {}
    for path in files:
        relative = path.relative_to(root)
        uid = safe_id(relative.with_suffix("").as_posix().replace("/", "__"))
        if uid in seen:
            raise BadInput(f"duplicate id '{uid}': {seen[uid]} and {path}")
        seen[uid] = path
        found.append((uid, path, relative))
    return found


def files_in(folder: Path, suffixes: set[str], recursive: bool = True) -> list[Path]:
    """The files under `folder` (or directly in it) with one of `suffixes` (lower case), sorted: the one scan of every
    input folder. Symbolic links that lead nowhere (dangling, or looping) cannot be read: they are left out, and
    listed in one warning line rather than skipped unsaid."""
    found, broken = [], []
    for path in sorted(folder.rglob("*") if recursive else folder.iterdir()):
        if path.suffix.lower() not in suffixes:
            continue
        if path.is_file():
            found.append(path)
        elif path.is_symlink() and not path.exists():
            broken.append(path.relative_to(folder).as_posix())
    if broken:
        listed = ", ".join(broken[:5]) + (f" and {len(broken) - 5} more" if len(broken) > 5 else "")
        active_reporter().warn(f"{folder}: skipped {len(broken)} symbolic link{'s' if len(broken) > 1 else ''} that "
                               f"lead{'' if len(broken) > 1 else 's'} nowhere (dangling or looping): {listed}")
    return found
