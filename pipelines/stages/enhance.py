"""`cmkt enhance`: noisy files (or a prepared split) in, enhanced WAVs out, with the bundled model or a checkpoint.

Without a checkpoint the bundled default model enhances (pipelines/pretrained.py), with the
sampler its model card names; one file given without an output folder is written beside
itself as NAME_enhanced.wav.

Outputs keep each input's length and sample rate (mono). An output folder also gets
`model.json` (pipelines/run_card.py: checkpoint, sampler, network evaluations, real-time
factor), and `--plot` draws NAME.png beside each output (pipelines/compare.py): noisy,
enhanced and (for a prepared split) clean spectrograms on one colour scale, with their
scores. Results are cached in the artifact store keyed by the input, the checkpoint, the sampling options and how the networks
ran (`--precision`, `--compile`), so a rerun only enhances new or changed files (and
rewrites any output file that went missing).

Audio-visual checkpoints (modality av, avl) also take the speaker's lips: for a prepared
split, the cached `featurize --lips` embeddings; for files, `--video` (a file, or a
folder matched by file stem), run through the same mouth-crop and lip-encoder pipeline
(with the encoder the checkpoint was trained with; a checkpoint that fine-tuned its lip
encoder embeds the mouth crops itself). Without video they enhance with the model's
"no video" input, and audio-only checkpoints ignore video.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pipelines.artifacts.checksums import combine_checksums, file_checksum
from pipelines.artifacts.store import ArtifactStore, open_artifact
from pipelines.artifacts.workdir import Workdir, make_folder
from pipelines.atomic import check_target
from pipelines.audio_io import SAMPLE_RATE, check_subtype, load_audio, to_source, write_audio
from pipelines.compare import compare
from pipelines.data.layout import media_files
from pipelines.data.manifest import read_manifest, safe_id
from pipelines.data.prepared import PreparedSplit
from pipelines.enhancing import Engine, output_targets, write_engine_card
from pipelines.errors import BadInput, check_choice
from pipelines.inference import BATCH_SIZE, SamplingOptions
from pipelines.reporting import Reporter
from pipelines.run_card import RUN_CARD
from pipelines.speedups import PRECISIONS, compile_networks
from pipelines.stages.runner import StageReport, committing, uncached
from pipelines.video.clip_features import check_lip_encoder, lip_track
from pipelines.video.lip_features import load_lip_features
from pipelines.video.lip_track import LipTrack

STAGE = "enhance"


@dataclass
class EnhanceOptions:
    checkpoint: Path
    sampling: SamplingOptions | None = None  # None: the model card's sampler (PC 30 + ALD for a checkpoint)
    batch_size: int = BATCH_SIZE
    chunk_seconds: float = 8.0
    seed: int = 0
    device: str = "cpu"
    force: bool = False
    video: Path | None = None  # a video file, or a folder of videos matched to the inputs by stem
    lip_weights: Path | None = None  # the LRW weights the checkpoint's lip embeddings were made with
    face_model: Path | None = None
    precision: str = "fp32"  # or "bf16" (autocast); pipelines/speedups.py
    compile: bool = False  # torch.compile the two U-Nets
    plot: bool = False  # NAME.png spectrograms beside each output
    attenuation_limit: float | None = None  # dB (inference.py); None: the one `sampling` or the model card gives
    subtype: str | None = None  # the outputs' sample format; None: each input's

    def __post_init__(self) -> None:
        """Checked once, here: a bad --precision is one line and exit 2 before any model is loaded."""
        check_choice("--precision", self.precision, PRECISIONS)
        check_subtype(self.subtype)

    def cache_key(self, checkpoint_checksum: str) -> dict:
        """What makes an output: the networks' precision and compilation only when not the defaults, so outputs
        cached before these options existed stay valid."""
        speed = {k: v for k, v in (("precision", self.precision), ("compile", self.compile))
                 if v != getattr(EnhanceOptions, k)}
        return {"checkpoint": checkpoint_checksum, "sampling": self.sampling.to_dict(), "seed": self.seed,
                "chunk_seconds": self.chunk_seconds, **speed}


@dataclass
class Recording:
    uid: str
    target: Path  # the output file
    checksum: str
    source: Path | None = None  # read from disk ...
    samples: np.ndarray | None = None  # ... or already in memory (a prepared split)
    rate: int = SAMPLE_RATE
    length: int = 0
    subtype: str = "FLOAT"  # the output's sample format: the input's (audio_io.output_subtype)
    video: Path | None = None  # the speaker's face, for av/avl models (enhance_paths) ...
    lips: LipTrack | None = None  # ... or its lip frames (cached for a prepared split, or computed)


@dataclass
class Speed:
    """What this run's enhancement cost: for the real-time factor and network evaluations in model.json."""

    seconds: float = 0.0
    audio_seconds: float = 0.0
    evaluations: list[int] = field(default_factory=list)  # per batch of chunks


def enhance_paths(workdir: Workdir, inputs: Path, out_dir: Path | None, options: EnhanceOptions,
                  reporter: Reporter) -> tuple[StageReport, list[Path]]:
    """Enhance one file or every audio/video file under a folder into `out_dir` (same relative names, .wav).

    With no `out_dir`, one file is written beside itself as NAME_enhanced.wav. Returns the report and the
    output files."""
    videos = _videos_by_stem(options.video)
    recordings = []
    for uid, path, target in output_targets(inputs, out_dir):
        video = videos.get(path.stem) if options.video and options.video.is_dir() else options.video
        checksum = combine_checksums(file_checksum(path), file_checksum(video) if video else None)
        if options.plot:
            check_target(target.with_suffix(".png"))
        recordings.append(Recording(uid, target, checksum, source=path, video=video))
    name = safe_id((out_dir or inputs.parent).resolve().name)
    model, options = _load_model(options)
    if out_dir is not None:
        make_folder(out_dir, "-o")  # before any work: a folder that cannot be written is a one-line error
        check_target(out_dir / RUN_CARD)
    report = _enhance(workdir, name if out_dir is not None else f"beside-{name}", model, recordings, options, reporter,
                      out_dir=out_dir)
    return report, [r.target for r in recordings]


def _load_model(options: EnhanceOptions) -> tuple[Engine, EnhanceOptions]:
    """The engine, and the options with the sampler filled in from its card where none was chosen."""
    engine = Engine.load(options.checkpoint, options.sampling, options.attenuation_limit, options.device,
                         batch_size=options.batch_size, chunk_seconds=options.chunk_seconds,
                         precision=options.precision)
    return engine, replace(options, sampling=engine.sampling)


def _videos_by_stem(video: Path | None) -> dict[str, Path]:
    if video is None:
        return {}
    if not video.exists():
        raise BadInput(f"--video {video}: no such file or folder")
    return {path.stem: path for _, path, _ in media_files(video, "use as --video")} if video.is_dir() else {}


def enhance_split(workdir: Workdir, split: str, options: EnhanceOptions, reporter: Reporter) -> tuple[StageReport, Path]:
    """Enhance a prepared split into WORKDIR/enhanced/NAME/ID.wav, ready for `cmkt score --enhanced`."""
    model, options = _load_model(options)
    name = output_name(options)
    out_dir = check_target(workdir.root / "enhanced" / name)
    recordings = []
    with PreparedSplit(workdir, split) as prepared:
        for utterance in read_manifest(workdir, split):
            entry = prepared[utterance.id]
            recordings.append(Recording(utterance.id, out_dir / f"{utterance.id}.wav", entry.checksum,
                                        samples=entry.noisy))
    if not recordings:
        raise BadInput(f"split '{split}' of {workdir.root} has no utterances")
    return _enhance(workdir, f"{split}-{name}", model, recordings, options, reporter, split, out_dir), out_dir


def output_name(options: EnhanceOptions) -> str:
    """e.g. 'a-small-seed0-pc30ald', 'a-small-seed0-ode10-bf16' from the checkpoint's run folder (a model file:
    its name), the sampler and a non-default precision (compiling changes only rounding, so it shares the folder)."""
    precision = "" if options.precision == "fp32" else f"-{options.precision}"
    path = options.checkpoint.resolve()
    model = path.parent.name if path.suffix == ".ckpt" else path.stem
    return safe_id(f"{model}-{options.sampling.tag}{precision}")


def _enhance(workdir: Workdir, name: str, engine: Engine, recordings: list[Recording],
             options: EnhanceOptions, reporter: Reporter, split: str | None = None,
             out_dir: Path | None = None) -> StageReport:
    """`split`: the prepared split the recordings come from (None: files); `out_dir`: the output folder, which
    gets the run's model.json (None: files written beside their inputs)."""
    model = engine.network
    if options.compile:
        compile_networks(model, reporter.warn)
    if model.config.uses_video:
        _attach_lips(workdir, split, recordings, model.config, options, reporter)
    elif options.video is not None:
        reporter.warn(f"{options.checkpoint} is an audio-only model: --video is not used")
    kind = "rois" if model.config.lip_finetune else "embeddings"
    store = ArtifactStore(workdir, STAGE, name, options.cache_key(file_checksum(options.checkpoint)),
                          force=options.force)
    report = StageReport(STAGE, name)
    todo = uncached(store, recordings, report)
    speed = Speed()
    engine.start_run()
    with committing(store, report), reporter.progress(len(todo), f"enhance {name}") as bar:
        for first in range(0, len(todo), options.batch_size):
            group = [r for r in todo[first:first + options.batch_size] if _load(r, report, reporter)
                     and (not model.config.uses_video or _read_lips(r, kind, options, report, reporter))]
            _enhance_group(engine, group, options, store, report, reporter, speed)
            bar.advance(min(options.batch_size, len(todo) - first))
    failed = {uid for uid, _ in report.failed}  # their earlier result (kept in the artifact) is not this input's
    _write_outputs(workdir, name, recordings, {r.uid for r in todo} - failed, failed, options.subtype)
    if out_dir is not None:
        _write_card(out_dir, engine, options, speed)
    if options.plot:
        _plot_outputs(workdir, split, [r for r in recordings if r.uid not in failed], reporter)
    return report


def _write_card(out_dir: Path, engine: Engine, options: EnhanceOptions, speed: Speed) -> None:
    facts = {"name": engine.network.card.get("name", output_name(options)), "precision": options.precision}
    if speed.audio_seconds:
        facts.update({"network_evaluations": max(speed.evaluations), "device": options.device,
                      **engine.speed_facts(speed.seconds, speed.audio_seconds)})
    write_engine_card(out_dir, engine, facts)


def _plot_outputs(workdir: Workdir, split: str | None, recordings: list[Recording], reporter: Reporter) -> None:
    """NAME.png beside each output: noisy, enhanced and (a prepared split's) clean, with their scores."""
    with ExitStack() as stack, reporter.progress(len(recordings), "plot spectrograms") as bar:
        prepared = stack.enter_context(PreparedSplit(workdir, split)) if split is not None else None
        for recording in recordings:
            if prepared is None:
                noisy, clean = load_audio(recording.source).samples, None
            else:
                noisy, clean = prepared[recording.uid].noisy, prepared[recording.uid].clean
            compare(recording.uid, {"noisy": noisy, "enhanced": load_audio(recording.target).samples}, clean,
                    recording.target.with_suffix(".png"))
            bar.advance()


def _attach_lips(workdir: Workdir, split: str | None, recordings: list[Recording], config,
                 options: EnhanceOptions, reporter: Reporter) -> None:
    """Give each recording of an av/avl model its lip frames (or, for files, its video to read when it is
    enhanced, so cached outputs never rerun the face pipeline); the encoder's identity joins the cache key."""
    if split is not None:  # a prepared split: the cached featurize --lips output
        try:
            tracks = load_lip_features(workdir, split, "rois" if config.lip_finetune else "embeddings").items
        except BadInput as err:
            reporter.warn(f"{err}; enhancing without video")
            tracks = {}
        for recording in recordings:
            recording.lips = tracks.get(recording.uid)
    elif config.lip_finetune:
        if options.lip_weights is not None:
            reporter.warn("the checkpoint embeds lips with its own fine-tuned encoder: --lip-weights is not used")
    else:
        check_lip_encoder(options.lip_weights, config.lip_encoder)
    seen = [r for r in recordings if r.lips is not None or r.video is not None]
    if len(seen) < len(recordings):
        example = next(r.uid for r in recordings if r not in seen)
        reporter.warn(f"{len(recordings) - len(seen)} of {len(recordings)} inputs have no video: enhanced with the "
                      f"model's 'no video' input (e.g. {example})")
    for recording in seen:
        recording.checksum = combine_checksums(recording.checksum, "lips", config.lip_encoder)


def _read_lips(recording: Recording, kind: str, options: EnhanceOptions, report: StageReport,
               reporter: Reporter) -> bool:
    """Lip frames of a file's video, computed only when the file is enhanced; False if the video has no face."""
    if recording.video is not None and recording.lips is None:
        try:
            recording.lips = lip_track(recording.video, options.face_model, options.lip_weights, kind)
        except BadInput as err:
            report.failed.append((recording.uid, str(err)))
            reporter.warn(f"{recording.uid}: {err}")
            return False
    return True


def _load(recording: Recording, report: StageReport, reporter: Reporter) -> bool:
    if recording.samples is None:
        try:
            audio = load_audio(recording.source)
        except BadInput as err:
            report.failed.append((recording.uid, str(err)))
            reporter.warn(str(err))
            return False
        recording.samples, recording.rate, recording.length = audio.samples, audio.source_rate, audio.source_frames
        recording.subtype = audio.source_subtype
        if audio.converted:
            reporter.once("convert", f"enhancing at {SAMPLE_RATE} Hz mono; outputs are written back at each input's "
                                     f"rate (e.g. {recording.source.name}: {audio.source_rate} Hz, "
                                     f"{audio.source_channels} channel(s) -> mono)")
    recording.length = recording.length or len(recording.samples)
    return True


def _enhance_group(engine: Engine, group: list[Recording], options: EnhanceOptions, store: ArtifactStore,
                   report: StageReport, reporter: Reporter, speed: Speed) -> None:
    for silent in (r for r in group if not np.any(r.samples)):
        reporter.warn(f"{silent.uid}: input is silent; written unchanged")
    model = engine.network
    lips = [model.embed_track(r.lips) for r in group] if model.config.uses_video else None
    started, batches = time.perf_counter(), []
    outputs, evaluations = engine.enhance_16k([r.samples for r in group], options.seed, lips, batches.append)
    if batches:
        speed.seconds += time.perf_counter() - started
        speed.audio_seconds += sum(len(r.samples) for r in group if np.any(r.samples)) / SAMPLE_RATE
        speed.evaluations.append(evaluations // len(batches))
    for recording, samples in zip(group, outputs):
        try:
            engine.check_finite(samples, recording.uid)
        except BadInput as err:
            report.failed.append((recording.uid, str(err)))
            reporter.warn(str(err))
            recording.samples = recording.lips = None
            continue
        store.put(recording.uid, recording.checksum, {"enhanced": samples},
                  {"source_rate": recording.rate, "source_length": recording.length,
                   "source_subtype": recording.subtype})
        recording.samples = recording.lips = None  # saved: keep memory flat however many files there are
        report.computed += 1


def _write_outputs(workdir: Workdir, name: str, recordings: list[Recording], fresh: set[str],
                   failed: set[str], subtype: str | None) -> None:
    """Write output WAVs from the committed artifact, at each input's rate and length.

    Written for items computed in this run, and for cached items whose file went missing; never for items
    this run failed.
    """
    with open_artifact(workdir, STAGE, name) as artifact:
        for recording in recordings:
            if recording.uid not in artifact or recording.uid in failed or (
                    recording.uid not in fresh and recording.target.exists()):
                continue
            group = artifact[recording.uid]
            rate = int(group.attrs["source_rate"])
            write_audio(recording.target, to_source(group["enhanced"][()], rate, int(group.attrs["source_length"])),
                        rate, subtype or str(group.attrs.get("source_subtype", "FLOAT")))
