"""Options shared by several commands, and every option that takes a named choice, defined once so every command
spells them the same way. A choice's help lists the names and lines of pipelines/choices.py, the names the configs
validate against, so help and validation cannot drift apart (and the help needs no torch)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import typer

from pipelines import choices


def _choices_help(group: Mapping[str, str], lead: str = "", tail: str = ".") -> str:
    """'LEAD a (its line), b (its line) or c (its line)TAIL' for a group of pipelines/choices.py."""
    *others, last = [f"{name} ({line})" for name, line in group.items()]
    return lead + (f"{', '.join(others)} or {last}" if others else last) + tail


DEFAULT_WORKDIR = Path("cmkt_work")
WORKDIR = typer.Option(DEFAULT_WORKDIR, "--workdir", "-w", help="Where artifacts, reports and logs go.")
ENHANCE_WORKDIR = typer.Option(None, "--workdir", "-w", help="Cache the results here (HDF5; reruns skip what is "
                               "done; needed for --video and for a prepared --split, default cmkt_work there). "
                               "Without it, files are enhanced directly and only their outputs are written.")
FORCE = typer.Option(False, "--force", help="Recompute everything instead of reusing cached results.")
REPLACE = typer.Option(False, "--force", help="Replace the -o file if it exists.")
QUIET = typer.Option(False, "--quiet", "-q", help="Only warnings, errors and results.")
JOBS = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes for per-file work.")
SHARD = typer.Option(None, "--shard", help="I/N: do only shard I of N (I from 1, e.g. $SLURM_ARRAY_TASK_ID/N), into "
                                          "its own artifact files; `cmkt merge` joins the N shards (the next stage "
                                          "also does, by itself).")
SOURCES = typer.Argument(..., help="DATA in the train/valid/test layout, or folders of clean speech (with --noise).")
NOISE = typer.Option(None, "--noise", help="Folder of noise recordings to mix with flat clean speech.")
SNR = typer.Option("-5,0,5", "--snr", help="SNRs in dB to draw from when mixing, comma-separated.")
SEED = typer.Option(0, "--seed", help="Seed for splits and mixing (same seed, same data).")
SPLIT = typer.Option("0.8,0.1,0.1", "--split", help="Train,valid,test fractions for flat folders.")
SPLIT_BY = typer.Option("speaker", "--split-by", help=_choices_help(choices.SPLIT_UNITS))
SPEAKER_SPLITS = typer.Option(None, "--speaker-splits", help="TSV (speaker, split) naming each speaker's split: "
                              "hold out chosen voices instead of a random speaker split.")
SPEAKER_REGEX = typer.Option(None, "--speaker-regex",
                             help="Regex on the relative path whose first group is the speaker (default: the "
                                  "sub-folder, else the file name).")
TRANSCRIPTS = typer.Option(None, "--transcripts", help="TSV with columns path, language, transcript.")
LANGUAGE = typer.Option("", "--language", help="Language code for utterances without one (e.g. en, zh).")
MIXES = typer.Option(1, "--mixes-per-file", min=1, help="Noisy mixtures made from each clean file (flat folders).")
MODALITY = typer.Option("a", "--modality", help=_choices_help(choices.MODALITIES, "What the model sees: "))
PRESET = typer.Option("small", "--preset", help=_choices_help(
    choices.PRESETS, "Network and size (a preset names its backbone, which brings its own STFT front end): "))
BATCH = typer.Option(8, "--batch-size", min=1, help="Training crops per step.")
PARAMETRISATION = typer.Option("noise", "--score-parametrisation",
                               help=_choices_help(choices.SCORE_PARAMETRISATIONS, "What the score network outputs: "))
LR = typer.Option(1e-4, "--lr", help="Adam learning rate (paper: 1e-4; short CPU runs learn faster with ~1e-3).")
MAX_STEPS = typer.Option(None, "--max-steps", min=1, help="Stop after this many optimiser steps (in total).")
MAX_EPOCHS = typer.Option(None, "--max-epochs", min=1, help="Stop after this many passes over the training split.")
MAX_TIME = typer.Option(None, "--max-time", help="Stop after this long in this invocation (e.g. 1800, 30m, 2h).")
DEVICE = typer.Option("auto", "--device", help="cpu, cuda, cuda:1 ... (auto: cuda if available).")
CROP = typer.Option(256, "--crop-frames", min=16, help="STFT frames per training crop (256 ≈ 2 s at hop 128).")
HOP = typer.Option(None, "--hop-length", min=16, help="STFT hop (default: the backbone's; NCSN++ 128 as TMSV, "
                   "160 as AVSEC-3).")
VALIDATE_EVERY = typer.Option(200, "--validate-every", min=1, help="Validate and checkpoint every N steps.")
VAL_STEPS = typer.Option(30, "--val-steps", min=1, help="Reverse-diffusion steps used in validation.")
LR_DECAY = typer.Option(0, "--lr-decay-steps", min=0, help="Decay the learning rate linearly to a tenth over the "
                                                            "last N steps before --max-steps (0: constant).")
DENOISER_OUTPUT = typer.Option("direct", "--denoiser-output",
                               help=_choices_help(choices.DENOISER_OUTPUTS, "The denoiser's estimate: "))
VAL_SAMPLER = typer.Option("pc", "--val-sampler", help=_choices_help(
    choices.SAMPLERS, "Sampler validation enhances with (best.ckpt is chosen by its PESQ): ",
    ". predictive is cheap, for a model meant to run predictive."))
VAL_UTTERANCES = typer.Option(4, "--val-utterances", min=1, help="Validation utterances (first 4 s of each).")
FUSION = typer.Option("none", "--transfer", "--fusion", help=_choices_help(
    choices.FUSIONS, "Knowledge transfer from BERT features of the transcripts, in training only: ",
    ". Needs `cmkt featurize --text`; enhancement never uses text. (--fusion: its former name.)"))
MISALIGN = typer.Option(0.0, "--misalign-shift", min=0.0,
                        help="Seconds: shift the window of text targets of each crop by a random offset in "
                             "[-s, s] (the misalignment strategy; 0 = off).")
TRANSFER_WARMUP = typer.Option(0, "--transfer-warmup", min=0,
                               help="Steps over which the transfer weight rises linearly from 0 to its value "
                                    "(0 = its value from the first step).")
ALIGN_WEIGHT = typer.Option(None, "--transfer-weight", "--align-weight", min=0.0,
                            help="The weight of the transfer loss, the CMKT loss's alpha (default 0.2 for mhca, "
                                 "0.01 for ot; --align-weight: its former name).")
ADAPTER_BETA = typer.Option(0.1, "--adapter-scale", "--adapter-beta", help="The adapter's beta in "
                            "H_t = H + beta FC2(FC1(H)) (--adapter-beta: its former name).")
LIP_ENCODER = typer.Option("frozen", "--lip-encoder", help=_choices_help(choices.LIP_ENCODERS, "av/avl: "))
LIP_START = typer.Option(None, "--lip-weights", help="With --lip-encoder finetune: LRW weights to start from "
                         "(default: the untrained encoder).")
GRAD_ACCUM = typer.Option(1, "--grad-accum", min=1, help="Micro-batches per optimiser step: a step trains on "
                          "--batch-size x processes (torchrun) x this many crops; docs/distributed.md.")
RESUME = typer.Option(False, "--resume", help="Continue the run from its last.ckpt.")
INIT_FROM = typer.Option(None, "--init-from", help="Start a new run from this model's weights (a bundled model's "
                         "name, e.g. cmkt-gtcrn-debian, or an imported SGMSE+, StoRM or GTCRN model, or their file): its audio model replaces --preset, --hop-length, "
                         "--score-parametrisation and --denoiser-output; --modality/--fusion add branches that start "
                         "at zero (docs/interop.md).")
RUN_NAME = typer.Option(None, "--run-name", help="Folder name under WORKDIR/train (default MODALITY-PRESET-seedN).")
MODEL = typer.Option(None, "--model", "-m", help="A bundled model by name (`cmkt models` lists them; default: the "
                     "first there, docs/pretrained.md).")
CKPT = typer.Option(None, "--ckpt", help="A checkpoint from `cmkt train` (best.ckpt or last.ckpt), a model file "
                                          "from `cmkt export` or `cmkt import-checkpoint`, or an SGMSE+ or StoRM "
                                          "checkpoint as published (docs/interop.md; default: the bundled model, "
                                          "docs/pretrained.md).")
SAMPLER = typer.Option(None, "--sampler", help=_choices_help(
    choices.SAMPLERS, tail=". Default: the one the model card names (a checkpoint: pc)."))
CARD_SAMPLER = typer.Option(None, "--sampler", help=_choices_help(  # export: the one the model card names
    choices.SAMPLERS, "The sampler the model is meant to run with (enhance's default for it; default: pc with a "
                      "score network, predictive without): "))
T_START = typer.Option(1.0, "--t-start", min=0.04, max=1.0, help="pc/ode: start the reverse process at this time "
                                                                "(1 = T) from the denoiser's estimate.")
STEPS = typer.Option(30, "--steps", min=1, help="Reverse-diffusion steps (each is 2 network evaluations with ald).")
ENHANCE_STEPS = typer.Option(None, "--steps", min=1, help="Reverse-diffusion steps (each is 2 network evaluations "
                                                          "with ald; default 30; alone it means --sampler pc).")
CORRECTOR = typer.Option("ald", "--corrector", help=_choices_help(choices.CORRECTORS, "pc's corrector: "))
STEP_RULE_HELP = _choices_help(choices.STEP_RULES, "pc's predictor steps: ")
STEP_RULE = typer.Option(None, "--step-rule", help=STEP_RULE_HELP + " Default: the model card's (grid without one).")
CARD_STEP_RULE = typer.Option("grid", "--step-rule", help=STEP_RULE_HELP)  # export: the one the model card names
SNR_PC = typer.Option(0.5, "--snr", help="Corrector signal-to-noise ratio.")
CHUNK = typer.Option(8.0, "--chunk-seconds", min=0.5, help="Longer inputs are enhanced in overlapping chunks.")
PRECISION = typer.Option("fp32", "--precision", help=_choices_help(choices.PRECISIONS))
COMPILE = typer.Option(False, "--compile", help="torch.compile the two networks (falls back to eager with a "
                                                "warning if compiling fails; not faster on CPU: docs/performance.md).")
OMEGA = typer.Option(0.5, "--omega", min=0.0, max=1.0, help="Weight of the denoiser's loss (the score model's gets "
                     "1 - omega). 1 trains the denoiser alone, e.g. to fine-tune a model that enhances predictively "
                     "(--init-from); its score network is then not run and keeps its weights.")
DENOISER_LOSS = typer.Option(None, "--denoiser-loss", help=_choices_help(
    choices.DENOISER_LOSSES, "The denoiser's loss (default: the backbone's): "))
AUGMENT = typer.Option(None, "--augment", help="Comma-separated, new mixtures every step: " + _choices_help(
    choices.AUGMENTATIONS, tail=" (docs/model.md)."))
TEACHER = typer.Option(None, "--teacher", help="Distil from this model (anything --ckpt takes, or a bundled "
                       "model's name: `cmkt models`; bundled: the default); with --kd. --kd subband: the N elite "
                       "sub-band teachers, comma-separated.")
KD = typer.Option("none", "--kd", help=_choices_help(choices.DISTILLATIONS, "Knowledge distillation from --teacher: "))
SUBBAND_TEACHER = typer.Option(None, "--subband-teacher", help="Train an elite sub-band teacher: K/N sees and enhances "
                               "band K of N equal bands alone (for --kd subband).")
KD_WEIGHT = typer.Option(1.0, "--kd-weight", min=0.0, help="The distillation term's weight (the clean target's is 1).")
MAGNITUDE_WEIGHT = typer.Option(0.0, "--magnitude-weight", min=0.0, max=1.0, help="m in the denoiser's loss "
                                "(1 - m) complex MSE + m magnitude MSE: m > 0 (CMGAN: 0.7) counters the complex MSE's "
                                "over-suppression of weak speech (docs/model.md).")
SELECT_BY = typer.Option("pesq", "--select-by", help=_choices_help(choices.VALIDATION_METRICS, "The validation "
                         "score that picks best.ckpt: "))
ATTENUATION_LIMIT = typer.Option(None, "--attenuation-limit", min=0.0, help="dB: attenuate the noise by at most this "
                                 "much, by mixing the noisy input back (DeepFilterNet's attenuation limit; keeps the "
                                 "weak speech an over-suppressing model removes); inf: no limit. Default: the model "
                                 "card's (docs/pretrained.md).")
SSL = typer.Option("none", "--ssl", help="A speech encoder's hidden states beside the spectrogram: frozen (reads "
                                         "`featurize --ssl`'s cache) or finetune (the encoder trains too); none.")
SSL_MODEL = typer.Option(None, "--ssl-model", help="With --ssl: the encoder (default: the cache's, or Whisper tiny.en's).")
SSL_LAYERS = typer.Option(None, "--ssl-layers", help="With --ssl: its layers to fuse, i,j,... (default: all; "
                                                      "`cmkt ssl-layers` ranks them).")
