"""The optimisation loop: crops in, joint loss, Adam, EMA, periodic validation and checkpoints.

Stopping is by --max-steps, --max-epochs or --max-time, whichever comes first. The
validation enhances a few validation utterances with the EMA weights and the real
sampler (PESQ-WB, ESTOI and SI-SDR), and the best checkpoint is the one with the highest
validation score of `select_by` (PESQ unless told: a model can gain PESQ while losing ESTOI).

An optimiser step trains on batch_size x processes x grad_accum crops: `grad_accum`
micro-batches, each a global batch of batch_size crops per process (under torchrun,
pipelines/training/distributed.py), its loss divided by grad_accum so the gradients add up
to the mean over the whole step. Rank 0 validates, logs and checkpoints for all processes.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pesq import pesq
from torch import Tensor
from pystoi import stoi

from pipelines import choices
from pipelines.enhancer import SpeechEnhancer
from pipelines.errors import check_choice
from pipelines.inference import SamplingOptions, enhance_recordings
from pipelines.metrics import si_sdr
from pipelines.reporting import Reporter
from pipelines.audio_io import SAMPLE_RATE
from pipelines.ssl.features import SSLFeatureSet
from pipelines.text.features import TextFeatureSet
from pipelines.video.lip_features import LipFeatureSet
from pipelines.video.lip_track import video_context
from pipelines.checkpoints import TrainingState, save_checkpoint
from pipelines.training import distributed
from pipelines.training.augment import AugmentOptions, Augmenter
from pipelines.training.data import WaveformPairs, random_crops
from pipelines.training.distillation import Teacher
from pipelines.training.ema import EMA
from pipelines.training.log import LOSSES, TrainingLog
from pipelines.training.text_targets import text_batch


VALIDATION_METRICS = tuple(choices.VALIDATION_METRICS)  # what validation measures (means over its utterances)


@dataclass
class LoopOptions:
    batch_size: int = 8
    learning_rate: float = 1e-4
    ema_decay: float = 0.999
    crop_frames: int = 256
    max_steps: int | None = None
    max_epochs: int | None = None
    max_time: float | None = None  # seconds of this invocation
    log_every: int = 10
    validate_every: int = 200
    validation_utterances: int = 4
    validation_seconds: float = 4.0
    validation_sampling: SamplingOptions = SamplingOptions(steps=30)
    seed: int = 0
    misalign_shift: float = 0.0  # seconds; see pipelines/training/text_targets.py
    transfer_warmup: int = 0  # steps over which the transfer weight rises linearly from 0 to alpha (0: alpha at once)
    grad_accum: int = 1  # micro-batches per optimiser step
    lr_decay_steps: int = 0  # the last N steps before max_steps decay the learning rate linearly to a tenth
    select_by: str = "pesq"  # the validation score that picks best.ckpt: one of VALIDATION_METRICS
    augment: AugmentOptions = AugmentOptions()  # new mixtures every step (training/augment.py)

    def __post_init__(self) -> None:
        check_choice("--select-by", self.select_by, VALIDATION_METRICS)

    def learning_rate_at(self, step: int) -> float:
        """Constant, then (with lr_decay_steps) linear to learning_rate / 10 at max_steps: a function of the step
        alone, so a resumed run follows the same schedule."""
        if not self.lr_decay_steps or self.max_steps is None:
            return self.learning_rate
        progress = min(max(step - (self.max_steps - self.lr_decay_steps), 0) / self.lr_decay_steps, 1.0)
        return self.learning_rate * (1.0 - 0.9 * progress)


    def transfer_scale_at(self, step: int) -> float:
        """The share of the transfer weight in force at `step`: a function of the step alone, as the learning rate."""
        return min(step / self.transfer_warmup, 1.0) if self.transfer_warmup else 1.0


class Trainer:
    def __init__(self, model: SpeechEnhancer, train: WaveformPairs, valid: WaveformPairs | None, folder: Path,
                 options: LoopOptions, device: torch.device, reporter: Reporter,
                 text: TextFeatureSet | None = None, lips: tuple[LipFeatureSet, LipFeatureSet | None] | None = None,
                 teacher: Teacher | None = None, provenance: dict | None = None,
                 speech_states: SSLFeatureSet | None = None):
        """`text`: the training split's BERT features, for a fusion; `lips`: train and valid lip frames (av, avl):
        embeddings, or mouth crops when the model fine-tunes its lip encoder; `teacher`: a model to distil from;
        `provenance`: what the weights started from and their licence, kept in every checkpoint for the model card;
        `speech_states`: the train split's cached speech-encoder states (`--ssl frozen`)."""
        self.model, self.train, self.valid, self.text, self.teacher = model.to(device), train, valid, text, teacher
        self.provenance, self.speech_states = provenance or {}, speech_states
        self.lips, self.valid_lips = lips if lips is not None else (None, None)
        self.folder, self.options, self.device, self.reporter = folder, options, device, reporter
        self.ema = EMA(self.model, options.ema_decay)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=options.learning_rate)
        self.state = TrainingState()
        self.generator = torch.Generator().manual_seed(options.seed)
        self.crop_samples = (options.crop_frames - 1) * model.config.hop_length
        self.augment = Augmenter(options.augment, folder if distributed.is_main() else None, options.seed)
        # crops without text leave the aligners without gradients; omega 1 leaves the score network without them
        self.replica = distributed.replicate(self.model, partly_unused=text is not None or model.config.omega >= 1.0)
        self.micro_batch = options.batch_size * distributed.world_size()  # crops of a micro-batch, all ranks
        self.global_batch = self.micro_batch * options.grad_accum  # crops of an optimiser step

    def load(self, payload: dict) -> None:
        """Continue from a checkpoint: weights, EMA, optimiser, counters and random state."""
        self.model.load_state_dict(payload["model"])
        self.ema.load_state_dict(payload["ema"], updates=payload["state"]["step"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.state = TrainingState(**payload["state"])
        self.generator.set_state(payload["generator"])

    def run(self, resume: bool) -> TrainingState:
        options = self.options
        log = TrainingLog(self.folder, resume) if distributed.is_main() else None
        started, next_log = time.monotonic(), self.state.step + options.log_every
        running: dict[str, list[float]] = defaultdict(list)
        steps_per_epoch = max(len(self.train) // self.global_batch, 1)
        total = options.max_steps or (options.max_epochs or 1) * steps_per_epoch
        self.model.train()
        try:
            with self.reporter.progress(max(total - self.state.step, 0), "train") as bar:
                while not distributed.any_rank(self._should_stop(started, steps_per_epoch)):
                    for losses in self._optimizer_step():
                        for name, value in losses.items():
                            running[name].append(value)
                    bar.advance()
                    if self.state.step >= next_log:
                        means = distributed.mean_over_ranks(running, LOSSES)
                        if log is not None:
                            log.write(step=self.state.step, epoch=self.state.epoch,
                                      seconds=self.state.seconds + self._seconds(started),  # since the run began
                                      lr=options.learning_rate_at(self.state.step), **means)
                        running = defaultdict(list)
                        next_log += options.log_every
                    if self.state.step % options.validate_every == 0:
                        self._validate_and_save(log, started)
        except KeyboardInterrupt:
            if log is not None:
                self._save("last.ckpt", started)
                log.close()
            raise
        if self.state.step != self.state.validated_step:
            self._validate_and_save(log, started)
        if distributed.world_size() > 1:
            digest = distributed.agreed_digest(self.model, self.generator)
            self.reporter.info(f"all {distributed.world_size()} processes hold the same weights ({digest})")
        if log is not None:
            log.close()
        self.state.seconds += self._seconds(started)
        return self.state

    def _optimizer_step(self) -> list[dict[str, float]]:
        """grad_accum micro-batches, then Adam and the EMA; the losses of each micro-batch (this rank's)."""
        self.optimizer.zero_grad(set_to_none=True)
        accumulate = self.options.grad_accum
        losses = [self._step(last=k == accumulate - 1) for k in range(accumulate)]
        for group in self.optimizer.param_groups:
            group["lr"] = self.options.learning_rate_at(self.state.step)
        self.optimizer.step()
        self.ema.update(self.model)
        self.state.step += 1
        self.state.epoch = self.state.step * self.global_batch // len(self.train)
        return losses

    def _step(self, last: bool) -> dict[str, float]:
        """One micro-batch: forward and backward on this rank's share of a global batch (gradients synced if `last`).

        Every rank draws the whole global batch (batch_size crops per rank) from the same
        seeded generator, so the generators stay equal and together the ranks train on
        distinct crops; rank r keeps items r, r + W, ... (one process: all of them, as ever).
        """
        share = distributed.share()
        order = torch.randperm(len(self.train), generator=self.generator)[: self.micro_batch].tolist()
        clean, noisy, starts = random_crops(self.train, order, self.crop_samples, self.generator,
                                            peak_normalise=self.model.config.normalisation == "peak")
        clean, noisy = self.augment(clean, noisy, self.generator)
        text = None
        if self.text is not None:
            batch = text_batch(self.text, [self.train.ids[i] for i in order], starts, self.crop_samples,
                               self.options.misalign_shift, self.generator)
            text = {name: value[share].to(self.device) for name, value in batch.items()}
        order, starts, clean, noisy = order[share], starts[share], clean[share], noisy[share]
        video = None
        if self.lips is not None:
            seconds = self.crop_samples / SAMPLE_RATE
            batch = video_context([self.lips.items.get(self.train.ids[i]) for i in order],
                                  [(start / SAMPLE_RATE, seconds) for start in starts], self.lips.shape)
            video = {name: value.to(self.device) for name, value in batch.items()}
        clean, noisy = clean.to(self.device), noisy.to(self.device)
        states = self._cached_states(order, starts)
        teacher = self.teacher(noisy, self._device_generator()) if self.teacher is not None else None
        with distributed.deferred_sync(self.replica, defer=not last):
            losses = self.replica(clean, noisy, self._device_generator(), text, video, teacher,
                                  self.options.transfer_scale_at(self.state.step), states)
            if not torch.isfinite(losses["loss"]):
                raise FloatingPointError(f"training loss became {losses['loss'].item()} at step {self.state.step}")
            (losses["loss"] / self.options.grad_accum).backward()
        return {name: value.item() for name, value in losses.items()}

    def _cached_states(self, order: list[int], starts: list[int]) -> Tensor | None:
        """The crops' speech-encoder states (B, L, frames, D) from the cache, at the crops' STFT frames."""
        if self.speech_states is None:
            return None
        config, cache = self.model.config, self.speech_states
        rows = [cache.layers.index(layer) for layer in config.ssl_layers]
        frames = self.options.crop_frames
        crops = [cache.crop(self.train.ids[i], round(start / config.hop_length), frames)[rows]
                 for i, start in zip(order, starts)]
        return torch.from_numpy(np.stack(crops)).to(self.device)

    def _device_generator(self) -> torch.Generator:
        """The losses' noise and times: from the shared generator on one CPU process, else from a generator of
        this rank's own seed drawn from it, so ranks draw different noise and the shared state stays equal."""
        if self.device.type == "cpu" and distributed.world_size() == 1:
            return self.generator
        seeds = torch.randint(0, 2**62, (distributed.world_size(),), generator=self.generator)
        return torch.Generator(device=self.device).manual_seed(int(seeds[distributed.rank()]))

    def _should_stop(self, started: float, steps_per_epoch: int) -> bool:
        o = self.options
        if o.max_steps is not None and self.state.step >= o.max_steps:
            return True
        if o.max_epochs is not None and self.state.step >= o.max_epochs * steps_per_epoch:
            return True
        return o.max_time is not None and time.monotonic() - started >= o.max_time

    def _validate_and_save(self, log: TrainingLog | None, started: float) -> None:
        """Rank 0 validates and saves (`log` is None elsewhere); all ranks take its numbers and keep the same state."""
        self.state.validated_step = self.state.step
        scores = distributed.from_main(self.validate)
        value = scores[self.options.select_by]
        improved = math.isnan(value) or value > self.state.best_metric
        if improved and not math.isnan(value):
            self.state.best_metric = value
        if log is None:
            return
        log.write(step=self.state.step, epoch=self.state.epoch, seconds=self.state.seconds + self._seconds(started),
                  **{f"val_{name}": score for name, score in scores.items()})
        if not math.isnan(value):
            self.reporter.info(f"step {self.state.step}: validation PESQ {scores['pesq']:.3f}, "
                               f"ESTOI {scores['estoi']:.3f}, SI-SDR {scores['si_sdr']:.2f} dB")
        if improved:
            self._save("best.ckpt", started)
        self._save("last.ckpt", started)

    def validate(self) -> dict[str, float]:
        """Mean PESQ-WB, ESTOI and SI-SDR of the EMA model on validation utterances spread over the split (NaN if
        none)."""
        if self.valid is None or len(self.valid) == 0:
            return {name: float("nan") for name in VALIDATION_METRICS}
        limit = int(self.options.validation_seconds * 16_000)
        count = min(self.options.validation_utterances, len(self.valid))
        picks = [k * len(self.valid) // count for k in range(count)]  # spread over the split (ids sort by voice)
        noisy = [self.valid.noisy[i][:limit].numpy() for i in picks]
        clean = [self.valid.clean[i][:limit].numpy() for i in picks]
        lips = None
        if self.valid_lips is not None:
            lips = [self.ema.model.embed_track(self.valid_lips.items.get(self.valid.ids[i])) for i in picks]
        sampling = self.options.validation_sampling if self.model.config.generative else SamplingOptions("predictive")
        enhanced, _ = enhance_recordings(self.ema.model, noisy, sampling,
                                         batch_size=count, chunk_seconds=self.options.validation_seconds,
                                         seed=self.options.seed, lips=lips)
        scores: dict[str, list[float]] = defaultdict(list)
        for reference, estimate in zip(clean, enhanced):
            scores["si_sdr"].append(si_sdr(reference, estimate))
            scores["estoi"].append(float(stoi(reference, estimate, 16_000, extended=True)))
            try:
                scores["pesq"].append(pesq(16_000, reference, estimate, "wb"))
            except Exception:  # a speechless validation crop: leave it out of the PESQ mean
                continue
        self.model.train()
        return {name: float(np.mean(scores[name])) if scores[name] else float("nan") for name in VALIDATION_METRICS}

    def _save(self, name: str, started: float) -> None:
        state = TrainingState(**vars(self.state))
        state.seconds += self._seconds(started)
        loop = {k: v for k, v in vars(self.options).items() if k not in ("validation_sampling", "augment")}
        loop["augment"] = list(self.options.augment.kinds)
        save_checkpoint(self.folder / name, self.model, self.ema.model, self.optimizer, state, self.generator,
                        {"loop": {**loop, "world_size": distributed.world_size()}, "provenance": self.provenance})

    def _seconds(self, started: float) -> float:
        return time.monotonic() - started
