"""`cmkt train`: fit the predictive denoiser and the score model on a prepared workdir.

A run lives in WORKDIR/train/RUN/ (last.ckpt, best.ckpt, metrics.csv, tensorboard/,
curves.png). Starting a run where one exists is refused unless --resume (continue
from last.ckpt, e.g. with a larger --max-steps) or --force (start over), so finished
training is never overwritten by accident.

Under torchrun every process runs `train`; rank 0 prepares the run folder and writes
everything in it (docs/distributed.md).
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipelines.artifacts.lock import WorkdirLock
from pipelines.artifacts.workdir import Workdir
from pipelines.atomic import check_removable, check_target, write_text
from pipelines.enhancer import EnhancerConfig, SpeechEnhancer, count_parameters
from pipelines.devices import resolve_device
from pipelines.errors import BadInput
from pipelines.reporting import Reporter
from pipelines.ssl.encoders import load_ssl_model
from pipelines.ssl.features import SSLFeatureSet
from pipelines.text.features import TextFeatureSet, load_text_features
from pipelines.artifacts.checksums import file_checksum
from pipelines.models.lip_resnet import EMBEDDING_DIM, LipResNet, initial_encoder
from pipelines.video.clip_features import UNTRAINED
from pipelines.video.lip_features import LipFeatureSet, load_lip_features, roi_normalisation
from pipelines.training import distributed
from pipelines.checkpoints import TrainingState, read_checkpoint
from pipelines.training.data import WaveformPairs
from pipelines.training.distillation import SubbandTeachers, Teacher, load_teacher
from pipelines.training.init_from import initial_config, load_initial_weights
from pipelines.training.loop import LoopOptions, Trainer


@dataclass
class TrainOptions:
    model: EnhancerConfig = field(default_factory=EnhancerConfig)
    loop: LoopOptions = field(default_factory=LoopOptions)
    run_name: str | None = None
    device: str = "auto"
    resume: bool = False
    force: bool = False
    lip_weights: Path | None = None  # LRW weights a fine-tuned lip encoder starts from (default: untrained)
    init_from: Path | None = None  # a fresh run starts from this model's audio weights (training/init_from.py)
    teachers: list[Path] = field(default_factory=list)  # distil from these (training/distillation.py; with --kd)
    ssl_model: str | None = None  # --ssl: the speech encoder (None: the default, or the cache's with frozen)
    ssl_layers: list[int] | None = None  # --ssl: its layers to fuse (None: every one the cache or encoder has)


@dataclass
class TrainResult:
    folder: Path
    state: TrainingState
    parameters: int
    inference_parameters: int  # without the training-only text aligners
    select_by: str = "pesq"  # the validation score best.ckpt was chosen by (state.best_metric)


def run_folder(workdir: Workdir, options: TrainOptions) -> Path:
    fusion = "" if options.model.fusion == "none" else f"{options.model.fusion}-"
    lips = "finetune-" if options.model.lip_finetune else ""
    start = f"from-{options.init_from.stem}" if options.init_from is not None else options.model.preset
    name = options.run_name or f"{options.model.modality}-{fusion}{lips}{start}-seed{options.loop.seed}"
    if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        raise BadInput(f"--run-name must be a plain folder name (no '/', '..' or absolute path), got {name!r}")
    return workdir.root / "train" / name


def train(workdir: Workdir, options: TrainOptions, reporter: Reporter) -> TrainResult:
    if not any(v is not None for v in (options.loop.max_steps, options.loop.max_epochs, options.loop.max_time)):
        raise BadInput("give a stopping rule: --max-steps, --max-epochs and/or --max-time")
    with distributed.process_group(resolve_device(options.device)) as device:
        return _train(workdir, options, reporter, device)


def _train(workdir: Workdir, options: TrainOptions, reporter: Reporter, device: torch.device) -> TrainResult:
    folder = run_folder(workdir, options)
    if not distributed.is_main():
        return _train_run(workdir, options, reporter, device, folder)
    # runs of one workdir train side by side (the CLI holds the workdir shared); each holds its own folder
    with run_lock(folder):
        return _train_run(workdir, options, reporter, device, folder)


def run_lock(folder: Path) -> WorkdirLock:
    """The lock a training run holds on its folder while it trains."""
    return WorkdirLock(folder.parent / f".{folder.name}.lock", what=f"training run {folder}")


def _train_run(workdir: Workdir, options: TrainOptions, reporter: Reporter, device: torch.device,
               folder: Path) -> TrainResult:
    last = folder / "last.ckpt"
    if last.exists() and not (options.resume or options.force):
        raise BadInput(f"{folder} already holds a training run: --resume to continue it, --force to start over")
    if options.resume and not options.force and not last.exists():
        raise BadInput(f"--resume: {last} does not exist, so there is nothing to resume (an interrupted first save "
                       f"leaves none): start the run without --resume")
    check_target(folder)  # before any work: no link on the way to the run folder nor in it, no input in it
    for entry in folder.iterdir() if folder.is_dir() else ():
        check_target(entry)
    if distributed.is_main():
        if options.force and folder.exists():
            check_removable(folder)
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for partial in folder.glob("*.tmp"):  # a checkpoint save that was interrupted: never read, never kept
            partial.unlink()
    distributed.barrier()  # the other ranks read the run folder once rank 0 has prepared it
    _seed_everything(options.loop.seed)
    payload = read_checkpoint(last) if options.resume and last.exists() else None
    start_weights, provenance = None, {}
    if payload:
        config = EnhancerConfig.from_dict(payload["config"])
        provenance = payload["extra"].get("provenance", {})
    elif options.init_from is not None:
        config, start_weights, provenance = initial_config(options.init_from, options.model)
        reporter.info(f"starting from {options.init_from}: its audio model ({config.preset}, {config.backbone}), the "
                      f"added branches at zero")
    else:
        config = options.model
    pairs = WaveformPairs(workdir, "train")
    if len(pairs) < distributed.world_size():
        raise BadInput(f"the training split has {len(pairs)} utterances, fewer than the {distributed.world_size()} "
                       "processes: start fewer")
    teacher = _teacher(config, options.teachers, device, reporter, fresh=payload is None)
    text = _text_features(workdir, config, pairs, reporter)
    lips = _lip_features(workdir, config, pairs, reporter)
    speech_states = _speech_encoder(workdir, config, options, pairs, reporter, fresh=payload is None)
    start_encoder = _fine_tuned_encoder(workdir, config, options.lip_weights, reporter) if payload is None else None
    model = SpeechEnhancer(config)
    if start_weights is not None:
        load_initial_weights(model, start_weights, options.init_from)
    if start_encoder is not None:
        model.lip_encoder.load_state_dict(start_encoder.state_dict())
    trainer = Trainer(model, pairs, _validation(workdir), folder, options.loop, device, reporter, text, lips,
                      teacher, provenance, speech_states)
    if payload:
        trainer.load(payload)
        reporter.info(f"resuming {folder.name} from step {trainer.state.step}")
    if distributed.is_main():
        write_text(folder / "config.json", json.dumps({"model": config.to_dict(), "device": str(device)}, indent=1))
    parameters, inference_parameters = count_parameters(model), count_parameters(model, inference_only=True)
    networks = "denoiser + score network" if config.generative else "a predictive model"
    reporter.info(f"training {config.preset} ({config.backbone}), fusion {config.fusion} ({parameters / 1e6:.3f} M "
                  f"parameters: {networks}; {inference_parameters / 1e6:.3f} M at inference) on {len(trainer.train)} "
                  f"utterances, {_where(device, options.loop)}")
    state = trainer.run(resume=payload is not None)
    return TrainResult(folder, state, parameters, inference_parameters, options.loop.select_by)


def _text_features(workdir: Workdir, config: EnhancerConfig, pairs: WaveformPairs,
                   reporter: Reporter) -> TextFeatureSet | None:
    """The BERT features a fusion trains against; fills the config's text dimensions on a fresh run."""
    if config.fusion == "none":
        return None
    try:
        text = load_text_features(workdir, "train")
    except BadInput as err:
        raise BadInput(f"--fusion {config.fusion} needs the transcripts' BERT features: {err}") from None
    if config.text_dim and (config.text_dim, config.text_vocab_size) != (text.hidden_size, text.vocab_size):
        raise BadInput(f"the run was trained with text features of width {config.text_dim} (vocabulary "
                       f"{config.text_vocab_size}) but the workdir's are {text.hidden_size} ({text.vocab_size}, "
                       f"{text.model}): rerun `cmkt featurize --text` with the run's model or start a new run")
    config.text_dim, config.text_vocab_size = text.hidden_size, text.vocab_size
    _check_coverage(pairs, text.items, "a transcript", "run `cmkt transcribe` and `cmkt featurize --text`",
                    "without the CMKT loss", reporter)
    reporter.info(f"cross-modal transfer ({config.fusion}) towards {text.model} features (d_s {text.hidden_size})")
    return text


def _speech_encoder(workdir: Workdir, config: EnhancerConfig, options: TrainOptions, pairs: WaveformPairs,
                    reporter: Reporter, fresh: bool) -> SSLFeatureSet | None:
    """--ssl: on a fresh run, record which encoder and layers in the config; with frozen, the cached states."""
    if config.ssl == "none":
        if options.ssl_model is not None or options.ssl_layers is not None:
            raise BadInput("--ssl-model and --ssl-layers go with --ssl frozen or --ssl finetune")
        return None
    if config.ssl == "frozen" and options.loop.augment.kinds:
        raise BadInput("--ssl frozen reads the encoder's states of the prepared mixtures, which --augment changes "
                       "every step: train without --augment, or with --ssl finetune")
    cache = None
    if config.ssl == "frozen":
        try:
            cache = SSLFeatureSet(workdir, "train")
        except BadInput as err:
            raise BadInput(f"--ssl frozen needs the cached speech-encoder states: {err}") from None
        if cache.hop != config.hop_length:
            raise BadInput(f"the cached speech-encoder states are at a hop of {cache.hop} samples, the model's STFT "
                           f"at {config.hop_length}: rerun `cmkt featurize --ssl --ssl-hop {config.hop_length}`")
        if missing := sum(uid not in cache for uid in pairs.ids):
            raise BadInput(f"{missing} of {len(pairs.ids)} training utterances have no cached speech-encoder states: "
                           f"rerun `cmkt featurize --ssl`")
    if fresh:
        model = load_ssl_model(options.ssl_model or (cache.config["model"] if cache else None))
        if cache is not None and model.checksum != cache.config["checksum"]:
            raise BadInput(f"the cached states come from {cache.config['model']}, not {model.name}: rerun "
                           f"`cmkt featurize --ssl --ssl-model {model.name}` or give its --ssl-model")
        available = cache.layers if cache is not None else list(range(model.layers))
        layers = options.ssl_layers if options.ssl_layers is not None else available
        if missing := [layer for layer in layers if layer not in available]:
            where = "the cache holds" if cache is not None else f"{model.name} has"
            raise BadInput(f"--ssl-layers {','.join(map(str, missing))}: {where} layers "
                           f"{','.join(map(str, available))}")
        config.ssl_model, config.ssl_identity, config.ssl_layers = model.name, model.identity(), list(layers)
    reporter.info(f"speech encoder {config.ssl_model} ({config.ssl}), layers {','.join(map(str, config.ssl_layers))}"
                  f" fused at the bottleneck")
    return cache


def _teacher(config: EnhancerConfig, paths: list[Path], device: torch.device, reporter: Reporter,
             fresh: bool) -> Teacher | SubbandTeachers | None:
    """The teacher(s) of --kd; a fresh tfckd run records the teacher's layer widths, which its projections need."""
    if (not paths) != (config.distillation == "none"):
        raise BadInput("--teacher MODEL and --kd KIND go together (--kd none: no teacher)")
    if not paths:
        return None
    if config.subband:
        raise BadInput("an elite sub-band teacher (--subband-teacher) learns from the clean target alone: no --kd")
    teacher = load_teacher(paths, config.distillation, device)
    if config.distillation == "tfckd":
        widths = teacher.tap_widths
        if not fresh and widths != config.teacher_taps:
            raise BadInput(f"the run distils from a teacher with layers {config.teacher_taps}, --teacher {teacher.path} "
                           f"has {widths}: resume with the run's teacher or start a new run")
        config.teacher_taps = widths
    reporter.info(f"distilling ({config.distillation}, weight {config.distillation_weight:g}) from {teacher.path} "
                  f"({teacher.model.config.preset})")
    return teacher


def _lip_features(workdir: Workdir, config: EnhancerConfig, pairs: WaveformPairs,
                  reporter: Reporter) -> tuple[LipFeatureSet, LipFeatureSet | None] | None:
    """Train and valid lip embeddings for av/avl; fills the config's visual width on a fresh run."""
    if not config.uses_video:
        return None
    kind = "rois" if config.lip_finetune else "embeddings"
    try:
        train_lips = load_lip_features(workdir, "train", kind)
    except BadInput as err:
        raise BadInput(f"--modality {config.modality} needs lip features: {err}") from None
    if not config.lip_finetune:
        if config.visual_dim and config.visual_dim != train_lips.dim:
            raise BadInput(f"the run was trained with lip embeddings of width {config.visual_dim}, the workdir's "
                           f"are {train_lips.dim}: start a new run")
        config.visual_dim, config.lip_encoder = train_lips.dim, train_lips.encoder
        if train_lips.encoder == UNTRAINED:
            reporter.warn("the lip embeddings come from an UNTRAINED encoder (no --lip-weights given to featurize "
                          "--lips): the visual branch sees random features of the mouth crops")
    _check_coverage(pairs, train_lips.items, f"lip {kind}", "run `cmkt featurize --lips` on video data",
                    "with the 'no video' input", reporter)
    try:
        valid_lips = load_lip_features(workdir, "valid", kind)
    except BadInput:
        valid_lips = None
    return train_lips, valid_lips


def _fine_tuned_encoder(workdir: Workdir, config: EnhancerConfig, weights: Path | None,
                        reporter: Reporter) -> LipResNet | None:
    """For a fresh `--lip-encoder finetune` run: the encoder to start from, and the crops' normalisation."""
    if not (config.uses_video and config.lip_finetune):
        return None
    if weights is not None and not weights.is_file():
        raise BadInput(f"--lip-weights {weights}: no such file")
    encoder = initial_encoder(weights)
    config.visual_dim, config.lip_activation = EMBEDDING_DIM, encoder.activation
    config.lip_encoder = f"finetuned from {UNTRAINED if weights is None else file_checksum(weights)}"
    config.roi_mean, config.roi_std = roi_normalisation(workdir)
    message = f"mouth crops normalised with the train split's mean {config.roi_mean:.3f}, std {config.roi_std:.3f}"
    if weights is None:
        reporter.warn(f"the lip encoder starts UNTRAINED (no --lip-weights) and is fine-tuned with the enhancer on "
                      f"{message}")
    else:
        reporter.info(f"the lip encoder starts from the LRW weights {weights} and is fine-tuned on {message}")
    return encoder


def _check_coverage(pairs: WaveformPairs, items: dict, feature: str, remedy: str, fallback: str,
                    reporter: Reporter) -> None:
    """Training utterances without a feature still train (`fallback`); none having it is a mistake."""
    missing = sum(uid not in items for uid in pairs.ids)
    if missing == len(pairs.ids):
        raise BadInput(f"no training utterance has {feature}: {remedy}")
    if missing:
        reporter.warn(f"{missing} of {len(pairs.ids)} training utterances lack {feature}: they train {fallback}")


def _validation(workdir: Workdir) -> WaveformPairs | None:
    try:
        return WaveformPairs(workdir, "valid")
    except BadInput:
        return None


def _where(device: torch.device, loop: LoopOptions) -> str:
    """The device, and how a step's crops add up when there is more to it than one batch."""
    ranks = distributed.world_size()
    where = f"{device}" if ranks == 1 else f"{ranks} processes ({device.type})"
    if ranks * loop.grad_accum == 1:
        return where
    return (f"{where}; {loop.batch_size * ranks * loop.grad_accum} crops per step ({loop.batch_size} per batch x "
            f"{ranks} processes x {loop.grad_accum} accumulated)")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # numpy's legacy seed is 32 bits; --seed may be up to 64
    torch.manual_seed(seed)
