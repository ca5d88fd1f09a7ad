"""`cmkt score`: PESQ, STOI, ESTOI and SI-SDR of enhanced speech against clean references, and DNSMOS.

Two ways in: folders of files matched by name (`--clean`, `--enhanced`, optional
`--noisy`; without `--clean` only DNSMOS, which needs no reference), or a prepared workdir, whose test split supplies clean and noisy speech
and whose estimates come from an `--enhanced` folder or, failing that, are the noisy
input itself (the baseline every enhancer must beat). `--dnsmos` adds the non-intrusive
DNSMOS P.835 scores (pipelines/dnsmos.py) beside the intrusive ones. Per-file scores are cached in
the artifact store like any stage, so rescoring after adding files is cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.artifacts.checksums import combine_checksums, file_checksum
from pipelines.artifacts.store import ArtifactStore, open_artifact
from pipelines.artifacts.workdir import Workdir, make_folder
from pipelines.atomic import write_csv, write_text
from pipelines.audio_io import AUDIO_SUFFIXES, SAMPLE_RATE, audio_kinds, load_audio
from pipelines.data.layout import files_in
from pipelines.data.manifest import distinct_ids, read_manifest, safe_id
from pipelines.data.prepared import PreparedSplit
from pipelines.errors import BadInput
from pipelines.reporting import Reporter
from pipelines.scoring import ALL_METRICS, Measures, measure
from pipelines.stages.runner import ItemOutput, StageReport, WorkItem, run_items

STAGE = "score"


@dataclass
class ScoreResult:
    name: str
    rows: list[dict] = field(default_factory=list)  # one per utterance: id, metrics, noisy_* and delta_*
    summary: dict[str, dict[str, float]] = field(default_factory=dict)  # column -> mean, std, n
    report: StageReport | None = None
    csv_path: Path | None = None
    json_path: Path | None = None


def score_folders(workdir: Workdir, clean_dir: Path | None, enhanced_dir: Path, noisy_dir: Path | None,
                  reporter: Reporter, force: bool = False, jobs: int = 1, trim: bool = False,
                  out_dir: Path | None = None, with_dnsmos: bool = False) -> ScoreResult:
    """Score every audio file in `enhanced_dir` against the file of the same name in `clean_dir`; without
    `clean_dir`, with DNSMOS alone."""
    measures = Measures(intrusive=clean_dir is not None, dnsmos=with_dnsmos or clean_dir is None)
    enhanced = _audio_files(enhanced_dir, "--enhanced")
    clean = _audio_files(clean_dir, "--clean") if clean_dir else {}
    noisy = _audio_files(noisy_dir, "--noisy") if noisy_dir else {}
    unmatched = sorted(set(clean) - set(enhanced))
    if unmatched:
        reporter.warn(f"{len(unmatched)} clean files have no enhanced file (e.g. {unmatched[0]}); they are not scored")
    items = []
    ids, renamed = distinct_ids(sorted(enhanced))
    for note in renamed:
        reporter.warn(note)
    for stem, path in sorted(enhanced.items()):
        sources = {"clean": clean.get(stem), "estimate": path, "noisy": noisy.get(stem)}
        if noisy_dir and sources["noisy"] is None:
            reporter.warn(f"{stem}: no noisy file in {noisy_dir}; scored without the improvement columns")
        checksum = combine_checksums({k: file_checksum(v) if v else None for k, v in sources.items()})
        items.append(WorkItem(ids[stem], checksum, (sources, trim, stem, measures)))
    name = safe_id(enhanced_dir.resolve().name)
    return _score(workdir, name, items, reporter, force, jobs, trim, out_dir, measures)


def score_workdir(workdir: Workdir, split: str, enhanced_dir: Path | None, reporter: Reporter, force: bool = False,
                  jobs: int = 1, trim: bool = False, out_dir: Path | None = None,
                  with_dnsmos: bool = False) -> ScoreResult:
    """Score a prepared split: estimates from `enhanced_dir` (ID.wav), else the noisy input as the baseline."""
    measures = Measures(dnsmos=with_dnsmos)
    utterances = read_manifest(workdir, split)
    if not utterances:
        raise BadInput(f"split '{split}' of {workdir.root} has no utterances")
    estimates = _audio_files(enhanced_dir, "--enhanced") if enhanced_dir else {}
    items = []
    with PreparedSplit(workdir, split) as prepared:
        for utterance in utterances:
            entry = prepared[utterance.id]
            clean, noisy, origin = entry.clean, entry.noisy, entry.checksum
            if enhanced_dir is None:
                estimate, estimate_sum = noisy, origin
            elif utterance.id in estimates:
                estimate, estimate_sum = estimates[utterance.id], file_checksum(estimates[utterance.id])
            else:
                reporter.warn(f"{utterance.id}: no enhanced file {utterance.id}.wav in {enhanced_dir}; not scored")
                continue
            checksum = combine_checksums(origin, estimate_sum)
            reference_noisy = None if enhanced_dir is None else noisy  # the baseline needs no "vs noisy" columns
            sources = {"clean": clean, "estimate": estimate, "noisy": reference_noisy}
            items.append(WorkItem(utterance.id, checksum, (sources, trim, utterance.id, measures)))
    if enhanced_dir is None:
        reporter.info("no enhanced output given: scoring the noisy input (the baseline to beat)")
    name = f"{split}-{safe_id(enhanced_dir.resolve().name) if enhanced_dir else 'noisy'}"
    return _score(workdir, name, items, reporter, force, jobs, trim, out_dir, measures)


def _score(workdir: Workdir, name: str, items: list[WorkItem], reporter: Reporter, force: bool, jobs: int,
           trim: bool, out_dir: Path | None, measures: Measures) -> ScoreResult:
    make_folder(out_dir or workdir.reports(STAGE), "--out")  # before any work
    store = ArtifactStore(workdir, STAGE, name, {"metrics": list(measures.columns), "sample_rate": SAMPLE_RATE,
                                                 "trim": trim}, force=force)
    report = run_items(store, items, _score_one, reporter, jobs=jobs)
    result = ScoreResult(name, report=report)
    if report.cached + report.computed:
        with open_artifact(workdir, STAGE, name) as artifact:
            result.rows = [_row(uid, artifact[uid].attrs) for uid in artifact]
    result.summary = _summary(result.rows)
    _save(result, out_dir or workdir.reports(STAGE))
    return result


def _score_one(task) -> ItemOutput:
    sources, trim, label, measures = task
    reference = None if sources["clean"] is None else _samples(sources["clean"])
    scores = measure(label, _samples(sources["estimate"]), reference, measures, trim)
    if sources.get("noisy") is not None:
        noisy_scores = measure(label, _samples(sources["noisy"]), reference, measures, trim)
        scores.update({f"noisy_{k}": v for k, v in noisy_scores.items()})
        scores.update({f"delta_{k}": scores[k] - v for k, v in noisy_scores.items()})
    return ItemOutput(attrs=scores)


def _samples(source) -> np.ndarray:
    return source if isinstance(source, np.ndarray) else load_audio(Path(source)).samples


SCORE_COLUMNS = [*ALL_METRICS, *(f"noisy_{m}" for m in ALL_METRICS), *(f"delta_{m}" for m in ALL_METRICS)]


def _row(uid: str, attrs) -> dict:
    return {"id": uid, **{column: float(attrs[column]) for column in SCORE_COLUMNS if column in attrs}}


def _summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    columns = [c for c in rows[0] if c != "id"] if rows else []
    summary = {}
    for column in columns:
        values = np.array([row[column] for row in rows if column in row], dtype=np.float64)
        summary[column] = {"mean": float(values.mean()), "std": float(values.std()), "n": int(values.size)}
    return summary


def _save(result: ScoreResult, out_dir: Path) -> None:
    result.csv_path = write_csv(out_dir / f"{result.name}.csv", ["id", *result.summary], result.rows)
    report = result.report
    result.json_path = write_text(out_dir / f"{result.name}.json", json.dumps({
        "name": result.name,
        "summary": result.summary,
        "files": result.rows,
        "skipped": dict(report.skipped) if report else {},
        "failed": dict(report.failed) if report else {},
    }, indent=1))


def _audio_files(folder: Path, option: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise BadInput(f"{option} {folder}: no such folder")
    files = {}
    for path in files_in(folder, AUDIO_SUFFIXES):
        stem = path.relative_to(folder).with_suffix("").as_posix()
        if stem in files:
            raise BadInput(f"duplicate id '{stem}' in {option} {folder}: {files[stem].name} and {path.name}")
        files[stem] = path
    if not files:
        raise BadInput(f"{option} {folder}: no audio files ({audio_kinds()})")
    return files
