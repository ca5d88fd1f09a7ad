"""`cmkt featurize --lips`: each utterance's video -> aligned mouth crops -> lip embeddings, cached as `lips_{split}.h5`.

Per utterance (the manifest's `video_path`) the clip is processed by pipelines/video/clip_features.py
(the same code `enhance --video` runs on a new recording). Clips run in `jobs` worker processes, each with
its own landmarker and encoder (neither can be pickled). Layout of the artifact:
docs/visual.md.

The train split's ROI mean and std (for fine-tuning the encoder from the cached crops)
come from per-utterance sums stored with each entry, so they always match the cached
crops: `video.lip_features.roi_normalisation` adds them up.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pipelines.artifacts.checksums import file_checksum
from pipelines.artifacts.shards import WHOLE, Shard
from pipelines.artifacts.store import ArtifactFile, ArtifactStore
from pipelines.artifacts.workdir import Workdir
from pipelines.data.manifest import chosen_splits, read_manifest
from pipelines.errors import BadInput
from pipelines.models.lip_resnet import ENCODER_CROP, load_lrw_encoder
from pipelines.reporting import Reporter
from pipelines.stages.runner import StageReport, committing_all, uncached
from pipelines.video.clip_features import (LRW_MEAN, LRW_STD, MISSING, SMOOTHING_WINDOW, STEPS, UNTRAINED, ClipFeatures,
                                           ClipTask, featurize_clip)
from pipelines.video.face_landmarks import resolve_face_model
from pipelines.video.lip_features import roi_normalisation
from pipelines.video.mouth_roi import CropSettings, write_contact_sheet

STAGE = "lips"
NO_VIDEO = "no video: no lip features"


@dataclass
class LipOptions:
    face_model: Path | None = None  # None: the packaged default
    lip_weights: Path | None = None  # None: an untrained encoder (loud warning)
    splits: list[str] | None = None  # None: every split in the manifest
    preview: bool = False
    jobs: int = 1
    force: bool = False
    shard: Shard = WHOLE  # --shard I/N: only this shard's utterances, into its own artifact file


@dataclass
class LipRun:
    reports: list[StageReport]
    frames: int = 0  # computed in this run (a video shared by several utterances counts once)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))  # summed over workers
    wall_seconds: float = 0.0
    encoder: str = UNTRAINED
    normalisation: tuple[float, float] | None = None

    def throughput(self) -> str:
        """'N frames in S s: F frames/s overall; per worker: decode ..., landmarks ..., ...'."""
        steps = ", ".join(f"{step} {self.frames / max(s, 1e-9):.0f}" for step, s in self.seconds.items())
        return (f"lips: {self.frames} video frames in {self.wall_seconds:.1f} s = "
                f"{self.frames / max(self.wall_seconds, 1e-9):.0f} frames/s overall; "
                f"frames/s per worker: {steps}")


def featurize_lips(workdir: Workdir, options: LipOptions, reporter: Reporter) -> LipRun:
    """Mouth crops and lip embeddings of every utterance with a video in the chosen splits."""
    utterances = read_manifest(workdir)
    splits = chosen_splits(utterances, options.splits)
    face_model = resolve_face_model(options.face_model)
    encoder = _encoder_identity(options.lip_weights, reporter)
    config = {"face_model": file_checksum(face_model), "crop": CropSettings().to_dict(),
              "smoothing_window": SMOOTHING_WINDOW, "encoder": encoder, "encoder_crop": ENCODER_CROP,
              "encoder_input_norm": [LRW_MEAN, LRW_STD]}
    threads = max(1, torch.get_num_threads() // options.jobs)
    weights = str(options.lip_weights) if options.lip_weights else None
    run = LipRun(reports=[], encoder=encoder)
    stores, todo = {}, []
    for split in splits:
        store = ArtifactStore(workdir, STAGE, split, config, force=options.force, shard=options.shard)
        ours = [u for u in utterances if u.split == split and options.shard.owns(u.id)]
        report = StageReport(STAGE, split, skipped=[(u.id, NO_VIDEO) for u in ours if not u.video_path])
        tasks = [ClipTask(u.id, split, file_checksum(Path(u.video_path)) if Path(u.video_path).is_file() else MISSING,
                          u.video_path, str(face_model), weights, threads) for u in ours if u.video_path]
        todo += uncached(store, tasks, report)
        stores[split] = store
        run.reports.append(report)
    reports = {r.split: r for r in run.reports}
    started = time.perf_counter()
    by_video: dict[str, list[ClipTask]] = {}  # mixtures of one clean recording share its video: one pass each
    for task in todo:
        by_video.setdefault(task.video_key, []).append(task)
    with committing_all([(store, reports[split]) for split, store in stores.items()]), \
            reporter.progress(len(todo), "lips") as bar:
        for first, outcome in _outcomes([tasks[0] for tasks in by_video.values()], options.jobs):
            if not isinstance(outcome, BadInput):
                run.frames += len(outcome.arrays["rois"])
                for step, seconds in outcome.seconds.items():
                    run.seconds[step] += seconds
            for task in by_video[first.video_key]:
                _record(task, outcome, stores[task.split], reports[task.split], reporter)
                bar.advance()
    run.wall_seconds = time.perf_counter() - started
    if options.preview:
        for split in splits:
            write_previews(workdir, split, reporter, options.shard)
    without = sum(len(r.skipped) for r in run.reports)
    if without:
        reporter.warn(f"{without} utterances without a video: no lip features (they can train audio-only)")
    if options.shard.whole and workdir.artifact(STAGE, "train").exists():  # a shard has only part of the train split
        run.normalisation = roi_normalisation(workdir)
    return run


def _encoder_identity(weights: Path | None, reporter: Reporter) -> str:
    """The weights' checksum (checked to load, so a bad file fails before any work), else 'untrained', loudly."""
    if weights is None:
        reporter.warn("NO LIP-READING WEIGHTS: the lip encoder is UNTRAINED (random weights, seed 0), so its "
                      "embeddings carry no lip-reading knowledge. Give an LRW checkpoint of the 'Lipreading using "
                      "Temporal Convolutional Networks' models with --lip-weights PATH (docs/visual.md), or train "
                      "the encoder with the enhancement model from the cached crops (`cmkt train --lip-encoder "
                      "finetune`). The artifact records encoder = 'untrained'.")
        return UNTRAINED
    if not Path(weights).is_file():
        raise BadInput(f"--lip-weights {weights}: no such file")
    load_lrw_encoder(weights)
    return file_checksum(weights)


def _outcomes(tasks: list[ClipTask], jobs: int):
    """(task, ClipFeatures or BadInput) in order, in this process or in `jobs` worker processes."""
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield task, _guarded(task)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from zip(tasks, pool.map(_guarded, tasks))


def _guarded(task: ClipTask) -> ClipFeatures | BadInput:
    try:
        return featurize_clip(task)
    except BadInput as err:
        return err


def _record(task: ClipTask, outcome, store: ArtifactStore, report: StageReport, reporter: Reporter) -> None:
    if isinstance(outcome, BadInput):
        report.failed.append((task.uid, str(outcome)))
        reporter.warn(f"{task.uid}: {outcome}")
        return
    store.put(task.uid, task.checksum, outcome.arrays, outcome.attrs)
    report.computed += 1


def write_previews(workdir: Workdir, split: str, reporter: Reporter, shard: Shard = WHOLE) -> Path:
    """A contact sheet PNG per utterance (of the shard) in WORKDIR/reports/lips/SPLIT/ID.png."""
    folder = workdir.reports(STAGE) / split
    path = workdir.artifact(STAGE, split, shard)
    if not path.exists():
        return folder
    with ArtifactFile(path, STAGE) as artifact:
        for uid, group in artifact.items():
            write_contact_sheet(folder / f"{uid}.png", group["rois"][()])
    reporter.info(f"mouth crop previews: {folder}")
    return folder
