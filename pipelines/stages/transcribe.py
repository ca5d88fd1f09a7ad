"""`cmkt transcribe`: Whisper transcripts of the clean speech, for the linguistic (BERT) branch.

Two inputs: a prepared workdir (the `clean` waveform of every utterance of the chosen
splits) or a folder of audio/video files (artifact split `files`, plus a TSV that
`cmkt prepare --transcripts` reads). Transcripts the data came with are kept, not
recomputed. The model is loaded once, only if something needs Whisper, and a clean
recording shared by several mixtures (ids X-m0, X-m1, ...) is transcribed once (per shard,
with `--shard I/N`: each shard job writes its own artifact file and tables).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from pipelines.artifacts.shards import WHOLE, Shard
from pipelines.artifacts.checksums import combine_checksums, file_checksum
from pipelines.artifacts.store import ArtifactFile, ArtifactStore
from pipelines.artifacts.workdir import Workdir
from pipelines.atomic import write_csv
from pipelines.audio_io import load_audio
from pipelines.data.layout import media_files
from pipelines.data.manifest import Utterance, chosen_splits, read_manifest
from pipelines.data.prepared import PreparedSplit
from pipelines.errors import BadInput
from pipelines.reporting import Reporter
from pipelines.stages.runner import StageReport, committing, uncached
from pipelines.text.whisper_engines import Transcript, WhisperEngine

STAGE = "transcribe"
FILES_SPLIT = "files"
CLIPS_IN_MEMORY = 32  # clean waveforms loaded at a time, however large the split


@dataclass
class Clip:
    """One utterance to transcribe (or whose given transcript to store)."""

    uid: str
    checksum: str
    language: str  # "" = let Whisper detect it
    given: str  # the transcript the data came with, "" if none
    load: Callable[[], np.ndarray]
    path: str = ""  # the source file, in folder mode


@dataclass
class TranscriptRow:
    uid: str
    source: str
    language: str
    avg_logprob: float
    text: str
    path: str = ""


@dataclass
class TranscribeResult:
    reports: list[StageReport] = field(default_factory=list)
    rows: list[TranscriptRow] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)


class Transcriber:
    """The engine plus what this run has already heard: a clean waveform is transcribed once per run."""

    def __init__(self, engine: WhisperEngine, language: str, reporter: Reporter, ignore_given: bool = False):
        """`ignore_given`: Whisper transcribes every clip, also those the data came with a transcript for (machine
        transcripts throughout, to train as if no text existed); part of the config, so the cache tells them apart."""
        self.engine, self.language, self.reporter, self.ignore_given = engine, language, reporter, ignore_given
        self.config = {**engine.identity(), "language": language, **({"given": "ignored"} if ignore_given else {})}
        self.heard: dict[str, Transcript] = {}  # (sha256 of the samples, language) -> transcript
        self.utterances = 0

    def run(self, store: ArtifactStore, clips: list[Clip], report: StageReport) -> None:
        todo = uncached(store, clips, report)
        if self.ignore_given:
            todo = [dataclasses.replace(clip, given="") for clip in todo]
        if any(not c.given for c in todo):
            self.engine.ensure_loaded()
        with committing(store, report), self.reporter.progress(len(todo), f"transcribe {store.split}") as bar:
            for clip in (c for c in todo if c.given):
                _put(store, clip, Transcript(clip.given, clip.language, (), float("nan")), "given", "")
                report.computed += 1
                bar.advance()
            needing = [c for c in todo if not c.given]
            for first in range(0, len(needing), CLIPS_IN_MEMORY):
                self._transcribe(store, needing[first:first + CLIPS_IN_MEMORY], report, bar)

    def _transcribe(self, store: ArtifactStore, clips: list[Clip], report: StageReport, bar) -> None:
        keyed: dict[str, list[Clip]] = {}
        unheard: dict[str, tuple[np.ndarray, str]] = {}
        for clip in clips:
            language = self._language(clip, report)
            if language is None:
                bar.advance()
                continue
            try:
                samples = clip.load()
            except BadInput as err:
                report.failed.append((clip.uid, str(err)))
                self.reporter.warn(str(err))
                bar.advance()
                continue
            key = f"{hashlib.sha256(samples.tobytes()).hexdigest()}:{language}"
            keyed.setdefault(key, []).append(clip)
            if key not in self.heard:
                unheard[key] = (samples, language)
        for language in sorted({language for _, language in unheard.values()}):
            keys = [k for k, (_, lang) in unheard.items() if lang == language]
            for key, transcript in zip(keys, self.engine.transcribe([unheard[k][0] for k in keys], language)):
                self.heard[key] = transcript
                self._store(store, keyed.pop(key), transcript, report, bar)
        for key, same in keyed.items():  # heard earlier in this run
            self._store(store, same, self.heard[key], report, bar)

    def _language(self, clip: Clip, report: StageReport) -> str | None:
        """The language to decode in ("" = detect), or None (skipped) when the model cannot do it."""
        language = clip.language
        if self.engine.english_only:
            if language not in ("", "en"):
                message = f"{clip.uid}: language '{language}' but {self.engine.label} is English-only; give a " \
                          f"multilingual --model"
                report.skipped.append((clip.uid, message))
                self.reporter.warn(message)
                return None
            return "en"
        return language

    def _store(self, store: ArtifactStore, clips: list[Clip], transcript: Transcript, report: StageReport,
               bar) -> None:
        if not transcript.text:
            self.reporter.warn(f"{', '.join(c.uid for c in clips)}: Whisper heard no speech; stored an empty transcript")
        for clip in clips:
            _put(store, clip, transcript, "whisper", self.engine.label)
            report.computed += 1
            self.utterances += 1
            bar.advance()


def _put(store: ArtifactStore, clip: Clip, transcript: Transcript, source: str, model: str) -> None:
    times = np.array([(start, end) for start, end, _ in transcript.segments], dtype=np.float32).reshape(-1, 2)
    texts = np.array([text for _, _, text in transcript.segments], dtype=object)
    store.put(clip.uid, clip.checksum, {"segment_times": times, "segment_texts": texts},
              {"text": transcript.text, "language": transcript.language, "source": source, "model": model,
               "avg_logprob": transcript.avg_logprob})


def transcribe_workdir(workdir: Workdir, splits: list[str] | None, transcriber: Transcriber, force: bool,
                       reporter: Reporter, shard: Shard = WHOLE) -> TranscribeResult:
    """Transcribe the clean speech of a prepared workdir's splits (default: every split it has), or one shard of it."""
    utterances = read_manifest(workdir)
    result = TranscribeResult()
    for split in chosen_splits(utterances, splits):
        store = ArtifactStore(workdir, STAGE, split, transcriber.config, force=force, shard=shard)
        report = StageReport(STAGE, split)
        with PreparedSplit(workdir, split) as prepared:
            clips = [_prepared_clip(prepared, u, transcriber.language) for u in utterances
                     if u.split == split and shard.owns(u.id)]
            transcriber.run(store, clips, report)
        rows = _rows(store.path, {})
        result.reports.append(report)
        result.rows += rows
        result.tables.append(_write_split_table(workdir, split, shard, rows))
    _say_heard(transcriber, reporter)
    return result


def _prepared_clip(prepared: PreparedSplit, utterance: Utterance, fallback_language: str) -> Clip:
    """The manifest's language wins over --language (which fills in for utterances without one)."""
    entry = prepared[utterance.id]
    language = utterance.language or fallback_language
    given = utterance.transcript.strip() if utterance.transcript_source == "given" else ""
    checksum = combine_checksums(entry.checksum, language, given or None)
    return Clip(utterance.id, checksum, language, given, lambda: entry.clean)


def transcribe_files(workdir: Workdir, inputs: Path, transcriber: Transcriber, force: bool,
                     reporter: Reporter, shard: Shard = WHOLE) -> TranscribeResult:
    """Transcribe one audio/video file or every one under a folder (split 'files'), or one shard of them, and write
    transcripts.tsv."""
    clips = []
    for uid, path, _ in media_files(inputs, "transcribe (and no manifest.json: not a workdir)"):
        if shard.owns(uid):
            checksum = combine_checksums(file_checksum(path), transcriber.language)
            clips.append(Clip(uid, checksum, transcriber.language, "", lambda p=path: load_audio(p).samples,
                              str(path.resolve())))
    store = ArtifactStore(workdir, STAGE, FILES_SPLIT, transcriber.config, force=force, shard=shard)
    report = StageReport(STAGE, FILES_SPLIT)
    transcriber.run(store, clips, report)
    _say_heard(transcriber, reporter)
    rows = _rows(store.path, {c.uid: c.path for c in clips})
    return TranscribeResult([report], rows, [_write_split_table(workdir, FILES_SPLIT, shard, rows),
                                             _write_path_table(workdir, shard, rows)])


def _say_heard(transcriber: Transcriber, reporter: Reporter) -> None:
    if transcriber.utterances:
        reporter.info(f"Whisper ({transcriber.engine.label}) transcribed {len(transcriber.heard)} distinct clean "
                      f"recordings for {transcriber.utterances} utterances")


def _rows(artifact_path: Path, paths: dict[str, str]) -> list[TranscriptRow]:
    """Every transcript of the committed artifact (this run's, cached ones included), with source paths if known."""
    with ArtifactFile(artifact_path, STAGE) as artifact:
        return [TranscriptRow(uid, str(g.attrs["source"]), str(g.attrs["language"]), float(g.attrs["avg_logprob"]),
                              str(g.attrs["text"]), paths.get(uid, "")) for uid, g in artifact.items()]


def _write_split_table(workdir: Workdir, split: str, shard: Shard, rows: list[TranscriptRow]) -> Path:
    """reports/transcribe/transcripts_SPLIT[.shard-I-of-N].tsv: id, source, language, avg_logprob, text (for
    people)."""
    return _write_tsv(workdir.reports(STAGE) / f"transcripts_{split}{shard.suffix}.tsv",
                      ["id", "source", "language", "avg_logprob", "text"],
                      [[r.uid, r.source, r.language, f"{r.avg_logprob:.4f}", r.text] for r in rows])


def _write_path_table(workdir: Workdir, shard: Shard, rows: list[TranscriptRow]) -> Path:
    """reports/transcribe/transcripts[.shard-I-of-N].tsv: path, language, transcript, as `cmkt prepare
    --transcripts` reads."""
    return _write_tsv(workdir.reports(STAGE) / f"transcripts{shard.suffix}.tsv", ["path", "language", "transcript"],
                      [[r.path, r.language, r.text] for r in rows])


def _write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    return write_csv(path, header, [dict(zip(header, (" ".join(str(cell).split()) for cell in row))) for row in rows],
                     delimiter="\t")
