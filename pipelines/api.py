"""cmkt as a Python library: load a model, enhance arrays or files, prepare a workdir, score arrays.

The stable entry points for code that is not the CLI (notebooks, benchmarks, other tools): a thin layer over the
enhancement engine (pipelines/enhancing.py) that `cmkt enhance` runs too, so both give the same output for the
same file. docs/api.md has a runnable example.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from pipelines.artifacts import Workdir, WorkdirLock
from pipelines.audio_io import SAMPLE_RATE
from pipelines.enhancing import ENHANCED_SUFFIX
from pipelines.enhancing import Engine as Model
from pipelines.inference import BATCH_SIZE, SamplingOptions
from pipelines.metrics import intrusive_metrics
from pipelines.reporting import Reporter
from pipelines.stages.prepare import PrepareOptions
from pipelines.stages.prepare import prepare as prepare_stage
from pipelines.stage_report import StageReport

__all__ = ["Model", "SamplingOptions", "enhance", "enhance_file", "enhance_many", "load_model", "prepare", "score"]


def load_model(checkpoint: str | Path | None = None, device: str = "cpu") -> Model:
    """The bundled default (None), a bundled model by name (`cmkt models`), a `cmkt train` checkpoint, a `cmkt
    export`/`import-checkpoint` model file, or an SGMSE+/StoRM/GTCRN checkpoint, on `device` ("cpu", "cuda",
    "auto"); it enhances with its card's sampler."""
    return Model.load(checkpoint, device=device)


def enhance(model: Model, noisy: np.ndarray, sample_rate: int = SAMPLE_RATE, sampling: SamplingOptions | None = None,
            seed: int = 0) -> np.ndarray:
    """An enhanced copy of a mono waveform (any rate and length; returned at the same rate and length).
    `sampling`: None for the model card's sampler, e.g. `SamplingOptions("ode", 10)` for another."""
    return enhance_many(model, [noisy], sample_rate, sampling, seed)[0]


def enhance_many(model: Model, noisy: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE,
                 sampling: SamplingOptions | None = None, seed: int = 0,
                 batch_size: int = BATCH_SIZE) -> list[np.ndarray]:
    """`enhance` for several waveforms at once; each output is the one `enhance` gives for it alone."""
    return replace(model.with_sampling(sampling), batch_size=batch_size).enhance(list(noisy), sample_rate, seed)


def enhance_file(model: Model, path: str | Path, out: str | Path | None = None,
                 sampling: SamplingOptions | None = None, seed: int = 0) -> Path:
    """Enhance an audio (or video) file into `out` (default: NAME_enhanced.wav beside it), at its own rate and in
    its own sample format (16-bit in, 16-bit out): the file `cmkt enhance FILE` writes."""
    path = Path(path)
    target = Path(out) if out is not None else path.with_name(f"{path.stem}{ENHANCED_SUFFIX}.wav")
    model.with_sampling(sampling).enhance_file(path, target, seed)
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
