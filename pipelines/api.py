"""cmkt as a Python library: load a model, enhance arrays or files, prepare a workdir, score arrays.

The stable entry points for code that is not the CLI (notebooks, benchmarks, other tools); they load models and
choose samplers exactly as `cmkt enhance` does. docs/api.md has a runnable example.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soxr

from pipelines.artifacts import Workdir, WorkdirLock
from pipelines.audio_io import SAMPLE_RATE, load_audio, to_source, write_audio
from pipelines.checkpoints import load_for_inference
from pipelines.devices import resolve_device
from pipelines.enhancer import SpeechEnhancer
from pipelines.inference import SamplingOptions, enhance_recordings
from pipelines.metrics import intrusive_metrics
from pipelines.pretrained import card_sampling, default_model
from pipelines.reporting import Reporter
from pipelines.stages.prepare import PrepareOptions
from pipelines.stages.prepare import prepare as prepare_stage
from pipelines.stages.runner import StageReport

__all__ = ["Model", "SamplingOptions", "enhance", "enhance_file", "enhance_many", "load_model", "prepare", "score"]


@dataclass
class Model:
    """A model ready to enhance: the networks, where they came from, and the sampler its card recommends."""

    network: SpeechEnhancer
    path: Path
    sampling: SamplingOptions

    def sampling_for(self, chosen: SamplingOptions | None) -> SamplingOptions:
        return card_sampling(self.network.card, chosen)


def load_model(checkpoint: str | Path | None = None, device: str = "cpu") -> Model:
    """The bundled model (None), a `cmkt train` checkpoint, a `cmkt export`/`import-checkpoint` model file, or an
    SGMSE+/StoRM .ckpt, on `device` ("cpu", "cuda", "auto")."""
    path = Path(checkpoint) if checkpoint is not None else default_model()
    network = load_for_inference(path, resolve_device(device))
    return Model(network, path, card_sampling(network.card, None))


def enhance(model: Model, noisy: np.ndarray, sample_rate: int = SAMPLE_RATE, sampling: SamplingOptions | None = None,
            seed: int = 0) -> np.ndarray:
    """An enhanced copy of a mono waveform (any rate and length; returned at the same rate and length).
    `sampling`: None for the model card's sampler, e.g. `SamplingOptions("ode", 10)` for another."""
    return enhance_many(model, [noisy], sample_rate, sampling, seed)[0]


def enhance_many(model: Model, noisy: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE,
                 sampling: SamplingOptions | None = None, seed: int = 0, batch_size: int = 4) -> list[np.ndarray]:
    """`enhance` for several waveforms at once (chunks of similar length share a batch)."""
    waveforms = [np.asarray(x, dtype=np.float32) for x in noisy]
    at_16k = [x if sample_rate == SAMPLE_RATE else soxr.resample(x, sample_rate, SAMPLE_RATE, quality="HQ")
              for x in waveforms]
    audible = [k for k, x in enumerate(at_16k) if np.any(x)]  # silence stays silence
    outputs, _ = enhance_recordings(model.network, [at_16k[k] for k in audible], model.sampling_for(sampling),
                                    batch_size, seed=seed)
    enhanced = dict(zip(audible, outputs))
    return [to_source(enhanced.get(k, at_16k[k]), sample_rate, len(x)) for k, x in enumerate(waveforms)]


def enhance_file(model: Model, path: str | Path, out: str | Path | None = None,
                 sampling: SamplingOptions | None = None, seed: int = 0) -> Path:
    """Enhance an audio (or video) file into `out` (default: NAME_enhanced.wav beside it), at its own rate."""
    path = Path(path)
    audio = load_audio(path)
    target = Path(out) if out is not None else path.with_name(f"{path.stem}_enhanced.wav")
    enhanced = enhance_many(model, [audio.samples], SAMPLE_RATE, sampling, seed)[0]
    write_audio(target, to_source(enhanced, audio.source_rate, audio.source_frames), audio.source_rate)
    return target


def prepare(workdir: str | Path, sources: Sequence[str | Path], noise: str | Path | None = None,
            snrs: Sequence[float] = (-5.0, 0.0, 5.0), seed: int = 0,
            fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), quiet: bool = True, **options) -> list[StageReport]:
    """`cmkt prepare`: find utterances, mix (with `noise`) or pair them, cache 16 kHz waveforms and the manifest in
    `workdir`; `options`: the other `PrepareOptions` fields (split_by, transcripts, language, ...)."""
    place = Workdir(Path(workdir)).create()
    chosen = PrepareOptions(sources=[Path(s) for s in sources], noise_dir=Path(noise) if noise else None,
                            snrs=list(snrs), seed=seed, fractions=tuple(fractions), **options)
    with WorkdirLock(place.lock_file):
        return prepare_stage(place, chosen, Reporter(quiet=quiet))


def score(clean: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
    """PESQ (WB, NB), STOI, ESTOI and SI-SDR of `estimate` against `clean` (same length; PESQ-WB needs 16 kHz)."""
    return intrusive_metrics(np.asarray(clean, dtype=np.float64), np.asarray(estimate, dtype=np.float64), sample_rate)
