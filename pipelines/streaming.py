"""Frame-by-frame enhancement with a causal model: `cmkt enhance - -o -` reads audio as it arrives on standard
input and writes the enhanced audio on standard output (`arecord ... | cmkt enhance - -o - | aplay ...`).

The model's centred STFT is rebuilt one frame at a time: the first frame reflects the start of the signal, as
torch.stft does, and once the input ends the last frames reflect its end, so the stream equals the file enhanced
whole (`Engine.enhance` on a recording of up to one chunk, 8 s), up to float rounding. The network carries its
state from frame to frame (`SpeechEnhancer.denoise(stream=...)`). Algorithmic latency: n_fft samples (a frame is
complete, then its first hop is final), 512 samples = 32 ms for the conv-recurrent presets.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterable, Iterator

import numpy as np
import torch

from pipelines.audio_io import SAMPLE_RATE
from pipelines.enhancer import SpeechEnhancer
from pipelines.errors import BadInput
from pipelines.inference import SamplingOptions

PCM_SCALE = 32768.0


def can_stream(network: SpeechEnhancer, sampling: SamplingOptions) -> bool:
    """A causal predictive model that keeps the input's level (no peak normalisation), with its one sampler."""
    return not why_not_streamable(network, sampling)


def why_not_streamable(network: SpeechEnhancer, sampling: SamplingOptions) -> str:
    """What stops the model from streaming, in words ('' if nothing does)."""
    if network.config.normalisation != "none":
        return "it normalises the input's level"
    if sampling.sampler != "predictive":
        return f"sampler {sampling.sampler} is not the predictive one"
    return network.why_not_causal


class FrameStream:
    """Push samples in (`push`), take enhanced samples out; `finish` at the end of the input flushes the rest."""

    def __init__(self, network: SpeechEnhancer, sampling: SamplingOptions) -> None:
        reason = why_not_streamable(network, sampling)
        if reason:
            raise BadInput(f"streaming needs a causal model that keeps the input's level, with the predictive sampler "
                           f"(a conv-recurrent one, such as cmkt-gtcrn-debian): not this one, {reason}")
        self.network, self.share = network, sampling.noisy_share
        self.spec = network.spec
        self.n_fft, self.hop = self.spec.n_fft, self.spec.hop_length
        self.half = self.n_fft // 2
        self.analysis = self.spec.window(torch.zeros(1))  # float32, as the file's STFT uses it
        self.window = self.analysis.numpy().astype(np.float64)
        self.state: dict = {}
        self.received = np.zeros(0, dtype=np.float32)  # input not yet framed (before the first frame: all of it)
        self.dry = np.zeros(0, dtype=np.float32)  # input samples whose output is not out yet (attenuation limit)
        self.tail = np.zeros(0, dtype=np.float32)  # the last half + 1 input samples, for the end's reflection
        self.padded: np.ndarray | None = None  # the reflect-padded signal from the next frame's start on
        self.sum = np.zeros(self.n_fft)  # overlap-add of the frames' outputs from the next frame's start on
        self.envelope = np.zeros(self.n_fft)  # their summed squared windows, as torch.istft divides by
        self.skip = self.half  # the padding's outputs, never sent
        self.total = 0  # input samples so far
        self.frames_done = 0

    @property
    def latency(self) -> int:
        """Samples between an input sample and its output, at most."""
        return self.n_fft

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples, dtype=np.float32)
        self.total += len(samples)
        self.dry = np.concatenate([self.dry, samples])
        self.tail = np.concatenate([self.tail, samples])[-(self.half + 1):]
        if self.padded is None:
            self.received = np.concatenate([self.received, samples])
            if len(self.received) <= self.half:
                return np.zeros(0, dtype=np.float32)
            start = self.received[self.half:0:-1]  # torch.stft's reflect padding
            self.padded, self.received = np.concatenate([start, self.received]), np.zeros(0, dtype=np.float32)
        else:
            self.padded = np.concatenate([self.padded, samples])
        return self._frames(self._ready())

    def finish(self) -> np.ndarray:
        """The rest of the output, once no more input comes (the end is reflected, as torch.stft does)."""
        if self.padded is None:  # shorter than half a frame: enhanced in one go
            return self._whole(self.received)
        end = self.tail[-2:-(self.half + 2):-1]  # torch.stft's reflect padding at the end
        self.padded = np.concatenate([self.padded, end])
        out = self._frames(self.total // self.hop + 1 - self.frames_done)  # the centred STFT's frame count
        remaining = len(self.dry)  # covered by the last frames only
        rest = np.divide(self.sum[:remaining], self.envelope[:remaining], out=np.zeros(remaining),
                         where=self.envelope[:remaining] > 1e-11)
        return np.concatenate([out, self._mixed(rest)])

    def _ready(self) -> int:
        """Frames whose samples have all arrived."""
        return max((len(self.padded) - self.n_fft) // self.hop + 1, 0)

    def _frames(self, count: int) -> np.ndarray:
        """Run the next `count` frames through the network in one call (it carries its state across calls) and
        overlap-add them; returns the samples that became final, attenuation limit applied."""
        count = max(count, 0)
        n, hop = self.n_fft, self.hop
        if count:
            frames = np.lib.stride_tricks.sliding_window_view(self.padded[:(count - 1) * hop + n], n)[::hop]
            spectrum = torch.fft.rfft(torch.from_numpy(np.array(frames, dtype=np.float32)) * self.analysis)
            with torch.inference_mode():
                y = self.spec.compress(spectrum).T[None, None]  # (1, 1, F, count)
                enhanced = self.spec.decompress(self.network.denoise(y, None, stream=self.state))[0, 0].T
            pieces = torch.fft.irfft(enhanced, n=n).double().numpy() * self.window
        total = np.concatenate([self.sum, np.zeros(count * hop)])
        envelope = np.concatenate([self.envelope, np.zeros(count * hop)])
        for k in range(count):
            total[k * hop:k * hop + n] += pieces[k]
            envelope[k * hop:k * hop + n] += self.window ** 2
        done = count * hop
        final = np.divide(total[:done], envelope[:done], out=np.zeros(done),
                          where=envelope[:done] > 1e-11)  # zero only at the padding's first sample
        self.sum, self.envelope = total[done:], envelope[done:]
        self.padded = self.padded[done:]
        self.frames_done += count
        dropped = min(self.skip, len(final))
        self.skip -= dropped
        return self._mixed(final[dropped:][:len(self.dry)])

    def _mixed(self, enhanced: np.ndarray) -> np.ndarray:
        """The attenuation limit, then the samples leave: enhanced + share (noisy - enhanced)."""
        noisy, self.dry = self.dry[:len(enhanced)], self.dry[len(enhanced):]
        return (enhanced + self.share * (noisy - enhanced)).astype(np.float32)

    def _whole(self, samples: np.ndarray) -> np.ndarray:
        """Under half a frame (16 ms): too short to reflect, so zero-padded to a frame, enhanced, and cut back."""
        if not len(samples):
            return samples
        padded = np.pad(samples, (0, max(self.n_fft - len(samples), 0)))
        with torch.inference_mode():
            enhanced = self.network.enhance(torch.from_numpy(padded)[None], "predictive")[0][0].numpy()
        return self._mixed(enhanced[:len(samples)].astype(np.float64))


def read_stream(source: BinaryIO, block: int = 256) -> tuple[bool, Iterator[np.ndarray]]:
    """(whether the input is a WAV, its mono float32 samples in blocks as they arrive): a 16 kHz WAV (16-bit or
    32-bit float, any channels) or raw 16-bit mono PCM at 16 kHz."""
    head = source.read(12)
    if not head:
        raise BadInput("standard input is empty: pipe audio in (16 kHz WAV or raw 16-bit PCM)")
    if len(head) < 12 and head.startswith(b"RIFF"):  # read() is short only at the end of the input
        raise BadInput("standard input: ended inside the WAV header")
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False, _samples(source, head, 1, "PCM", 2, block)
    channels, kind, width = _wav_header(source)
    return True, _samples(source, b"", channels, kind, width, block)


def wav_stream_header(rate: int = SAMPLE_RATE) -> bytes:
    """A 16-bit mono WAV header whose sizes say "unknown" (0xFFFFFFFF), as streaming tools write them."""
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", 0xFFFFFFFF))


def to_pcm16(samples: np.ndarray) -> bytes:
    """16-bit PCM as libsndfile writes it (floor of x 32768, clipped), so a stream matches a written file."""
    return np.clip(np.floor(np.asarray(samples, dtype=np.float64) * PCM_SCALE), -PCM_SCALE, PCM_SCALE - 1).astype(
        "<i2").tobytes()


def _wav_header(source: BinaryIO) -> tuple[int, str, int]:
    """Read up to the data chunk; returns channels, "PCM" or "FLOAT", and bytes per sample."""
    fmt = None
    while True:
        chunk, size = struct.unpack("<4sI", _read_exactly(source, 8))
        if chunk == b"data":
            break
        body = _read_exactly(source, size + size % 2)
        if chunk == b"fmt ":
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == 0xFFFE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, channels, rate, bits)
    if fmt is None:
        raise BadInput("standard input: a WAV without a fmt chunk")
    tag, channels, rate, bits = fmt
    if rate != SAMPLE_RATE:
        raise BadInput(f"standard input: streaming takes {SAMPLE_RATE} Hz audio, got {rate} Hz (resample it first, "
                       f"e.g. sox - -r {SAMPLE_RATE} -t wav -)")
    if (tag, bits) not in ((1, 16), (3, 32)):
        raise BadInput(f"standard input: streaming takes 16-bit PCM or 32-bit float WAV, got format {tag}, {bits} bits")
    return channels, "PCM" if tag == 1 else "FLOAT", bits // 8


def _samples(source: BinaryIO, pending: bytes, channels: int, kind: str, width: int,
             block: int) -> Iterator[np.ndarray]:
    frame = channels * width
    read = getattr(source, "read1", source.read)
    while True:
        usable = len(pending) - len(pending) % frame
        if usable:
            raw, pending = pending[:usable], pending[usable:]
            values = (np.frombuffer(raw, "<i2") / PCM_SCALE if kind == "PCM" else np.frombuffer(raw, "<f4"))
            yield values.reshape(-1, channels).mean(axis=1).astype(np.float32)
        data = read(block * frame)
        if not data:
            break
        pending += data


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = source.read(size - len(data))
        if not more:
            raise BadInput("standard input: ended inside the WAV header")
        data += more
    return data


def enhance_whole(network: SpeechEnhancer, sampling: SamplingOptions,
                  blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """The enhanced blocks of one recording given block by block: what the network gives for it whole."""
    frames = FrameStream(network, sampling)
    for block in blocks:
        yield frames.push(block)
    yield frames.finish()


def stream(network: SpeechEnhancer, sampling: SamplingOptions, source: BinaryIO, sink: BinaryIO) -> int:
    """Enhance `source` into `sink` as it arrives, in its container (WAV in, WAV out; raw in, raw out), 16-bit;
    returns the samples written."""
    frames = FrameStream(network, sampling)
    is_wav, blocks = read_stream(source)
    if is_wav:
        sink.write(wav_stream_header())
    written = 0
    for block in blocks:
        out = frames.push(block)
        if len(out):
            sink.write(to_pcm16(out))
            sink.flush()
            written += len(out)
    out = frames.finish()
    sink.write(to_pcm16(out))
    sink.flush()
    return written + len(out)
