"""`cmkt report`: one static page to see and hear enhanced speech beside the noisy input and the clean reference.

Everything the page shows is written into the report folder (16-bit WAV copies at 16 kHz,
spectrogram PNGs, scores.json, index.html) and linked by relative paths, so the folder can
be zipped, mailed or opened from disk with no server or network. Nothing is written
outside it: the scores are computed here rather than cached in a workdir.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.artifacts.workdir import make_folder
from pipelines.atomic import check_target, write_text
from pipelines.audio_io import SAMPLE_RATE, load_audio, write_audio
from pipelines.compare import compare
from pipelines.data.manifest import safe_id
from pipelines.errors import BadInput
from pipelines.metrics import METRIC_LABELS
from pipelines.report.page import render_page
from pipelines.report.sources import Audio, Comparison
from pipelines.reporting import Reporter
from pipelines.stages.runner import WorkItem, outcomes
from pipelines.scoring import ALL_METRICS


@dataclass(frozen=True)
class FileTask:
    uid: str
    audio: dict[str, Audio]  # column name -> file or samples, in the page's column order
    folders: dict[str, str]  # column name -> its audio folder in the report
    out_dir: Path


@dataclass
class ReportResult:
    page: Path
    files: int
    failed: list[tuple[str, str]]


def write_report(comparison: Comparison, out_dir: Path, reporter: Reporter, jobs: int = 1) -> ReportResult:
    """Score, copy and draw every file (in `jobs` processes), then write index.html and scores.json."""
    make_folder(out_dir, "-o")
    folders = {c.name: c.folder for c in comparison.columns}
    for planned in ("index.html", "scores.json", "img", *(f"audio/{folder}" for folder in folders.values())):
        check_target(out_dir / planned)  # before any work: no link in the report folder leads the copies elsewhere
    items = [WorkItem(uid, "", FileTask(uid, {c.name: audio[c.name] for c in comparison.columns if c.name in audio},
                                        folders, out_dir))
             for uid, audio in comparison.files.items()]
    rows, failed = [], []
    with reporter.progress(len(items), "report") as bar:
        for item, outcome in outcomes(items, _file_entry, jobs):
            if isinstance(outcome, Exception):
                failed.append((item.uid, str(outcome)))
                reporter.warn(f"{item.uid}: {outcome}")
            else:
                rows.append(outcome)
            bar.advance()
    rows.sort(key=lambda row: row["id"])
    summary = summarise(rows, [c.name for c in comparison.columns])
    for line in coverage(summary, len(rows)):
        reporter.warn(line)
    write_text(out_dir / "scores.json", json.dumps({"columns": [c.name for c in comparison.columns],
                                                    "summary": summary, "files": rows}, indent=1, ensure_ascii=False))
    page = write_text(out_dir / "index.html", render_page(comparison, rows, summary))
    return ReportResult(page, len(rows), failed)


def _file_entry(task: FileTask) -> dict:
    """One file's row: its audio copied into the report, its picture drawn, its scores."""
    signals = {name: _samples(audio) for name, audio in task.audio.items()}
    name, image = safe_id(task.uid), f"img/{safe_id(task.uid)}.png"
    scores = compare(task.uid, {k: v for k, v in signals.items() if k != "clean"}, signals.get("clean"),
                     task.out_dir / image)
    audio = {}
    for column, samples in signals.items():
        relative = f"audio/{task.folders[column]}/{name}.wav"
        _write_pcm(task.out_dir / relative, samples)
        audio[column] = {"src": relative, "seconds": len(samples) / SAMPLE_RATE}
    return {"id": task.uid, "audio": audio, "image": image, "scores": scores}


def _samples(audio: Audio) -> np.ndarray:
    return audio if isinstance(audio, np.ndarray) else load_audio(audio).samples


def _write_pcm(path: Path, samples: np.ndarray) -> None:
    """16-bit PCM, which every browser plays (half the size of float WAV); louder than full scale: scaled down."""
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    write_audio(path, samples / peak if peak > 1.0 else samples, SAMPLE_RATE, subtype="PCM_16")


def summarise(rows: list[dict], columns: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """column -> metric -> mean, std, n, and `delta` (the mean per-file improvement over noisy, where known)."""
    summary = {}
    for column in columns:
        per_metric = {}
        for metric in ALL_METRICS:
            pairs = [(row["scores"][column][metric], row["scores"].get("noisy", {}).get(metric))
                     for row in rows if metric in row["scores"].get(column, {})]
            if not pairs:
                continue
            values = np.array([value for value, _ in pairs])
            stats = {"mean": float(values.mean()), "std": float(values.std()), "n": len(values)}
            deltas = [value - noisy for value, noisy in pairs if noisy is not None]
            if column != "noisy" and deltas:
                stats["delta"] = float(np.mean(deltas))
            per_metric[metric] = stats
        summary[column] = per_metric
    return summary


def coverage(summary: dict[str, dict[str, dict[str, float]]], files: int) -> list[str]:
    """One line per signal whose scores some files lack (a mean over fewer files than the page shows), e.g.
    "noisy: PESQ-WB, STOI over 2 of 7 files"."""
    lines = []
    for column, per_metric in summary.items():
        partial: dict[int, list[str]] = {}
        for metric, stats in per_metric.items():
            if stats["n"] < files:
                partial.setdefault(stats["n"], []).append(METRIC_LABELS[metric])
        lines += [f"{column}: {', '.join(labels)} over {n} of {files} files (the others have no clean reference or "
                  f"could not be scored)" for n, labels in sorted(partial.items())]
    return lines


def check_output(out_dir: Path, inputs: list[Path]) -> None:
    """The report folder must not be one of the inputs (its audio copies would be compared with themselves) nor
    hold one (what lies inside the report folder is never taken as an input)."""
    report = out_dir.resolve()
    for path in inputs:
        if report == path.resolve():
            raise BadInput(f"-o {out_dir}: the report folder cannot be an input folder; choose another")
        if report in path.resolve().parents:
            raise BadInput(f"-o {out_dir}: the report folder holds the input {path}; choose a folder outside the "
                           f"inputs")
