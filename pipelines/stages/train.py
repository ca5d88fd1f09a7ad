"""`cmkt train`: fit the predictive denoiser and the score model on a prepared workdir.

A run lives in WORKDIR/train/RUN/ (last.ckpt, best.ckpt, metrics.csv, tensorboard/,
curves.png). Starting a run where one exists is refused unless --resume (continue
from last.ckpt, e.g. with a larger --max-steps) or --force (start over), so finished
training is never overwritten by accident.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipelines.artifacts.workdir import Workdir
from pipelines.enhancer import EnhancerConfig, SpeechEnhancer, count_parameters
from pipelines.errors import BadInput
from pipelines.reporting import Reporter
from pipelines.training.checkpoint import TrainingState, read_checkpoint
from pipelines.training.data import WaveformPairs
from pipelines.training.loop import LoopOptions, Trainer

MODALITIES = ("a",)


@dataclass
class TrainOptions:
    model: EnhancerConfig = field(default_factory=EnhancerConfig)
    loop: LoopOptions = field(default_factory=LoopOptions)
    run_name: str | None = None
    device: str = "auto"
    resume: bool = False
    force: bool = False


@dataclass
class TrainResult:
    folder: Path
    state: TrainingState
    parameters: int


def run_folder(workdir: Workdir, options: TrainOptions) -> Path:
    name = options.run_name or f"{options.model.modality}-{options.model.preset}-seed{options.loop.seed}"
    return workdir.root / "train" / name


def train(workdir: Workdir, options: TrainOptions, reporter: Reporter) -> TrainResult:
    if options.model.modality not in MODALITIES:
        raise BadInput(f"--modality {options.model.modality!r} is not available yet (available: {', '.join(MODALITIES)})")
    if not any(v is not None for v in (options.loop.max_steps, options.loop.max_epochs, options.loop.max_time)):
        raise BadInput("give a stopping rule: --max-steps, --max-epochs and/or --max-time")
    folder = run_folder(workdir, options)
    last = folder / "last.ckpt"
    if last.exists() and not (options.resume or options.force):
        raise BadInput(f"{folder} already holds a training run: --resume to continue it, --force to start over")
    if options.force and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _seed_everything(options.loop.seed)
    device = _device(options.device)
    payload = read_checkpoint(last) if options.resume and last.exists() else None
    config = EnhancerConfig.from_dict(payload["config"]) if payload else options.model
    model = SpeechEnhancer(config)
    trainer = Trainer(model, WaveformPairs(workdir, "train"), _validation(workdir), folder, options.loop, device,
                      reporter)
    if payload:
        trainer.load(payload)
        reporter.info(f"resuming {folder.name} from step {trainer.state.step}")
    (folder / "config.json").write_text(json.dumps({"model": config.to_dict(), "device": str(device)}, indent=1))
    parameters = count_parameters(model)
    reporter.info(f"training {config.preset} ({parameters / 1e6:.2f} M parameters: denoiser + score network) on "
                  f"{len(trainer.train)} utterances, {device}")
    state = trainer.run(resume=payload is not None)
    return TrainResult(folder, state, parameters)


def _validation(workdir: Workdir) -> WaveformPairs | None:
    try:
        return WaveformPairs(workdir, "valid")
    except BadInput:
        return None


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BadInput(f"--device {name}: no CUDA device is available here")
    return torch.device(name)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
