"""`cmkt`: the command-line entry point. Parses options, runs a pipeline stage, prints what happened."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from cmkt_cli.session import not_implemented, stage_session
from cmkt_cli.tables import print_scores, print_stage_reports
from pipelines.data.mixing import parse_snrs
from pipelines.data.splits import parse_fractions
from pipelines.errors import BadInput
from pipelines.stages.prepare import PrepareOptions, prepare
from pipelines.stages.score import score_folders, score_workdir

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Audio-visual-linguistic speech enhancement (DLAV-SE): prepare → transcribe → featurize → train → "
         "enhance → score. Each stage caches HDF5 artifacts in --workdir; rerunning skips what is done.",
)

WORKDIR = typer.Option(Path("cmkt_work"), "--workdir", "-w", help="Where artifacts, reports and logs go.")
FORCE = typer.Option(False, "--force", help="Recompute everything instead of reusing cached results.")
QUIET = typer.Option(False, "--quiet", "-q", help="Only warnings, errors and results.")
JOBS = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes for per-file work.")
SOURCES = typer.Argument(..., help="DATA in the train/valid/test layout, or folders of clean speech (with --noise).")
NOISE = typer.Option(None, "--noise", help="Folder of noise recordings to mix with flat clean speech.")
SNR = typer.Option("-5,0,5", "--snr", help="SNRs in dB to draw from when mixing, comma-separated.")
SEED = typer.Option(0, "--seed", help="Seed for splits and mixing (same seed, same data).")
SPLIT = typer.Option("0.8,0.1,0.1", "--split", help="Train,valid,test fractions for flat folders.")
SPLIT_BY = typer.Option("speaker", "--split-by", help="'speaker' (no speaker in two splits) or 'file'.")
SPEAKER_REGEX = typer.Option(None, "--speaker-regex",
                             help="Regex on the relative path whose first group is the speaker (default: the "
                                  "sub-folder, else the file name).")
TRANSCRIPTS = typer.Option(None, "--transcripts", help="TSV with columns path, language, transcript.")
LANGUAGE = typer.Option("", "--language", help="Language code for utterances without one (e.g. en, zh).")


def _prepare_options(sources, noise, snr, seed, split, split_by, speaker_regex, transcripts, language) -> PrepareOptions:
    return PrepareOptions(sources=list(sources), noise_dir=noise, snrs=parse_snrs(snr), seed=seed,
                          fractions=parse_fractions(split), split_by=split_by, speaker_regex=speaker_regex,
                          transcripts=transcripts, language=language)


@app.command("prepare")
def prepare_command(sources: List[Path] = SOURCES, noise: Optional[Path] = NOISE, snr: str = SNR, seed: int = SEED,
                    split: str = SPLIT, split_by: str = SPLIT_BY, speaker_regex: Optional[str] = SPEAKER_REGEX,
                    transcripts: Optional[Path] = TRANSCRIPTS, language: str = LANGUAGE, workdir: Path = WORKDIR,
                    force: bool = FORCE, quiet: bool = QUIET, jobs: int = JOBS) -> None:
    """Find utterances, mix or pair noisy speech, cache 16 kHz mono waveforms and write the manifest."""
    with stage_session(workdir, "prepare", quiet) as (place, reporter):
        options = _prepare_options(sources, noise, snr, seed, split, split_by, speaker_regex, transcripts, language)
        reports = prepare(place, options, reporter, force=force, jobs=jobs)
        print_stage_reports(reporter.console, reports)
        reporter.info(f"manifest: {place.manifest_csv}")
        if any(r.failed for r in reports):
            raise typer.Exit(2)


@app.command("score")
def score_command(clean: Optional[Path] = typer.Option(None, "--clean", help="Folder of clean references."),
                  enhanced: Optional[Path] = typer.Option(None, "--enhanced", help="Folder of enhanced files."),
                  noisy: Optional[Path] = typer.Option(None, "--noisy", help="Folder of noisy inputs: adds the "
                                                       "improvement over noisy."),
                  split: str = typer.Option("test", "--split", help="With a prepared workdir: the split to score."),
                  trim: bool = typer.Option(False, "--trim", help="Score the common part of files whose lengths "
                                            "differ instead of rejecting them."),
                  out: Optional[Path] = typer.Option(None, "--out", help="Folder for the CSV/JSON (default: "
                                                     "WORKDIR/reports/score)."),
                  workdir: Path = WORKDIR, force: bool = FORCE, quiet: bool = QUIET, jobs: int = JOBS) -> None:
    """PESQ (wide- and narrow-band), STOI, ESTOI and SI-SDR per file and mean ± std, as a table, CSV and JSON."""
    with stage_session(workdir, "score", quiet) as (place, reporter):
        if clean is not None:
            if enhanced is None:
                raise BadInput("--clean needs --enhanced (the folder of files to score)")
            result = score_folders(place, clean, enhanced, noisy, reporter, force, jobs, trim, out)
        else:
            result = score_workdir(place, split, enhanced, reporter, force, jobs, trim, out)
        _report_scores(reporter, result)


def _report_scores(reporter, result) -> None:
    print_stage_reports(reporter.console, [result.report])
    if result.rows:
        print_scores(reporter.console, result)
    if result.report.failed or not result.rows:
        raise typer.Exit(2)


@app.command("run")
def run_command(sources: List[Path] = SOURCES, noise: Optional[Path] = NOISE, snr: str = SNR, seed: int = SEED,
                split: str = SPLIT, split_by: str = SPLIT_BY, speaker_regex: Optional[str] = SPEAKER_REGEX,
                transcripts: Optional[Path] = TRANSCRIPTS, language: str = LANGUAGE, workdir: Path = WORKDIR,
                force: bool = FORCE, quiet: bool = QUIET, jobs: int = JOBS) -> None:
    """Run the stages in order on a dataset: prepare, (transcribe, featurize, train, enhance as they land), score."""
    with stage_session(workdir, "run", quiet) as (place, reporter):
        options = _prepare_options(sources, noise, snr, seed, split, split_by, speaker_regex, transcripts, language)
        reports = prepare(place, options, reporter, force=force, jobs=jobs)
        print_stage_reports(reporter.console, reports)
        reporter.info("transcribe, featurize, train and enhance are not implemented yet: scoring the noisy baseline")
        result = score_workdir(place, "test", None, reporter, force, jobs)
        _report_scores(reporter, result)


@app.command("transcribe")
def transcribe_command() -> None:
    """Transcribe clean speech with Whisper (not implemented yet)."""
    not_implemented("transcribe")


@app.command("featurize")
def featurize_command() -> None:
    """BERT token features (--text) or lip embeddings (--lips) (not implemented yet)."""
    not_implemented("featurize")


@app.command("train")
def train_command() -> None:
    """Train the predictive denoiser and score model (not implemented yet)."""
    not_implemented("train")


@app.command("enhance")
def enhance_command() -> None:
    """Enhance noisy speech with a trained checkpoint (not implemented yet)."""
    not_implemented("enhance")


if __name__ == "__main__":
    app()
