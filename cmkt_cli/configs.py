"""Option values -> the pipelines' option objects, with the checks that turn a bad value into exit 2.

Imported by a command when it runs (it loads torch), never at CLI start-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from pipelines import choices
from pipelines.data.mixing import parse_snrs
from pipelines.data.splits import parse_fractions
from pipelines.devices import resolve_device
from pipelines.enhancer import EnhancerConfig
from pipelines.errors import BadInput, check_choice
from pipelines.inference import SamplingOptions
from pipelines.models.subbands import parse_band
from pipelines.ssl.encoders import parse_layers
from pipelines.pretrained import model_file
from pipelines.stages.prepare import PrepareOptions
from pipelines.stages.train import TrainOptions
from pipelines.training.augment import AugmentOptions
from pipelines.training.loop import LoopOptions


def prepare_options(sources, noise, snr, seed, split, split_by, speaker_regex, transcripts, language,
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


def parse_duration(text: Optional[str]) -> Optional[float]:
    """'90', '90s', '30m', '2h' -> seconds."""
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError):
        raise BadInput(f"--max-time expects seconds or a duration like 30m or 2h, got {text!r}") from None


def train_options(*, modality, preset, batch_size, lr, max_steps, max_epochs, max_time, seed, device, crop_frames,
                   hop_length, validate_every, val_steps, resume, run_name, force,
                   parametrisation="noise", fusion="none", misalign_shift=0.0, align_weight=None,
                   transfer_warmup=0, adapter_beta=0.1, lip_encoder="frozen", lip_weights=None, grad_accum=1, val_sampler="pc",
                   val_utterances=4, denoiser_output="direct", lr_decay_steps=0, init_from=None, omega=0.5,
                   magnitude_weight=0.0, select_by="pesq", denoiser_loss=None, augment=None, teacher=None, kd="none",
                   kd_weight=1.0, subband_teacher=None, ssl="none", ssl_model=None, ssl_layers=None) -> TrainOptions:
    if lr_decay_steps and (max_steps is None or lr_decay_steps > max_steps):
        raise BadInput("--lr-decay-steps needs --max-steps at least as large (the decay ends there)")
    if transfer_warmup and fusion == "none":
        raise BadInput("--transfer-warmup warms up a knowledge transfer: give --transfer ot or --transfer mhca")
    check_choice("--lip-encoder", lip_encoder, tuple(choices.LIP_ENCODERS))
    if lip_encoder == "finetune" and modality == "a":
        raise BadInput("--lip-encoder finetune trains the visual branch: use it with --modality av or avl")
    resolve_device(device)  # a bad --device is an error now, not after the data is loaded
    return TrainOptions(
        model=EnhancerConfig(preset=preset, hop_length=hop_length or 0, modality=modality,
                             score_parametrisation=parametrisation, denoiser_output=denoiser_output,
                             fusion=fusion, align_weight=align_weight,
                             adapter_beta=adapter_beta, lip_finetune=lip_encoder == "finetune", omega=omega,
                             denoiser_magnitude_weight=magnitude_weight, denoiser_loss=denoiser_loss or "",
                             distillation=kd, distillation_weight=kd_weight,
                             subband=list(parse_band(subband_teacher)) if subband_teacher else [], ssl=ssl),
        loop=LoopOptions(batch_size=batch_size, learning_rate=lr, crop_frames=crop_frames, max_steps=max_steps, max_epochs=max_epochs,
                         max_time=parse_duration(max_time), validate_every=validate_every,
                         validation_sampling=SamplingOptions(val_sampler, val_steps, "ald", 0.5),
                         validation_utterances=val_utterances, lr_decay_steps=lr_decay_steps, seed=seed,
                         misalign_shift=misalign_shift, transfer_warmup=transfer_warmup, grad_accum=grad_accum,
                         select_by=select_by,
                         augment=AugmentOptions.parse(augment)),
        run_name=run_name, device=device, resume=resume, force=force, lip_weights=lip_weights,
        init_from=model_path(None if init_from is None else str(init_from)),
        teachers=[model_path(name.strip()) for name in teacher.split(",")] if teacher else [],
        ssl_model=ssl_model, ssl_layers=parse_layers(ssl_layers) if ssl_layers is not None else None)


def model_path(name: Optional[str]) -> Optional[Path]:
    """A model given by path or by a bundled model's name (`bundled`: the default), or none."""
    return None if name is None else model_file(name)
