"""Whisper's audio encoder as a speech representation model: its log-mel front end, two convolutions and
transformer blocks, over clips of any length up to 30 s.

The offline default of `featurize --ssl` is the encoder of the Whisper tiny.en weights that `transcribe` already
loads (CTranslate2 format, re-keyed by pipelines/text/whisper_rekey.py; an openai-whisper `.pt` works too). The
module names match openai-whisper's, so its state dict loads as it is. One difference on purpose: Whisper pads
every input to 30 s, while here a clip is encoded at its own length (the positional embedding cut to its frames),
so a 2 s training crop costs 2 s of attention, not 30 s. Over a full 30 s window the two are the same (tested).
Frames: 10 ms mel hops, halved by the second convolution: one hidden state per 20 ms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipelines.errors import BadInput

SAMPLE_RATE, N_FFT, HOP = 16_000, 400, 160
FRAME_SECONDS = 2 * HOP / SAMPLE_RATE  # 20 ms per hidden state
MAX_SECONDS = 30.0
HEAD_WIDTH = 64  # channels per attention head in every Whisper size (tiny 384 = 6 x 64 ... large 1280 = 20 x 64)


def mel_filters(n_mels: int, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) Slaney-style mel filters (area-normalised triangles on the Slaney mel scale),
    the bank Whisper's front end was trained with."""
    def hz_to_mel(hz):
        hz = np.asarray(hz, dtype=np.float64)
        linear = hz / (200.0 / 3)
        log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(hz >= 1000.0, log_part, linear)

    def mel_to_hz(mel):
        mel = np.asarray(mel, dtype=np.float64)
        return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))

    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    bank = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return bank.astype(np.float32)


class AttentionBlock(nn.Module):
    """Pre-norm self-attention and MLP, with openai-whisper's parameter names (`attn.query`, `mlp.0`, ...)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.attn = nn.Module()
        self.attn.query, self.attn.key = nn.Linear(width, width), nn.Linear(width, width, bias=False)
        self.attn.value, self.attn.out = nn.Linear(width, width), nn.Linear(width, width)
        self.attn_ln, self.mlp_ln = nn.LayerNorm(width), nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: Tensor) -> Tensor:
        batch, frames, width = x.shape
        h = self.attn_ln(x)
        q, k, v = (part(h).view(batch, frames, self.heads, -1).transpose(1, 2)
                   for part in (self.attn.query, self.attn.key, self.attn.value))
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, frames, width)
        x = x + self.attn.out(attended)
        return x + self.mlp(self.mlp_ln(x))


class WhisperEncoder(nn.Module):
    """Waveforms (B, N) at 16 kHz -> hidden states (B, layers + 1, N // 320, width): the input to the first block
    (convolutions + positions) and every block's output, the last one after the final LayerNorm."""

    frame_seconds = FRAME_SECONDS

    def __init__(self, n_mels: int, context: int, width: int, heads: int, layers: int):
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, width, 3, padding=1)
        self.conv2 = nn.Conv1d(width, width, 3, stride=2, padding=1)
        self.register_buffer("positional_embedding", torch.zeros(context, width))
        self.blocks = nn.ModuleList(AttentionBlock(width, heads) for _ in range(layers))
        self.ln_post = nn.LayerNorm(width)
        self.register_buffer("mel", torch.from_numpy(mel_filters(n_mels)), persistent=False)
        self.register_buffer("hann", torch.hann_window(N_FFT), persistent=False)
        self.width, self.layers = width, layers + 1
        self.window = context * 2 * HOP  # samples, 30 s: the positions Whisper was trained with

    def log_mel(self, wave: Tensor) -> Tensor:
        """Whisper's features: power spectrum of 25 ms Hann frames every 10 ms, mel, log10, floored at 8 (80 dB)
        below each clip's peak, scaled to about [-1, 1]; the last frame dropped as Whisper does."""
        spectrum = torch.stft(wave, N_FFT, HOP, window=self.hann, return_complex=True)[..., :-1].abs() ** 2
        log_spec = torch.clamp(self.mel @ spectrum, min=1e-10).log10()
        log_spec = torch.maximum(log_spec, log_spec.amax(dim=(-2, -1), keepdim=True) - 8.0)
        return (log_spec + 4.0) / 4.0

    def forward(self, wave: Tensor) -> Tensor:
        frames = wave.shape[-1] // (2 * HOP)
        if frames > self.positional_embedding.shape[0]:
            raise BadInput(f"the Whisper encoder takes at most {MAX_SECONDS:.0f} s at once, got "
                           f"{wave.shape[-1] / SAMPLE_RATE:.1f} s")
        x = F.gelu(self.conv1(self.log_mel(wave)))
        x = F.gelu(self.conv2(x)).transpose(1, 2)[:, :frames]
        x = x + self.positional_embedding[:frames]
        states = [x]
        for block in self.blocks:
            x = block(x)
            states.append(x)
        states[-1] = self.ln_post(x)
        return torch.stack(states, dim=1)


def load_whisper_encoder(path: Path) -> WhisperEncoder:
    """The encoder of a Whisper model: a CTranslate2 folder (`model.bin`, as faster-whisper reads) or an
    openai-whisper `.pt` checkpoint, read without unpickling code (weights_only)."""
    if path.is_dir():
        from pipelines.text.whisper_rekey import openai_whisper_checkpoint

        checkpoint = openai_whisper_checkpoint(path)
        state = {k: torch.from_numpy(v) for k, v in checkpoint["model_state_dict"].items()}
        dims = checkpoint["dims"]
    else:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            state, dims = checkpoint["model_state_dict"], checkpoint["dims"]
        except Exception as err:
            raise BadInput(f"{path}: not a Whisper checkpoint ({type(err).__name__})") from None
    encoder = WhisperEncoder(dims["n_mels"], dims["n_audio_ctx"], dims["n_audio_state"], dims["n_audio_head"],
                             dims["n_audio_layer"])
    ours = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    encoder.load_state_dict(ours)
    return encoder.eval()


def is_whisper_encoder_state(state: dict[str, Tensor]) -> bool:
    return {"conv1.weight", "positional_embedding", "ln_post.weight"} <= state.keys()


def whisper_encoder_from_state(state: dict[str, Tensor]) -> WhisperEncoder:
    """The encoder shaped by its own state dict (as a model file embeds it), so enhancing with a model file reads no
    Whisper model besides: the sizes come from the tensors' shapes, the heads from HEAD_WIDTH. Weights not loaded
    here: the model's load_state_dict does that."""
    width, n_mels, _ = state["conv1.weight"].shape
    if width % HEAD_WIDTH:
        raise ValueError(f"a Whisper encoder's width is a multiple of {HEAD_WIDTH} channels, this one's is {width}")
    context = state["positional_embedding"].shape[0]
    layers = len({key.split(".")[1] for key in state if key.startswith("blocks.")})
    return WhisperEncoder(n_mels, context, width, width // HEAD_WIDTH, layers).eval()
