"""`cmkt`: the command-line entry point. Parses options, runs a pipeline stage, prints what happened."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional

import typer

from cmkt_cli.options import (FORCE, JOBS, LANGUAGE, MIXES, NOISE, QUIET, SEED, SNR, SOURCES, SPEAKER_REGEX,
                              SPEAKER_SPLITS, SPLIT, SPLIT_BY, TRANSCRIPTS, WORKDIR)
from cmkt_cli.featurize import featurize_command
from cmkt_cli.merge import merge_command
from cmkt_cli.session import command_session, stage_session
from cmkt_cli.transcribe import transcribe_command
from cmkt_cli.tables import print_scores, print_stage_reports, print_training
from pipelines.data.mixing import parse_snrs
from pipelines.diffusion.sampling import STEP_RULES
from pipelines.data.splits import parse_fractions
from pipelines.enhancer import DENOISER_OUTPUTS, FUSIONS, SCORE_PARAMETRISATIONS, EnhancerConfig
from pipelines.artifacts.workdir import make_folder
from pipelines.devices import resolve_device
from pipelines.errors import BadInput
from pipelines.inference import SAMPLERS, SamplingOptions
from pipelines.pretrained import default_model
from pipelines.report.build import check_output, write_report
from pipelines.report.sources import gather
from pipelines.models import NCSNPP_PRESETS
from pipelines.text.whisper_engines import DEFAULT_ENGINE, make_engine
from pipelines.speedups import PRECISIONS
from pipelines.stages.enhance import EnhanceOptions, enhance_paths, enhance_split
from pipelines.stages.prepare import PrepareOptions, prepare
from pipelines.stages.score import score_folders, score_workdir
from pipelines.stages.featurize_text import TextOptions, featurize_text
from pipelines.stages.train import TrainOptions, run_folder, train
from pipelines.stages.transcribe import Transcriber, transcribe_workdir
from pipelines.training import distributed
from pipelines.training.checkpoint import export_model, import_model, read_card
from pipelines.training.loop import LoopOptions

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Audio-visual-linguistic speech enhancement (DLAV-SE): prepare → transcribe → featurize → train → "
         "enhance → score. Each stage caches HDF5 artifacts in --workdir; rerunning skips what is done.",
)

def _prepare_options(sources, noise, snr, seed, split, split_by, speaker_regex, transcripts, language,
                     mixes_per_file, speaker_splits=None) -> PrepareOptions:
    if speaker_regex is not None:
        try:
            re.compile(speaker_regex)
        except re.error as err:
            raise BadInput(f"--speaker-regex {speaker_regex!r} is not a valid regular expression: {err}") from None
    return PrepareOptions(sources=list(sources), noise_dir=noise, snrs=parse_snrs(snr), seed=seed,
                          fractions=parse_fractions(split), split_by=split_by, speaker_regex=speaker_regex,
                          transcripts=transcripts, language=language, mixes_per_file=mixes_per_file,
                          speaker_splits=speaker_splits)


@app.command("prepare")
def prepare_command(sources: List[Path] = SOURCES, noise: Optional[Path] = NOISE, snr: str = SNR, seed: int = SEED,
                    split: str = SPLIT, split_by: str = SPLIT_BY, speaker_regex: Optional[str] = SPEAKER_REGEX,
                    speaker_splits: Optional[Path] = SPEAKER_SPLITS, transcripts: Optional[Path] = TRANSCRIPTS,
                    language: str = LANGUAGE, mixes_per_file: int = MIXES, workdir: Path = WORKDIR,
                    force: bool = FORCE, quiet: bool = QUIET, jobs: int = JOBS) -> None:
    """Find utterances, mix or pair noisy speech, cache 16 kHz mono waveforms and write the manifest."""
    with stage_session(workdir, "prepare", quiet) as (place, reporter):
        options = _prepare_options(sources, noise, snr, seed, split, split_by, speaker_regex, transcripts, language,
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
    with stage_session(workdir, "score", quiet) as (place, reporter):
        if clean is not None and enhanced is None:
            raise BadInput("--clean needs --enhanced (the folder of files to score)")
        if clean is not None or (enhanced is not None and not place.manifest_csv.exists()):
            result = score_folders(place, clean, enhanced, noisy, reporter, force, jobs, trim, out, with_dnsmos)
        else:
            result = score_workdir(place, split, enhanced, reporter, force, jobs, trim, out, with_dnsmos)
        _report_scores(reporter, result)


def _report_scores(reporter, result) -> None:
    print_stage_reports(reporter.console, [result.report])
    if result.rows:
        print_scores(reporter.console, result)
    if result.report.failed or not result.rows:
        raise typer.Exit(2)


def _parse_duration(text: Optional[str]) -> Optional[float]:
    """'90', '90s', '30m', '2h' -> seconds."""
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError):
        raise BadInput(f"--max-time expects seconds or a duration like 30m or 2h, got {text!r}") from None


MODALITY = typer.Option("a", "--modality", help="a (audio), av (+ lips: needs `featurize --lips`) or avl (+ lips and "
                                                "text: also give --fusion ot|mhca).")
PRESET = typer.Option("small", "--preset", help="Network size: 'small' (CPU, ~5 M parameters per network) or "
                                               "'paper' (the SGMSE NCSN++, ~65.6 M).")
BATCH = typer.Option(8, "--batch-size", min=1, help="Training crops per step.")
PARAMETRISATION = typer.Option("noise", "--score-parametrisation",
                               help="noise: the score network predicts the noise, s = -net/std(t) (default); "
                                    "direct: s = net; sgmse: s = -(net/t + b) with a learnt bias b, the form of "
                                    "SGMSE+ and StoRM.")
LR = typer.Option(1e-4, "--lr", help="Adam learning rate (paper: 1e-4; short CPU runs learn faster with ~1e-3).")
MAX_STEPS = typer.Option(None, "--max-steps", min=1, help="Stop after this many optimiser steps (in total).")
MAX_EPOCHS = typer.Option(None, "--max-epochs", min=1, help="Stop after this many passes over the training split.")
MAX_TIME = typer.Option(None, "--max-time", help="Stop after this long in this invocation (e.g. 1800, 30m, 2h).")
DEVICE = typer.Option("auto", "--device", help="cpu, cuda, cuda:1 ... (auto: cuda if available).")
CROP = typer.Option(256, "--crop-frames", min=16, help="STFT frames per training crop (256 ≈ 2 s at hop 128).")
HOP = typer.Option(128, "--hop-length", help="STFT hop: 128 (TMSV) or 160 (AVSEC-3).")
VALIDATE_EVERY = typer.Option(200, "--validate-every", min=1, help="Validate and checkpoint every N steps.")
VAL_STEPS = typer.Option(30, "--val-steps", min=1, help="Reverse-diffusion steps used in validation.")
LR_DECAY = typer.Option(0, "--lr-decay-steps", min=0, help="Decay the learning rate linearly to a tenth over the "
                                                            "last N steps before --max-steps (0: constant).")
DENOISER_OUTPUT = typer.Option("direct", "--denoiser-output", help="direct (y_hat = D(y), as StoRM), residual "
                                                                    "(y_hat = y + D(y): starts as the identity) or "
                                                                    "none (no denoiser, y_hat = y, as SGMSE+).")
VAL_SAMPLER = typer.Option("pc", "--val-sampler", help="Sampler validation enhances with (best.ckpt is chosen by "
                           "its PESQ): pc, ode or predictive (cheap; for a model meant to run predictive).")
VAL_UTTERANCES = typer.Option(4, "--val-utterances", min=1, help="Validation utterances (first 4 s of each).")
FUSION = typer.Option("none", "--fusion", help="Cross-modal knowledge transfer from BERT features during training: "
                                              "ot (optimal transport), mhca (cross-attention) or none. Needs "
                                              "`cmkt featurize --text`; enhancement never uses text.")
MISALIGN = typer.Option(0.0, "--misalign-shift", min=0.0,
                        help="Seconds: shift the window of text targets of each crop by a random offset in "
                             "[-s, s] (the misalignment strategy; 0 = off).")
ALIGN_WEIGHT = typer.Option(None, "--align-weight", min=0.0,
                            help="alpha, the weight of the transfer loss (default 0.2 for mhca, 0.01 for ot).")
ADAPTER_BETA = typer.Option(0.1, "--adapter-beta", help="beta in H_t = H + beta FC2(FC1(H)).")
LIP_ENCODER = typer.Option("frozen", "--lip-encoder", help="av/avl: 'frozen' (the cached lip embeddings) or "
                           "'finetune' (train the lip encoder with the model, from the cached mouth crops).")
LIP_START = typer.Option(None, "--lip-weights", help="With --lip-encoder finetune: LRW weights to start from "
                         "(default: the untrained encoder).")
GRAD_ACCUM = typer.Option(1, "--grad-accum", min=1, help="Micro-batches per optimiser step: a step trains on "
                          "--batch-size x processes (torchrun) x this many crops; docs/distributed.md.")
RESUME = typer.Option(False, "--resume", help="Continue the run from its last.ckpt.")
INIT_FROM = typer.Option(None, "--init-from", help="Start a new run from this model's weights (e.g. an imported "
                         "SGMSE+ or StoRM model, or their .ckpt): its audio model replaces --preset, --hop-length, "
                         "--score-parametrisation and --denoiser-output; --modality/--fusion add branches that start "
                         "at zero (docs/interop.md).")
RUN_NAME = typer.Option(None, "--run-name", help="Folder name under WORKDIR/train (default MODALITY-PRESET-seedN).")
CKPT = typer.Option(None, "--ckpt", help="A checkpoint from `cmkt train` (best.ckpt or last.ckpt), a model file "
                                          "from `cmkt export` or `cmkt import-checkpoint`, or an SGMSE+ or StoRM "
                                          "checkpoint as published (docs/interop.md; default: the bundled model, "
                                          "docs/pretrained.md).")
SAMPLER = typer.Option(None, "--sampler", help="pc (predictor-corrector reverse diffusion), ode (deterministic "
                                               "probability-flow ODE, Heun: 2 x steps - 1 score evaluations) or "
                                               "predictive (the denoiser alone: one network evaluation). Default: "
                                               "the one the model card names (a checkpoint: pc).")
T_START = typer.Option(1.0, "--t-start", min=0.04, max=1.0, help="pc/ode: start the reverse process at this time "
                                                                "(1 = T) from the denoiser's estimate.")
STEPS = typer.Option(30, "--steps", min=1, help="Reverse-diffusion steps (each is 2 network evaluations with ald).")
ENHANCE_STEPS = typer.Option(None, "--steps", min=1, help="Reverse-diffusion steps (each is 2 network evaluations "
                                                          "with ald; default 30; alone it means --sampler pc).")
CORRECTOR = typer.Option("ald", "--corrector", help="ald (annealed Langevin dynamics) or none.")
STEP_RULE_HELP = ("pc's predictor steps: grid (the grid spacing every step, cmkt's), t_eps (the spacing, then a last "
                  "step of t_eps to 0: SGMSE+) or 1/N (StoRM, SGMSE+ before mid-2024).")
STEP_RULE = typer.Option(None, "--step-rule", help=STEP_RULE_HELP + " Default: the model card's (grid without one).")
SNR_PC = typer.Option(0.5, "--snr", help="Corrector signal-to-noise ratio.")
CHUNK = typer.Option(8.0, "--chunk-seconds", min=0.5, help="Longer inputs are enhanced in overlapping chunks.")
PRECISION = typer.Option("fp32", "--precision", help="fp32, or bf16 (autocast of the networks; slower on CPUs "
                                                     "without bf16 units: docs/performance.md).")
COMPILE = typer.Option(False, "--compile", help="torch.compile the two networks (falls back to eager with a "
                                                "warning if compiling fails; not faster on CPU: docs/performance.md).")


def _train_options(modality, preset, batch_size, lr, max_steps, max_epochs, max_time, seed, device, crop_frames,
                   hop_length, validate_every, val_steps, resume, run_name, force,
                   parametrisation="noise", fusion="none", misalign_shift=0.0, align_weight=None,
                   adapter_beta=0.1, lip_encoder="frozen", lip_weights=None, grad_accum=1, val_sampler="pc",
                   val_utterances=4, denoiser_output="direct", lr_decay_steps=0, init_from=None) -> TrainOptions:
    if preset not in NCSNPP_PRESETS:
        raise BadInput(f"--preset must be one of {', '.join(NCSNPP_PRESETS)}, got {preset!r}")
    if parametrisation not in SCORE_PARAMETRISATIONS:
        raise BadInput(f"--score-parametrisation must be one of {', '.join(SCORE_PARAMETRISATIONS)}, got "
                       f"{parametrisation!r}")
    if fusion not in FUSIONS:
        raise BadInput(f"--fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
    if lr_decay_steps and (max_steps is None or lr_decay_steps > max_steps):
        raise BadInput("--lr-decay-steps needs --max-steps at least as large (the decay ends there)")
    if denoiser_output not in DENOISER_OUTPUTS:
        raise BadInput(f"--denoiser-output must be one of {', '.join(DENOISER_OUTPUTS)}, got {denoiser_output!r}")
    if lip_encoder not in ("frozen", "finetune"):
        raise BadInput(f"--lip-encoder must be frozen or finetune, got {lip_encoder!r}")
    if lip_encoder == "finetune" and modality == "a":
        raise BadInput("--lip-encoder finetune trains the visual branch: use it with --modality av or avl")
    resolve_device(device)  # a bad --device is an error now, not after the data is loaded
    return TrainOptions(
        model=EnhancerConfig(preset=preset, hop_length=hop_length, modality=modality,
                             score_parametrisation=parametrisation, denoiser_output=denoiser_output,
                             fusion=fusion, align_weight=align_weight,
                             adapter_beta=adapter_beta, lip_finetune=lip_encoder == "finetune"),
        loop=LoopOptions(batch_size=batch_size, learning_rate=lr, crop_frames=crop_frames, max_steps=max_steps, max_epochs=max_epochs,
                         max_time=_parse_duration(max_time), validate_every=validate_every,
                         validation_sampling=_sampling(val_sampler, val_steps, "ald", 0.5),
                         validation_utterances=val_utterances, lr_decay_steps=lr_decay_steps, seed=seed,
                         misalign_shift=misalign_shift, grad_accum=grad_accum),
        run_name=run_name, device=device, resume=resume, force=force, lip_weights=lip_weights, init_from=init_from)


def _sampling(sampler: str, steps: int, corrector: str, snr: float, t_start: float = 1.0,
              step_rule: str | None = "grid") -> SamplingOptions:
    if sampler not in SAMPLERS:
        raise BadInput(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if corrector not in ("ald", "none"):
        raise BadInput(f"--corrector must be ald or none, got {corrector!r}")
    if step_rule is not None and step_rule not in STEP_RULES:
        raise BadInput(f"--step-rule must be one of {', '.join(STEP_RULES)}, got {step_rule!r}")
    return SamplingOptions(sampler=sampler, steps=steps, corrector=corrector, snr=snr, t_start=t_start,
                           step_rule=step_rule)


@app.command("train")
def train_command(modality: str = MODALITY, preset: str = PRESET, batch_size: int = BATCH, lr: float = LR,
                  max_steps: Optional[int] = MAX_STEPS, max_epochs: Optional[int] = MAX_EPOCHS,
                  max_time: Optional[str] = MAX_TIME, seed: int = SEED, device: str = DEVICE,
                  crop_frames: int = CROP, hop_length: int = HOP, validate_every: int = VALIDATE_EVERY,
                  val_steps: int = VAL_STEPS, resume: bool = RESUME, run_name: Optional[str] = RUN_NAME,
                  score_parametrisation: str = PARAMETRISATION, fusion: str = FUSION,
                  misalign_shift: float = MISALIGN, align_weight: Optional[float] = ALIGN_WEIGHT,
                  adapter_beta: float = ADAPTER_BETA, lip_encoder: str = LIP_ENCODER,
                  lip_weights: Optional[Path] = LIP_START, grad_accum: int = GRAD_ACCUM,
                  val_sampler: str = VAL_SAMPLER, val_utterances: int = VAL_UTTERANCES,
                  denoiser_output: str = DENOISER_OUTPUT, lr_decay_steps: int = LR_DECAY,
                  init_from: Optional[Path] = INIT_FROM, workdir: Path = WORKDIR, force: bool = FORCE,
                  quiet: bool = QUIET) -> None:
    """Train the predictive denoiser and the score model (joint loss, Adam 1e-4, EMA 0.999) on a prepared workdir.

    Runs as it is under torchrun (one process per GPU, or several on CPUs): docs/distributed.md."""
    follower = distributed.launched_rank() > 0  # rank 0 locks, logs and prints for the whole run
    with stage_session(workdir, "train", quiet, follower) as (place, reporter):
        options = _train_options(modality, preset, batch_size, lr, max_steps, max_epochs, max_time, seed, device,
                                 crop_frames, hop_length, validate_every, val_steps, resume, run_name, force,
                                 score_parametrisation, fusion, misalign_shift, align_weight, adapter_beta,
                                 lip_encoder, lip_weights, grad_accum, val_sampler, val_utterances,
                                 denoiser_output, lr_decay_steps, init_from)
        result = train(place, options, reporter)
        if not follower:
            print_training(reporter.console, result)


@app.command("enhance")
def enhance_command(inputs: Optional[Path] = typer.Argument(None, help="A noisy file or a folder of them; "
                                                             "without it, the prepared --split of the workdir."),
                    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder for enhanced WAVs "
                                                       "(one file without it: NAME_enhanced.wav beside the input)."),
                    ckpt: Optional[Path] = CKPT, sampler: Optional[str] = SAMPLER, steps: Optional[int] = ENHANCE_STEPS,
                    corrector: str = CORRECTOR, snr: float = SNR_PC, t_start: float = T_START,
                    step_rule: Optional[str] = STEP_RULE, seed: int = SEED,
                    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Chunks enhanced together."),
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
                    workdir: Path = WORKDIR, force: bool = FORCE, quiet: bool = QUIET) -> None:
    """Enhance noisy speech: `cmkt enhance noisy.wav` uses the bundled model (no Whisper or BERT involved)."""
    with stage_session(workdir, "enhance", quiet) as (place, reporter):
        if precision not in PRECISIONS:
            raise BadInput(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        chosen = sampler or ("pc" if steps is not None else None)  # neither: the model card's sampler
        sampling = None if chosen is None else _sampling(chosen, steps or 30, corrector, snr, t_start, step_rule)
        options = EnhanceOptions(ckpt or default_model(), sampling, batch_size, chunk_seconds, seed,
                                 _device_name(device), force, video, lip_weights, face_model, precision, compiled,
                                 plot)
        if inputs is None:
            report, written = enhance_split(place, split, options, reporter)
        else:
            report, outputs = enhance_paths(place, inputs, out, options, reporter)
            written = out if out is not None else outputs[0]
        print_stage_reports(reporter.console, [report])
        reporter.info(f"enhanced: {written}")
        if report.failed:
            raise typer.Exit(2)


def _device_name(device: str) -> str:
    return str(resolve_device(device))


@app.command("run")
def run_command(sources: List[Path] = SOURCES, noise: Optional[Path] = NOISE, snr: str = SNR, seed: int = SEED,
                split: str = SPLIT, split_by: str = SPLIT_BY, speaker_regex: Optional[str] = SPEAKER_REGEX,
                transcripts: Optional[Path] = TRANSCRIPTS, language: str = LANGUAGE,
                mixes_per_file: int = MIXES, preset: str = PRESET,
                batch_size: int = BATCH, lr: float = LR, max_steps: Optional[int] = MAX_STEPS, max_time: Optional[str] = MAX_TIME,
                crop_frames: int = CROP, validate_every: int = VALIDATE_EVERY, steps: int = STEPS,
                fusion: str = FUSION, device: str = DEVICE, workdir: Path = WORKDIR, force: bool = FORCE,
                quiet: bool = QUIET, jobs: int = JOBS) -> None:
    """Run the stages in order: prepare, [transcribe, featurize --text,] train, enhance the test split, score it."""
    with stage_session(workdir, "run", quiet) as (place, reporter):
        options = _prepare_options(sources, noise, snr, seed, split, split_by, speaker_regex, transcripts, language,
                                   mixes_per_file)
        print_stage_reports(reporter.console, prepare(place, options, reporter, force=force, jobs=jobs))
        training = _train_options("a", preset, batch_size, lr, max_steps, None, max_time, seed, device, crop_frames, 128,
                                  validate_every, steps, False, None, False, fusion=fusion)
        if fusion != "none":
            transcriber = Transcriber(make_engine(DEFAULT_ENGINE, None, {}), language, reporter)
            print_stage_reports(reporter.console, transcribe_workdir(place, ["train"], transcriber, force,
                                                                     reporter).reports)
            print_stage_reports(reporter.console, featurize_text(place, TextOptions(splits=["train"], force=force),
                                                                 reporter))
        checkpoint = run_folder(place, training) / "best.ckpt"
        if checkpoint.exists() and not force:
            reporter.info(f"using the finished training run {checkpoint.parent} (--force to retrain)")
        else:
            training.force = force
            print_training(reporter.console, train(place, training, reporter))
        sampling = SamplingOptions(steps=steps)
        report, out_dir = enhance_split(place, "test", EnhanceOptions(checkpoint, sampling, seed=seed,
                                                                      device=_device_name(device)), reporter)
        print_stage_reports(reporter.console, [report])
        for name, folder in (("noisy", None), ("enhanced", out_dir)):
            reporter.info(f"scoring the {name} test split")
            result = score_workdir(place, "test", folder, reporter, force, jobs)
            _report_scores(reporter, result)


@app.command("export")
def export_command(checkpoint: Path = typer.Argument(..., help="A checkpoint from `cmkt train`."),
                   out: Path = typer.Option(..., "--out", "-o", help="The model file to write (e.g. model.pt)."),
                   sampler: str = typer.Option("pc", "--sampler", help="The sampler the model is meant to run "
                                                                       "with (enhance's default for it)."),
                   steps: int = STEPS, corrector: str = CORRECTOR, snr: float = SNR_PC, t_start: float = T_START,
                   step_rule: str = typer.Option("grid", "--step-rule", help=STEP_RULE_HELP),
                   card: Optional[Path] = typer.Option(None, "--card", help="A JSON file of facts for the model "
                                                       "card (data, measured quality, speed)."),
                   quiet: bool = QUIET) -> None:
    """Write an inference-only model file (EMA weights in float16, config, model card) from a checkpoint."""
    with command_session(quiet) as reporter:
        facts = read_card(card) if card is not None else {}
        sampling = _sampling(sampler, steps, corrector, snr, t_start, step_rule)
        make_folder(out.parent, "-o")
        size = export_model(checkpoint, out, {**facts, "sampling": sampling.to_dict()})
        reporter.info(f"wrote {out} ({size / 2**20:.1f} MiB; enhances with {sampling.tag} by default)")


@app.command("import-checkpoint")
def import_checkpoint_command(upstream: Path = typer.Argument(..., help="An SGMSE+ or StoRM checkpoint (.ckpt) as "
                                                               "published."),
                              out: Path = typer.Option(..., "--out", "-o", help="The cmkt model file to write."),
                              quiet: bool = QUIET) -> None:
    """Convert an SGMSE+ or StoRM checkpoint into a cmkt model file (EMA weights, config, card with the sampler
    upstream recommends), read without running any of its pickled code (docs/interop.md)."""
    with command_session(quiet) as reporter:
        make_folder(out.parent, "-o")
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
    with command_session(quiet) as reporter:
        check_output(out, inputs)
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
