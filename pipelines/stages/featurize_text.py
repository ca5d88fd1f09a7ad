"""`cmkt featurize --text`: each training utterance's transcript through BERT, cached as `text_{split}.h5`.

The text comes from the `transcribe` artifact when there is one (with Whisper's segment
times), else from the manifest's transcript column. Utterances without a transcript get
no entry and train without the CMKT loss. Transcripts are run in batches of similar
token count, so padding costs little; the results equal one-at-a-time runs. With
`--shard I/N` a job featurises only its shard's utterances, into its own artifact file.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import h5py
import numpy as np

from pipelines.artifacts.merge import current_artifact
from pipelines.artifacts.shards import WHOLE, Shard
from pipelines.artifacts.checksums import combine_checksums
from pipelines.artifacts.store import ArtifactStore, open_artifact
from pipelines.artifacts.workdir import Workdir
from pipelines.data.manifest import Utterance, chosen_splits, read_manifest
from pipelines.errors import BadInput, SkipItem
from pipelines.reporting import Reporter
from pipelines.stages.runner import StageReport, committing, uncached
from pipelines.text.bert import TextModel, load_text_model, token_times
from pipelines.text.features import STAGE

NO_TRANSCRIPT = "no transcript: trains without the CMKT loss"


@dataclass
class TextOptions:
    model: str | None = None  # hub name or local folder; None: the packaged default
    splits: list[str] | None = None  # None: every split in the manifest
    batch_size: int = 32
    force: bool = False
    shard: Shard = WHOLE


@dataclass(frozen=True)
class Transcript:
    """One utterance's text and the speech span its tokens are spread over."""

    uid: str
    text: str
    source: str  # "given" or "whisper"
    span: tuple[float, float]  # seconds within the utterance

    @property
    def checksum(self) -> str:
        return combine_checksums(self.text, self.span)


def featurize_text(workdir: Workdir, options: TextOptions, reporter: Reporter) -> list[StageReport]:
    """Featurise every transcribed utterance of the chosen splits; one report per split."""
    utterances = read_manifest(workdir)
    splits = chosen_splits(utterances, options.splits)
    ours = [u for u in utterances if options.shard.owns(u.id)]
    work = {split: _transcripts(workdir, split, [u for u in ours if u.split == split]) for split in splits}
    transcribed = any(current_artifact(workdir, "transcribe", split) is not None for split in splits)
    if not transcribed and not any(found for found, _ in work.values()):
        raise BadInput(f"no transcripts in {workdir.root}: run `cmkt transcribe` or `cmkt prepare --transcripts TSV`")
    model = load_text_model(options.model)
    reporter.info(f"text model: {model.name} (d_s = {model.hidden_size}, vocabulary {model.vocab_size})")
    reports = [_featurize_split(workdir, split, found, missing, model, options, reporter)
               for split, (found, missing) in work.items()]
    without = sum(len(r.skipped) for r in reports)
    if without:
        reporter.warn(f"{without} utterances without a transcript: they train without the CMKT loss")
    return reports


def _transcripts(workdir: Workdir, split: str, utterances: list[Utterance]
                 ) -> tuple[list[Transcript], list[tuple[str, str]]]:
    """(utterances with text, (id, reason) of those without): the transcribe artifact first, then the manifest."""
    found, missing = [], []
    transcribed = current_artifact(workdir, "transcribe", split) is not None
    with open_artifact(workdir, "transcribe", split) if transcribed else nullcontext({}) as artifact:
        for utterance in utterances:
            try:
                found.append(_transcript(utterance, artifact))
            except SkipItem as reason:
                missing.append((utterance.id, str(reason)))
    return found, missing


def _transcript(utterance: Utterance, artifact: h5py.File | dict) -> Transcript:
    duration = float(utterance.duration_s)
    if utterance.id in artifact:
        group = artifact[utterance.id]
        text, source = str(group.attrs["text"]).strip(), str(group.attrs["source"])
        segments = group["segment_times"][()] if "segment_times" in group else np.zeros((0, 2))
        # Whisper's last timestamp can overshoot the audio by a little
        span = (float(segments[0, 0]), min(float(segments[-1, 1]), duration)) if len(segments) else (0.0, duration)
    else:
        text, source, span = utterance.transcript.strip(), utterance.transcript_source or "given", (0.0, duration)
    if not text:
        raise SkipItem(NO_TRANSCRIPT)
    return Transcript(utterance.id, text, source, span)


def _featurize_split(workdir: Workdir, split: str, found: list[Transcript], missing: list[tuple[str, str]],
                     model: TextModel, options: TextOptions, reporter: Reporter) -> StageReport:
    store = ArtifactStore(workdir, STAGE, split, model.identity(), force=options.force, shard=options.shard)
    report = StageReport(STAGE, split, skipped=list(missing))
    todo = [(item, model.encode(item.text)) for item in uncached(store, found, report)]
    for item, encoding in todo:
        if encoding.truncated:
            reporter.warn(f"{item.uid}: transcript longer than the text model's {model.max_length} tokens; truncated")
    todo.sort(key=lambda pair: len(pair[1].token_ids))
    with committing(store, report), reporter.progress(len(todo), f"text {split}") as bar:
        for first in range(0, len(todo), options.batch_size):
            batch = todo[first:first + options.batch_size]
            for (item, encoding), features in zip(batch, model.features([e.token_ids for _, e in batch])):
                arrays = {"token_ids": encoding.token_ids.astype(np.int32),
                          "tokens": np.array(encoding.tokens, dtype=h5py.string_dtype()),
                          "features": features.astype(np.float32),
                          "token_times": token_times(encoding.offsets, len(item.text), item.span)}
                store.put(item.uid, item.checksum, arrays, {"text": item.text, "source": item.source})
                report.computed += 1
            bar.advance(len(batch))
    return report
