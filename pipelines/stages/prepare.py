"""`cmkt prepare`: find utterances, make or pair noisy speech, cache 16 kHz waveforms, write the manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipelines.artifacts.checksums import combine_checksums, file_checksum
from pipelines.artifacts.store import ArtifactStore
from pipelines.artifacts.workdir import Workdir
from pipelines.audio_io import SAMPLE_RATE, LoadedAudio, load_audio
from pipelines.data.layout import apply_transcript_table, discover_flat, discover_sgmse, is_sgmse_layout
from pipelines.data.manifest import SPLITS, Utterance, write_manifest
from pipelines.data.mixing import MixPlan, find_noise_files, mix_at_snr, plan_mixture
from pipelines.data.splits import assign_listed_splits, assign_splits
from pipelines.data.prepared import STAGE, PreparedSplit
from pipelines.errors import BadInput
from pipelines.reporting import Reporter
from pipelines.stages.runner import ItemOutput, StageReport, WorkItem, run_items



@dataclass
class PrepareOptions:
    sources: list[Path]
    noise_dir: Path | None = None
    snrs: list[float] = field(default_factory=lambda: [-5.0, 0.0, 5.0])
    seed: int = 0
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_by: str = "speaker"
    speaker_splits: Path | None = None  # TSV speaker -> split; replaces the random speaker split
    speaker_regex: str | None = None
    transcripts: Path | None = None
    language: str = ""
    split_noise: bool = True
    mixes_per_file: int = 1


def prepare(workdir: Workdir, options: PrepareOptions, reporter: Reporter, force: bool = False, jobs: int = 1) -> list[StageReport]:
    utterances, plans = _discover(options, reporter)
    reports, prepared = [], []
    for split in SPLITS:
        members = [u for u in utterances if u.split == split]
        if not members:
            continue
        store = ArtifactStore(workdir, STAGE, split, {"sample_rate": SAMPLE_RATE}, force=force)
        items = [WorkItem(u.id, _checksum(u, plans.get(u.id)), (u, plans.get(u.id))) for u in members]
        reports.append(run_items(store, items, _prepare_one, reporter, jobs=jobs))
        failed = {uid for uid, _ in reports[-1].failed}
        prepared += _with_audio_facts(workdir, split, [u for u in members if u.id not in failed])
    if not prepared:
        raise BadInput("no utterance could be prepared: " + "; ".join(m for r in reports for _, m in r.failed[:3]))
    write_manifest(workdir, prepared)
    return reports


def _discover(options: PrepareOptions, reporter: Reporter) -> tuple[list[Utterance], dict[str, MixPlan]]:
    for source in options.sources:
        if not source.is_dir():
            raise BadInput(f"{source}: no such folder")
    if len(options.sources) == 1 and is_sgmse_layout(options.sources[0]):
        utterances = discover_sgmse(options.sources[0], options.speaker_regex)
        plans: dict[str, MixPlan] = {}
        reporter.info(f"found {len(utterances)} utterances in the train/valid/test layout of {options.sources[0]}")
    else:
        if options.noise_dir is None:
            raise BadInput("a flat folder of clean speech needs --noise DIR to mix noisy speech "
                           "(or use the DATA/{train,valid,test}/{clean,noisy} layout)")
        utterances = discover_flat(options.sources, options.speaker_regex)
        if options.speaker_splits:
            assign_listed_splits(utterances, options.speaker_splits)
        else:
            assign_splits(utterances, options.fractions, options.split_by, options.seed)
        utterances = _mixtures_of(utterances, options.mixes_per_file)
        noises = find_noise_files(options.noise_dir)
        plans = {u.id: plan_mixture(u.id, u.split, noises, options.snrs, options.seed, options.fractions,
                                    options.split_noise) for u in utterances}
        for utterance in utterances:
            utterance.noise_path = plans[utterance.id].noise_path
        counts = ", ".join(f"{sum(u.split == s for u in utterances)} {s}" for s in SPLITS)
        reporter.info(f"found {len(utterances)} clean utterances ({counts}); mixing with {len(noises)} noise files "
                      f"at {', '.join(f'{s:g}' for s in options.snrs)} dB")
    if options.transcripts:
        matched = apply_transcript_table(utterances, options.transcripts)
        reporter.info(f"transcript table {options.transcripts}: {matched} of {len(utterances)} utterances matched")
    for utterance in utterances:
        utterance.language = utterance.language or options.language
    return utterances, plans


def _mixtures_of(utterances: list[Utterance], count: int) -> list[Utterance]:
    """K mixtures of each clean file (ids ID-m0 ... ID-mK-1), all in the clean file's split."""
    if count < 1:
        raise BadInput(f"--mixes-per-file must be at least 1, got {count}")
    if count == 1:
        return utterances
    return [replace(u, id=f"{u.id}-m{k}") for u in utterances for k in range(count)]


def _checksum(utterance: Utterance, plan: MixPlan | None) -> str:
    files = [p for p in (utterance.clean_path or utterance.video_path, utterance.noisy_path) if p]
    contents = [file_checksum(Path(p)) if Path(p).is_file() else f"missing:{p}" for p in files]
    if plan is not None:
        contents.append(file_checksum(Path(plan.noise_path)))
    return combine_checksums(contents, asdict(plan) if plan else None)


def _prepare_one(task: tuple[Utterance, MixPlan | None]) -> ItemOutput:
    """Load (and mix) one utterance; runs in a worker process when --jobs > 1."""
    utterance, plan = task
    clean_file = utterance.clean_path or utterance.video_path
    if not clean_file:
        raise BadInput(f"no clean audio or video for '{utterance.id}'")
    clean = load_audio(Path(clean_file))
    notices = [_conversion_notice(clean_file, clean)] if clean.converted else []
    attrs = {"source_rate": clean.source_rate, "source_channels": clean.source_channels}
    if plan is not None:
        noise = _load_noise(plan.noise_path)
        noisy_samples, offset = mix_at_snr(clean.samples, noise, plan)
        attrs.update(noise_offset=offset, snr_db=plan.snr_db)
        clean_samples = clean.samples
    else:
        if not utterance.noisy_path:
            raise BadInput(f"no noisy file for '{utterance.id}' (expected noisy/{utterance.id}.wav)")
        noisy = load_audio(Path(utterance.noisy_path))
        if noisy.converted:
            notices.append(_conversion_notice(utterance.noisy_path, noisy))
        clean_samples, noisy_samples = _matched_lengths(utterance, clean.samples, noisy.samples)
    if not np.any(clean_samples):
        raise BadInput(f"{clean_file}: clean speech is all zeros")
    attrs["duration_s"] = len(clean_samples) / SAMPLE_RATE
    return ItemOutput({"clean": clean_samples, "noisy": noisy_samples}, attrs, notices)


def _matched_lengths(utterance: Utterance, clean: np.ndarray, noisy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clean and noisy must be the same recording: allow one sample of resampling rounding, nothing more."""
    if abs(len(clean) - len(noisy)) > 1:
        raise BadInput(f"'{utterance.id}': clean and noisy lengths differ ({len(clean)} vs {len(noisy)} samples "
                       f"at {SAMPLE_RATE} Hz)")
    n = min(len(clean), len(noisy))
    return clean[:n], noisy[:n]


MIN_NOISE_SECONDS = 0.1  # a shorter noise file, looped, is a buzz (one sample: a constant), not noise


@lru_cache(maxsize=16)
def _load_noise(path: str) -> np.ndarray:
    samples = load_audio(Path(path)).samples
    if len(samples) < MIN_NOISE_SECONDS * SAMPLE_RATE:
        raise BadInput(f"{path}: the noise is only {len(samples)} samples ({len(samples) / SAMPLE_RATE:.3f} s) long; "
                       f"a noise file needs at least {MIN_NOISE_SECONDS} s")
    return samples


def _conversion_notice(path: str, audio: LoadedAudio) -> tuple[str, str]:
    return ("convert", f"converting input audio to {SAMPLE_RATE} Hz mono (e.g. {Path(path).name}: "
                       f"{audio.source_rate} Hz, {audio.source_channels} channel(s))")


def _with_audio_facts(workdir: Workdir, split: str, utterances: list[Utterance]) -> list[Utterance]:
    """Fill the manifest's measured columns from the committed artifact (works for cached items too)."""
    with PreparedSplit(workdir, split) as prepared:
        for utterance in utterances:
            entry = prepared[utterance.id]
            facts = entry.facts
            utterance.duration_s = round(float(facts["duration_s"]), 4)
            utterance.sample_rate = int(facts["source_rate"])
            utterance.checksum = entry.checksum[:16]
            if "noise_offset" in facts:
                utterance.noise_offset = int(facts["noise_offset"])
                utterance.snr_db = float(facts["snr_db"])
    return utterances
