"""`cmkt`: the command-line entry point. Parses options, runs a pipeline stage, prints what happened.

Start-up stays light (`cmkt --help` in well under a second): a command imports its stage, and torch with it,
only when it runs (bench/startup.py measures it)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from cmkt_cli.featurize import featurize_command
from cmkt_cli.merge import merge_command
from cmkt_cli.options import (ADAPTER_BETA, ALIGN_WEIGHT, ATTENUATION_LIMIT, AUGMENT, BATCH, DENOISER_LOSS, KD,
                              KD_WEIGHT, SUBBAND_TEACHER, TEACHER, CARD_SAMPLER, CARD_STEP_RULE, CHUNK,
                              CKPT, COMPILE, MODEL, CORRECTOR, CROP, DENOISER_OUTPUT, DEVICE, ENHANCE_STEPS, FORCE, FUSION,
                              GRAD_ACCUM, HOP, INIT_FROM, JOBS, LANGUAGE, LIP_ENCODER, LIP_START, LR, LR_DECAY,
                              MAGNITUDE_WEIGHT, MAX_EPOCHS, MAX_STEPS, MAX_TIME, MISALIGN, MIXES, MODALITY, NOISE,
                              OMEGA, PARAMETRISATION, PRECISION, PRESET, QUIET, REPLACE, RESUME, RUN_NAME, SAMPLER,
                              SEED, SELECT_BY, SNR, SSL, SSL_LAYERS, SSL_MODEL, SNR_PC, SOURCES, SPEAKER_REGEX, SPEAKER_SPLITS, SPLIT, SPLIT_BY,
                              STEPS, STEP_RULE, TRANSCRIPTS, TRANSFER_WARMUP, T_START, VALIDATE_EVERY, VAL_SAMPLER, VAL_STEPS,
                              VAL_UTTERANCES, WORKDIR, ENHANCE_WORKDIR, DEFAULT_WORKDIR)
from cmkt_cli.session import command_session, stage_session
from cmkt_cli.tables import print_scores, print_stage_reports, print_training
from cmkt_cli.transcribe import transcribe_command
from pipelines.errors import BadInput

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Audio-visual-linguistic speech enhancement (DLAV-SE): prepare → transcribe → featurize → train → "
         "enhance → score. Each stage caches HDF5 artifacts in --workdir; rerunning skips what is done.",
)

@app.command("prepare")
def prepare_command(sources: List[Path] = SOURCES, noise: Optional[Path] = NOISE, snr: str = SNR, seed: int = SEED,
                    split: str = SPLIT, split_by: str = SPLIT_BY, speaker_regex: Optional[str] = SPEAKER_REGEX,
                    speaker_splits: Optional[Path] = SPEAKER_SPLITS, transcripts: Optional[Path] = TRANSCRIPTS,
                    language: str = LANGUAGE, mixes_per_file: int = MIXES, workdir: Path = WORKDIR,
                    force: bool = FORCE, quiet: bool = QUIET, jobs: int = JOBS) -> None:
    """Find utterances, mix or pair noisy speech, cache 16 kHz mono waveforms and write the manifest."""
    from cmkt_cli.configs import prepare_options
    from pipelines.stages.prepare import prepare

    with stage_session(workdir, "prepare", quiet) as (place, reporter):
        options = prepare_options(sources, noise, snr, seed, split, split_by, speaker_regex, transcripts, language,
                                   mixes_per_file, speaker_splits)
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
                  with_dnsmos: bool = typer.Option(False, "--dnsmos", help="Add DNSMOS P.835 (SIG, BAK, OVRL): "
                                                   "predicted listener ratings that need no clean reference."),
                  workdir: Path = WORKDIR, force: bool = FORCE, quiet: bool = QUIET, jobs: int = JOBS) -> None:
    """PESQ (wide- and narrow-band), STOI, ESTOI, SI-SDR and DNSMOS per file and mean ± std, as a table, CSV and JSON.

    `--enhanced DIR` alone (no --clean, no prepared workdir) scores real recordings with DNSMOS only."""
    from pipelines.stages.score import score_folders, score_workdir

    with stage_session(workdir, "score", quiet) as (place, reporter):
        if clean is not None and enhanced is None:
            raise BadInput("--clean needs --enhanced (the folder of files to score)")
        if clean is not None or (enhanced is not None and not place.manifest_csv.exists()):
            result = score_folders(place, clean, enhanced, noisy, reporter, force, jobs, trim, out, with_dnsmos)
        else:
            result = score_workdir(place, split, enhanced, reporter, force, jobs, trim, out, with_dnsmos)
        _report_scores(reporter, result)


def _report_scores(reporter, result) -> None:
    if _print_scores(reporter, result):
        raise typer.Exit(2)


def _print_scores(reporter, result) -> bool:
    """Print a score run; True if it failed (some files, or all of them)."""
    print_stage_reports(reporter.console, [result.report])
    if result.rows:
        print_scores(reporter.console, result)
    return bool(result.report.failed or not result.rows)


@app.command("train")
def train_command(modality: str = MODALITY, preset: str = PRESET, batch_size: int = BATCH, lr: float = LR,
                  max_steps: Optional[int] = MAX_STEPS, max_epochs: Optional[int] = MAX_EPOCHS,
                  max_time: Optional[str] = MAX_TIME, seed: int = SEED, device: str = DEVICE,
                  crop_frames: int = CROP, hop_length: Optional[int] = HOP, validate_every: int = VALIDATE_EVERY,
                  val_steps: int = VAL_STEPS, resume: bool = RESUME, run_name: Optional[str] = RUN_NAME,
                  score_parametrisation: str = PARAMETRISATION, fusion: str = FUSION,
                  misalign_shift: float = MISALIGN, align_weight: Optional[float] = ALIGN_WEIGHT,
                  transfer_warmup: int = TRANSFER_WARMUP, adapter_beta: float = ADAPTER_BETA,
                  lip_encoder: str = LIP_ENCODER,
                  lip_weights: Optional[Path] = LIP_START, grad_accum: int = GRAD_ACCUM,
                  val_sampler: str = VAL_SAMPLER, val_utterances: int = VAL_UTTERANCES,
                  denoiser_output: str = DENOISER_OUTPUT, lr_decay_steps: int = LR_DECAY,
                  init_from: Optional[Path] = INIT_FROM, omega: float = OMEGA,
                  magnitude_weight: float = MAGNITUDE_WEIGHT, select_by: str = SELECT_BY,
                  denoiser_loss: Optional[str] = DENOISER_LOSS, augment: Optional[str] = AUGMENT,
                  teacher: Optional[str] = TEACHER, kd: str = KD, kd_weight: float = KD_WEIGHT,
                  subband_teacher: Optional[str] = SUBBAND_TEACHER, ssl: str = SSL,
                  ssl_model: Optional[str] = SSL_MODEL, ssl_layers: Optional[str] = SSL_LAYERS,
                  workdir: Path = WORKDIR, force: bool = FORCE, quiet: bool = QUIET) -> None:
    """Train a model on a prepared workdir: NCSN++'s predictive denoiser and score model (joint loss, Adam, EMA), or a
    conv-recurrent predictive model (--preset gtcrn, crn-m, crn-l).

    Runs as it is under torchrun (one process per GPU, or several on CPUs): docs/distributed.md."""
    from cmkt_cli.configs import train_options
    from pipelines.stages.train import train
    from pipelines.training import distributed

    follower = distributed.launched_rank() > 0  # rank 0 locks, logs and prints for the whole run
    with stage_session(workdir, "train", quiet, follower, shared=True) as (place, reporter):
        options = train_options(
            modality=modality, preset=preset, batch_size=batch_size, lr=lr, max_steps=max_steps,
            max_epochs=max_epochs, max_time=max_time, seed=seed, device=device, crop_frames=crop_frames,
            hop_length=hop_length, validate_every=validate_every, val_steps=val_steps, resume=resume,
            run_name=run_name, force=force, parametrisation=score_parametrisation, fusion=fusion,
            misalign_shift=misalign_shift, align_weight=align_weight, transfer_warmup=transfer_warmup,
            adapter_beta=adapter_beta, lip_encoder=lip_encoder, lip_weights=lip_weights, grad_accum=grad_accum, val_sampler=val_sampler,
            val_utterances=val_utterances, denoiser_output=denoiser_output, lr_decay_steps=lr_decay_steps,
            init_from=init_from, omega=omega, magnitude_weight=magnitude_weight, select_by=select_by,
            denoiser_loss=denoiser_loss, augment=augment, teacher=teacher, kd=kd, kd_weight=kd_weight,
            subband_teacher=subband_teacher, ssl=ssl, ssl_model=ssl_model, ssl_layers=ssl_layers)
        result = train(place, options, reporter)
        if not follower:
            print_training(reporter.console, result)


STREAM = Path("-")  # `cmkt enhance - -o -`: standard input to standard output


@app.command("enhance")
def enhance_command(inputs: Optional[Path] = typer.Argument(None, help="A noisy file or a folder of them; "
                                                             "without it, the prepared --split of the workdir; - "
                                                             "streams standard input (16 kHz WAV or raw 16-bit PCM) "
                                                             "to standard output, 32 ms behind (causal models; "
                                                             "without --model, the causal cmkt-gtcrn-debian)."),
                    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder for enhanced WAVs "
                                                       "(one file without it: NAME_enhanced.wav beside the input)."),
                    model: Optional[str] = MODEL, ckpt: Optional[Path] = CKPT, sampler: Optional[str] = SAMPLER,
                    steps: Optional[int] = ENHANCE_STEPS, corrector: str = CORRECTOR, snr: float = SNR_PC, t_start: float = T_START,
                    step_rule: Optional[str] = STEP_RULE, attenuation_limit: Optional[float] = ATTENUATION_LIMIT,
                    seed: int = SEED,
                    # pipelines.inference.BATCH_SIZE, not imported here: the CLI answers before torch loads
                    batch_size: int = typer.Option(2, "--batch-size", min=1, help="Chunks enhanced together "
                                                   "(speed and memory only: outputs do not depend on it)."),
                    chunk_seconds: float = CHUNK, device: str = DEVICE,
                    video: Optional[Path] = typer.Option(None, "--video", help="For av/avl checkpoints: the speaker's "
                                                         "video (a file, or a folder matched to the inputs by stem)."),
                    lip_weights: Optional[Path] = typer.Option(None, "--lip-weights", help="With --video: the LRW "
                                                               "weights the checkpoint's lip features were made with."),
                    face_model: Optional[Path] = typer.Option(None, "--face-model", help="With --video: a MediaPipe "
                                                              "face_landmarker.task (default: the packaged one)."),
                    split: str = typer.Option("test", "--split", help="Without INPUTS: the prepared split."),
                    precision: str = PRECISION, compiled: bool = COMPILE,
                    plot: bool = typer.Option(False, "--plot", help="Also draw NAME.png beside each output: noisy, "
                                              "enhanced and (a prepared split) clean spectrograms, with scores."),
                    subtype: Optional[str] = typer.Option(None, "--subtype", help="The outputs' sample format "
                                                          "(PCM_16, PCM_24, FLOAT, ...; default: each input's)."),
                    workdir: Optional[Path] = ENHANCE_WORKDIR, force: bool = FORCE, quiet: bool = QUIET) -> None:
    """Enhance noisy speech: `cmkt enhance noisy.wav` uses the bundled model (no Whisper or BERT involved)."""
    from pipelines.devices import device_name
    from pipelines.inference import SamplingOptions
    from pipelines.pretrained import bundled_model

    def chosen_model(streaming: bool = False) -> Path:
        if model is not None and ckpt is not None:
            raise BadInput("--model names a bundled model and --ckpt a file: give one of them")
        return ckpt or bundled_model(model, streaming)

    def chosen_sampling() -> Optional[SamplingOptions]:
        chosen = sampler or ("pc" if steps is not None else None)  # neither: the model card's sampler
        return None if chosen is None else SamplingOptions(chosen, steps or 30, corrector, snr, t_start, step_rule)

    if inputs == STREAM:  # standard input to standard output, frame by frame
        with command_session(quiet=True):
            if out not in (None, STREAM):
                raise BadInput("enhancing standard input (-) writes to standard output: give -o - or no -o")
            _enhance_stream(chosen_model(streaming=True), attenuation_limit, device_name(device))
        return
    if out == STREAM:
        with command_session(quiet):
            raise BadInput("-o - (standard output) takes standard input: cmkt enhance - -o -")
    if workdir is None and inputs is not None:  # plain files: only the outputs are written
        with command_session(quiet) as reporter:
            if video is not None:
                raise BadInput("--video needs a workdir (-w DIR), where the lip features are cached")
            _enhance_plain_files(inputs, out, chosen_model(), chosen_sampling(), attenuation_limit, seed, batch_size,
                                 chunk_seconds, device_name(device), precision, compiled, plot, subtype, force,
                                 reporter)
        return
    from pipelines.stages.enhance import EnhanceOptions, enhance_paths, enhance_split

    with stage_session(workdir or DEFAULT_WORKDIR, "enhance", quiet) as (place, reporter):
        options = EnhanceOptions(chosen_model(), chosen_sampling(), batch_size, chunk_seconds, seed,
                                 device_name(device), force, video, lip_weights, face_model, precision, compiled,
                                 plot, attenuation_limit, subtype)
        if inputs is None:
            report, written = enhance_split(place, split, options, reporter)
        else:
            report, outputs = enhance_paths(place, inputs, out, options, reporter)
            written = out if out is not None else outputs[0]
        print_stage_reports(reporter.console, [report])
        reporter.info(f"enhanced: {written}")
        if report.failed:
            raise typer.Exit(2)


def _enhance_stream(checkpoint: Path, attenuation_limit: Optional[float], device: str) -> None:
    import sys

    from pipelines.enhancing import Engine
    from pipelines.streaming import stream

    engine = Engine.load(checkpoint, None, attenuation_limit, device)
    stream(engine.network, engine.sampling, sys.stdin.buffer, sys.stdout.buffer)


def _enhance_plain_files(inputs, out, checkpoint, sampling, attenuation_limit, seed, batch_size, chunk_seconds,
                         device, precision, compiled, plot, subtype, force, reporter) -> None:
    from pipelines.enhancing import Engine, enhance_files
    from pipelines.speedups import compile_networks

    engine = Engine.load(checkpoint, sampling, attenuation_limit, device, batch_size=batch_size,
                         chunk_seconds=chunk_seconds, precision=precision)
    if compiled:
        compile_networks(engine.network, reporter.warn)
    report, outputs = enhance_files(engine, inputs, out, reporter, force, seed, subtype, plot)
    print_stage_reports(reporter.console, [report])
    reporter.info(f"enhanced: {out if out is not None else outputs[0]}")
    if report.failed:
        raise typer.Exit(2)


@app.command("models")
def models_command() -> None:
    """List the bundled models (`cmkt enhance --model NAME`), the default first, from their model cards."""
    from cmkt_cli.tables import print_models
    from pipelines.pretrained import bundled_summaries

    with command_session(quiet=False) as reporter:
        print_models(reporter.console, bundled_summaries())


@app.command("ssl-layers")
def ssl_layers_command(split: str = typer.Option("valid", "--split", help="A split featurized with clean states "
                                                 "(`featurize --ssl` keeps them for valid)."),
                       top: int = typer.Option(3, "--top", min=1, help="How many layers of largest distance to "
                                               "name for `train --ssl-layers`."),
                       workdir: Path = WORKDIR, quiet: bool = QUIET) -> None:
    """The clean-noisy (CN) distance of each speech-encoder layer, as a table, CSV, JSON and plot: the layers that
    change most under noise, which the SSL seed found matter most for enhancement."""
    from cmkt_cli.tables import print_layer_distances
    from pipelines.ssl.layer_distance import layer_distances

    with stage_session(workdir, "ssl-layers", quiet, shared=True) as (place, reporter):
        result = layer_distances(place, split, reporter)
        print_layer_distances(reporter.console, result, top)


@app.command("run")
def run_command(sources: List[Path] = SOURCES, noise: Optional[Path] = NOISE, snr: str = SNR, seed: int = SEED,
                split: str = SPLIT, split_by: str = SPLIT_BY, speaker_regex: Optional[str] = SPEAKER_REGEX,
                transcripts: Optional[Path] = TRANSCRIPTS, language: str = LANGUAGE,
                mixes_per_file: int = MIXES, preset: str = PRESET,
                batch_size: int = BATCH, lr: float = LR, max_steps: Optional[int] = MAX_STEPS, max_time: Optional[str] = MAX_TIME,
                crop_frames: int = CROP, validate_every: int = VALIDATE_EVERY, steps: int = STEPS,
                fusion: str = FUSION, init_from: Optional[Path] = INIT_FROM, device: str = DEVICE,
                workdir: Path = WORKDIR, force: bool = FORCE, quiet: bool = QUIET, jobs: int = JOBS) -> None:
    """Run the stages in order: prepare, [transcribe, featurize --text,] train, enhance the test split, score it."""
    from cmkt_cli.configs import prepare_options, train_options
    from pipelines.devices import device_name
    from pipelines.stages.run import RunOptions, run

    with stage_session(workdir, "run", quiet) as (place, reporter):
        options = RunOptions(
            prepare=prepare_options(sources, noise, snr, seed, split, split_by, speaker_regex, transcripts, language,
                                    mixes_per_file),
            train=train_options(modality="a", preset=preset, batch_size=batch_size, lr=lr, max_steps=max_steps,
                                max_epochs=None, max_time=max_time, seed=seed, device=device,
                                crop_frames=crop_frames, hop_length=None, validate_every=validate_every,
                                val_steps=steps, resume=False, run_name=None, force=False, fusion=fusion,
                                init_from=init_from),
            steps=steps, device=device_name(device), force=force, jobs=jobs)
        scores = run(place, options, reporter, lambda result: _show(reporter, result))
        if any([_print_scores(reporter, result) for result in scores]):  # a list: print both before exiting
            raise typer.Exit(2)


def _show(reporter, result) -> None:
    """One finished step of `cmkt run` other than scoring: its stage reports or the training summary."""
    from pipelines.stages.train import TrainResult

    if isinstance(result, TrainResult):
        print_training(reporter.console, result)
    else:
        print_stage_reports(reporter.console, result)


@app.command("export")
def export_command(checkpoint: Path = typer.Argument(..., help="A checkpoint from `cmkt train`."),
                   out: Path = typer.Option(..., "--out", "-o", help="The model file to write (e.g. model.pt)."),
                   sampler: Optional[str] = CARD_SAMPLER, steps: int = STEPS, corrector: str = CORRECTOR, snr: float = SNR_PC,
                   t_start: float = T_START, step_rule: str = CARD_STEP_RULE,
                   attenuation_limit: Optional[float] = typer.Option(None, "--attenuation-limit", min=0.0,
                                                                     help="dB: the attenuation limit the model "
                                                                     "enhances with by default (none without it)."),
                   card: Optional[Path] = typer.Option(None, "--card", help="A JSON file of facts for the model "
                                                       "card (data, measured quality, speed)."),
                   interpolate_with: Optional[Path] = typer.Option(None, "--interpolate-with", help="The model the "
                                                                   "checkpoint was fine-tuned from (anything --ckpt "
                                                                   "takes): write alpha x the checkpoint's weights + "
                                                                   "(1 - alpha) x its (WiSE-FT)."),
                   alpha: float = typer.Option(1.0, "--alpha", min=0.0, max=1.0, help="With --interpolate-with: "
                                               "the fine-tuned weights' share."),
                   force: bool = REPLACE, quiet: bool = QUIET) -> None:
    """Write an inference-only model file (EMA weights in float16, config, model card) from a checkpoint."""
    from pipelines.inference import SamplingOptions
    from pipelines.artifacts.workdir import output_file
    from pipelines.checkpoints import export_model, read_card

    with command_session(quiet) as reporter:
        output_file(out, "-o", force)
        facts = read_card(card) if card is not None else {}
        def sampling(generative: bool) -> dict:
            return SamplingOptions(sampler or ("pc" if generative else "predictive"), steps, corrector, snr, t_start,
                                   step_rule, attenuation_limit).to_dict()

        size, chosen = export_model(checkpoint, out, facts, sampling, interpolate_with, alpha)
        tag = SamplingOptions.from_dict(chosen).tag
        reporter.info(f"wrote {out} ({size / 2**20:.1f} MiB; enhances with {tag} by default)")


@app.command("import-checkpoint")
def import_checkpoint_command(upstream: Path = typer.Argument(..., help="An SGMSE+ or StoRM checkpoint (.ckpt) as "
                                                               "published."),
                              out: Path = typer.Option(..., "--out", "-o", help="The cmkt model file to write."),
                              force: bool = REPLACE, quiet: bool = QUIET) -> None:
    """Convert an SGMSE+ or StoRM checkpoint into a cmkt model file (EMA weights, config, card with the sampler
    upstream recommends), read without running any of its pickled code (docs/interop.md)."""
    from pipelines.artifacts.workdir import output_file
    from pipelines.inference import SamplingOptions
    from pipelines.checkpoints import import_model

    with command_session(quiet) as reporter:
        output_file(out, "-o", force)
        size, card = import_model(upstream, out)
        sampling = SamplingOptions.from_dict(card["sampling"])
        reporter.info(f"wrote {out} ({size / 2**20:.1f} MiB; {card['imported_from']['project']}, "
                      f"{card['imported_from']['weights']} weights; enhances with {sampling.tag} by default)")


@app.command("report")
def report_command(inputs: List[Path] = typer.Argument(..., help="A prepared workdir (its split, every system in "
                                                       "WORKDIR/enhanced/), or folders of enhanced files to compare."),
                   out: Path = typer.Option(..., "--out", "-o", help="The report folder (index.html and the files "
                                            "it links; nothing is written elsewhere)."),
                   noisy: Optional[Path] = typer.Option(None, "--noisy", help="Plain folders: the noisy inputs."),
                   clean: Optional[Path] = typer.Option(None, "--clean", help="Plain folders: clean references."),
                   split: str = typer.Option("test", "--split", help="With a prepared workdir: the split."),
                   quiet: bool = QUIET, jobs: int = JOBS) -> None:
    """A static page to listen to and compare systems: audio players, spectrograms, scores, model cards."""
    from pipelines.stages.report import check_output, write_report
    from pipelines.report.sources import gather

    with command_session(quiet) as reporter:
        check_output(out, [*inputs, *(p for p in (noisy, clean) if p is not None)])
        result = write_report(gather(inputs, noisy, clean, split, out), out, reporter, jobs)
        for uid, problem in result.failed:
            reporter.warn(f"{uid}: not in the report ({problem})")
        reporter.info(f"report of {result.files} files: {result.page}")
        if result.failed or not result.files:
            raise typer.Exit(2)


app.command("transcribe")(transcribe_command)
app.command("featurize")(featurize_command)
app.command("merge")(merge_command)


if __name__ == "__main__":
    app()
