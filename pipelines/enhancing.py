"""The enhancement engine: a model loaded once, with its card's sampler and attenuation limit, that enhances
waveforms and files. No workdir, no HDF5.

The Python API (pipelines/api.py) is a thin layer over it; `cmkt enhance FILE|DIR` without `-w` runs
`enhance_files` (it writes only the outputs); the workdir stage (pipelines/stages/enhance.py) adds caching,
prepared splits and lip features on top of `Engine.enhance_16k`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import soxr

from pipelines.atomic import add_inputs, check_target, replaced_atomically
from pipelines.audio_io import (SAMPLE_RATE, AudioBlocks, audio_blocks, check_subtype, fit_to_format, load_audio,
                                to_source, write_audio)
from pipelines.checkpoints import load_for_inference
from pipelines.data.layout import media_files
from pipelines.devices import resolve_device
from pipelines.enhancer import SpeechEnhancer
from pipelines.errors import BadInput
from pipelines.inference import BATCH_SIZE, SamplingOptions, enhance_long_recording, enhance_recordings
from pipelines.pretrained import card_sampling, model_file
from pipelines.reporting import Reporter
from pipelines.run_card import RUN_CARD, write_run_card
from pipelines.stage_report import StageReport
from pipelines.streaming import can_stream, enhance_whole

ENHANCED_SUFFIX = "_enhanced"  # noisy.wav -> noisy_enhanced.wav when no output folder is given
LONG_FILE_SECONDS = 60  # longer 16 kHz files are read, enhanced and written block by block


@dataclass
class Engine:
    """A model ready to enhance: the networks, the file they came from, and the sampling they enhance with."""

    network: SpeechEnhancer
    path: Path
    sampling: SamplingOptions
    batch_size: int = BATCH_SIZE  # chunks enhanced together (outputs do not depend on it)
    chunk_seconds: float = 8.0  # memory is bounded by the chunk, not by the recording's length
    precision: str = "fp32"  # or "bf16" autocast (pipelines/speedups.py)

    @classmethod
    def load(cls, model: str | Path | None = None, sampling: SamplingOptions | None = None,
             attenuation_limit: float | None = None, device: str = "cpu", **settings) -> "Engine":
        """`model`: None (the bundled default), a bundled model's name, or any file --ckpt takes. What `sampling`
        and `attenuation_limit` leave open is the model card's (pipelines/pretrained.py `card_sampling`);
        `settings`: batch_size, chunk_seconds, precision."""
        path = model_file(model)
        network = load_for_inference(path, resolve_device(device))
        return cls(network, path, card_sampling(network.card, sampling, attenuation_limit), **settings)

    def with_sampling(self, sampling: SamplingOptions | None) -> "Engine":
        """The same networks with another sampler (None: the card's)."""
        return self if sampling is None else replace(self, sampling=card_sampling(self.network.card, sampling))

    def enhance_16k(self, recordings: list[np.ndarray], seed: int = 0, lips: list | None = None,
                    on_batch: Callable[[int], None] | None = None) -> tuple[list[np.ndarray], int]:
        """Enhanced copies of 16 kHz mono float32 recordings (silent ones come back as they are) and the network
        evaluations used. Each output depends on its own recording only, never on the others."""
        audible = [k for k, x in enumerate(recordings) if np.any(x)]
        if not audible:
            outputs, evaluations = [], 0
        elif can_stream(self.network, self.sampling):  # causal: each recording whole, block by block
            outputs = [self._whole(recordings[k], on_batch) for k in audible]
            evaluations = len(audible)
        else:
            outputs, evaluations = enhance_recordings(
                self.network, [recordings[k] for k in audible], self.sampling, self.batch_size, self.chunk_seconds,
                seed=seed, on_batch=on_batch, lips=None if lips is None else [lips[k] for k in audible],
                precision=self.precision)
        enhanced = dict(zip(audible, outputs))
        return [enhanced.get(k, x) for k, x in enumerate(recordings)], evaluations

    def _whole(self, samples: np.ndarray, on_batch: Callable[[int], None] | None) -> np.ndarray:
        block = max(int(self.chunk_seconds * SAMPLE_RATE), 1)
        blocks = (samples[first:first + block] for first in range(0, len(samples), block))
        enhanced = np.concatenate(list(enhance_whole(self.network, self.sampling, blocks)))
        if on_batch is not None:
            on_batch(1)
        return enhanced

    def enhance(self, noisy: list[np.ndarray], sample_rate: int = SAMPLE_RATE, seed: int = 0) -> list[np.ndarray]:
        """Enhanced copies of mono waveforms at any rate and length, returned at that rate and length."""
        waveforms = [np.asarray(x, dtype=np.float32) for x in noisy]
        at_16k = [x if sample_rate == SAMPLE_RATE else soxr.resample(x, sample_rate, SAMPLE_RATE, quality="HQ")
                  for x in waveforms]
        outputs, _ = self.enhance_16k(at_16k, seed)
        return [to_source(y, sample_rate, len(x)) for y, x in zip(outputs, waveforms)]

    def enhance_file(self, path: Path, target: Path, seed: int = 0, subtype: str | None = None) -> tuple[bool, float]:
        """Enhance an audio (or video) file into `target`, at its rate and length and in its sample format (16-bit
        in, 16-bit out) unless `subtype` is given; returns whether samples beyond full scale were clipped to fit an
        integer format, and the file's duration in seconds."""
        blocks = audio_blocks(path, int(self.chunk_seconds * SAMPLE_RATE), LONG_FILE_SECONDS * SAMPLE_RATE)
        if blocks is not None:
            return self._stream_file(blocks, target, subtype or blocks.subtype, seed), blocks.frames / SAMPLE_RATE
        audio = load_audio(path)
        enhanced = self.check_finite(self.enhance_16k([audio.samples], seed)[0][0], path)
        subtype = subtype or audio.source_subtype
        samples, clipped = fit_to_format(to_source(enhanced, audio.source_rate, audio.source_frames), subtype)
        write_audio(target, samples, audio.source_rate, subtype)
        return clipped, len(audio.samples) / SAMPLE_RATE

    def start_run(self) -> None:
        """Begin counting what a run costs (`speed_facts`)."""
        self.network.speech_encoder_seconds = 0.0

    def speed_facts(self, seconds: float, audio_seconds: float) -> dict:
        """The run card's real-time factor of `seconds` spent on `audio_seconds` of audio since `start_run`; for a
        model with a speech encoder, also the factor without the encoder's share: what the encoder costs."""
        facts = {"real_time_factor": round(seconds / audio_seconds, 4)}
        if self.network.ssl_model is not None:
            facts["real_time_factor_without_speech_encoder"] = round(
                (seconds - self.network.speech_encoder_seconds) / audio_seconds, 4)
        return facts

    def check_finite(self, enhanced: np.ndarray, what: str | Path) -> np.ndarray:
        """`enhanced`, unless it holds nan or inf (e.g. a checkpoint whose weights overflowed in training)."""
        if not np.all(np.isfinite(enhanced)):
            raise BadInput(f"{what}: the model's output is not finite (nan or inf): {self.path} is unusable; "
                           f"nothing written")
        return enhanced

    def _stream_file(self, blocks: AudioBlocks, target: Path, subtype: str, seed: int) -> bool:
        """A long 16 kHz file read, enhanced and written block by block: memory stays bounded; the output is the
        one the whole file gives (frame by frame for a causal model, chunk by chunk for any other)."""
        peak = max((float(np.max(np.abs(block))) for block in blocks), default=0.0)  # a first, cheap pass
        if not peak:
            enhanced_blocks = iter(blocks)  # silence comes back as it is, as from `enhance_16k`
        elif can_stream(self.network, self.sampling):
            enhanced_blocks = enhance_whole(self.network, self.sampling, blocks)
        else:
            enhanced_blocks = enhance_long_recording(self.network, blocks, blocks.frames, peak, self.sampling,
                                                     self.batch_size, self.chunk_seconds, seed=seed,
                                                     precision=self.precision)
        clipped = False
        with replaced_atomically(target) as partial, sf.SoundFile(partial, "w", SAMPLE_RATE, 1, subtype,
                                                                  format="WAV") as out:
            for enhanced in enhanced_blocks:
                samples, clipped_here = fit_to_format(self.check_finite(enhanced, blocks.path), subtype)
                clipped = clipped or clipped_here
                out.write(samples)
        return clipped


def write_engine_card(out_dir: Path, engine: Engine, facts: dict) -> None:
    """model.json in an output folder: which model and sampler made its files (`cmkt report` shows it), + `facts`."""
    write_run_card(out_dir, {"checkpoint": str(engine.path.resolve()), "name": engine.network.card.get("name",
                             engine.path.stem), "sampler": engine.sampling.tag, "sampling": engine.sampling.to_dict(),
                             "model_card": engine.network.card, **facts})


def output_targets(inputs: Path, out_dir: Path | None) -> list[tuple[str, Path, Path]]:
    """(id, input, output) of one file or every audio/video file under a folder: `out_dir` keeps the relative names
    (.wav); without it, one file is written beside itself as NAME_enhanced.wav. Checked before any work: no output
    over an input or through a symbolic link."""
    if out_dir is None and not inputs.is_file():
        raise BadInput(f"{inputs}: enhancing a folder needs an output folder (-o DIR)")
    found = []
    for uid, path, relative in media_files(inputs, "enhance"):
        target = (out_dir / relative.with_suffix(".wav") if out_dir is not None
                  else path.with_name(f"{path.stem}{ENHANCED_SUFFIX}.wav"))
        add_inputs([path])
        found.append((uid, path, check_target(target)))
    return found


def enhance_files(engine: Engine, inputs: Path, out_dir: Path | None, reporter: Reporter, force: bool = False,
                  seed: int = 0, subtype: str | None = None, plot: bool = False) -> tuple[StageReport, list[Path]]:
    """Enhance files one at a time, writing only their outputs (atomically, so runs writing one folder never
    corrupt each other's files); an output newer than its input is up to date and kept unless `force`. `plot`:
    NAME.png beside each output (noisy and enhanced spectrograms, DNSMOS)."""
    check_subtype(subtype)
    targets = output_targets(inputs, out_dir)
    for _, _, target in targets if plot else ():
        check_target(target.with_suffix(".png"))
    if out_dir is not None:
        check_target(out_dir / RUN_CARD)
    report = StageReport("enhance", inputs.name)
    engine.start_run()
    started, audio_seconds = time.perf_counter(), 0.0
    with reporter.progress(len(targets), "enhance") as bar:
        for uid, path, target in targets:
            if not force and target.exists() and target.stat().st_mtime >= path.stat().st_mtime:
                report.cached += 1
            else:
                try:
                    clipped, seconds = engine.enhance_file(path, target, seed, subtype)
                    audio_seconds += seconds
                    if clipped:
                        reporter.warn(f"{uid}: the enhanced audio exceeds full scale and was clipped to the input's "
                                      f"integer sample format (--subtype FLOAT keeps it)")
                    if plot:
                        from pipelines.compare import compare  # scoring libraries: loaded only for pictures

                        compare(uid, {"noisy": load_audio(path).samples, "enhanced": load_audio(target).samples},
                                None, target.with_suffix(".png"))
                    report.computed += 1
                except BadInput as err:
                    report.failed.append((uid, str(err)))
                    reporter.warn(str(err))
            bar.advance()
    if out_dir is not None and report.computed:
        seconds = time.perf_counter() - started  # the whole run: reading, enhancing, writing
        write_engine_card(out_dir, engine, engine.speed_facts(seconds, audio_seconds) if audio_seconds
                          else {"real_time_factor": None})
    if report.cached:
        reporter.info(f"{report.cached} outputs newer than their inputs were kept (--force enhances them again)")
    return report, [target for _, _, target in targets]
