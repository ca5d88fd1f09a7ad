"""Reading and writing audio: any common file or video container in, 16 kHz mono float32 out.

soundfile reads WAV/FLAC/OGG, PyAV (FFmpeg) reads the audio track of video containers
and whatever soundfile cannot; soxr resamples. torchaudio is deliberately not used
(docs/dependencies.md says why). Every problem a user can cause becomes `BadInput`
with one line naming the file.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from pipelines.atomic import write_bytes
from pipelines.errors import BadInput, check_choice

SAMPLE_RATE = 16_000
SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg"}  # libsndfile's own formats: one it cannot read is a broken file
# Every audio file `load_audio` reads (the others through PyAV): the one list that folder scans (prepare's sources
# and noise, enhance, score, transcribe) take files by, so a folder holds what a single file given alone may be.
AUDIO_SUFFIXES = SOUNDFILE_SUFFIXES | {".mp3", ".m4a", ".aac", ".opus", ".wma", ".aif", ".aiff"}
VIDEO_SUFFIXES = {".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv", ".webm"}
WAV_SUBTYPES = {"PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"}  # sample formats an output keeps


def audio_kinds() -> str:
    """The audio suffixes, for messages: ".aac, .aif, ..."."""
    return ", ".join(sorted(AUDIO_SUFFIXES))


@dataclass(frozen=True)
class LoadedAudio:
    """A waveform at the target rate plus what it was before conversion."""

    samples: np.ndarray  # float32, mono, at `SAMPLE_RATE` unless asked otherwise
    source_rate: int
    source_channels: int
    source_frames: int  # length before resampling, so outputs can be written back at exactly this length
    # the sample format to write outputs in (`output_subtype`): the input's where a WAV can hold it
    source_subtype: str = "FLOAT"

    @property
    def converted(self) -> bool:
        return self.source_rate != SAMPLE_RATE or self.source_channels != 1


def load_audio(path: Path, sample_rate: int = SAMPLE_RATE) -> LoadedAudio:
    """Load `path` (audio file or video container) as mono float32 at `sample_rate`."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadInput(f"{path}: empty file")
    subtype = "PCM_16"  # what a compressed or video input's audio is written back as
    if path.suffix.lower() in VIDEO_SUFFIXES:
        if path.suffix.lower() in MPEG_PROGRAM_SUFFIXES:
            _check_mpeg_not_truncated(path)
        data, rate = _read_with_av(path)
    else:
        data, rate, subtype = _read_with_soundfile(path)
    channels = 1 if data.ndim == 1 else data.shape[1]
    mono = data if data.ndim == 1 else data.mean(axis=1)
    if mono.size == 0:
        raise BadInput(f"{path}: zero-length audio")
    if not np.all(np.isfinite(mono)):
        raise BadInput(f"{path}: contains NaN or infinite samples")
    frames = len(mono)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return LoadedAudio(np.ascontiguousarray(mono, dtype=np.float32), rate, channels, frames, output_subtype(subtype))


@dataclass(frozen=True)
class AudioBlocks:
    """A long 16 kHz file read block by block, so memory stays bounded whatever its length."""

    path: Path
    frames: int
    subtype: str  # the output's sample format (`output_subtype`)
    block: int

    def __iter__(self) -> Iterator[np.ndarray]:
        for data in sf.blocks(self.path, blocksize=self.block, dtype="float32", always_2d=True):
            mono = data.mean(axis=1)
            if not np.all(np.isfinite(mono)):
                raise BadInput(f"{self.path}: contains NaN or infinite samples")
            yield mono


def audio_blocks(path: Path, block: int, longer_than: int) -> AudioBlocks | None:
    """`path` as blocks of `block` samples when libsndfile reads it at 16 kHz and it has more than `longer_than`
    samples; None otherwise (`load_audio` reads it whole)."""
    path = Path(path)
    if path.suffix.lower() not in SOUNDFILE_SUFFIXES or not path.is_file() or path.stat().st_size == 0:
        return None
    if path.suffix.lower() == ".wav":
        _check_wav_not_truncated(path)
    try:
        info = sf.info(path)
    except sf.LibsndfileError:
        return None
    if info.samplerate != SAMPLE_RATE or info.frames <= longer_than:
        return None
    return AudioBlocks(path, info.frames, output_subtype(info.subtype), block)


def check_subtype(subtype: str | None) -> None:
    """A sample format chosen for outputs (`--subtype`; None: each input's) must be one a WAV holds."""
    if subtype is not None:
        check_choice("--subtype", subtype, tuple(sorted(WAV_SUBTYPES)))


def output_subtype(subtype: str) -> str:
    """The WAV sample format for an output of an input in `subtype`: the same where a WAV holds it (16-bit in,
    16-bit out, as users expect), 16-bit PCM for compressed formats (MP3, Vorbis, ...)."""
    return subtype if subtype in WAV_SUBTYPES else "PCM_16"


def to_source(samples: np.ndarray, rate: int, length: int) -> np.ndarray:
    """A 16 kHz waveform back at its input's rate and exact length (the inverse of `load_audio`'s conversion)."""
    if rate != SAMPLE_RATE:
        samples = soxr.resample(samples, SAMPLE_RATE, rate, quality="HQ")
    return samples[:length] if len(samples) >= length else np.pad(samples, (0, length - len(samples)))


def fit_to_format(samples: np.ndarray, subtype: str) -> tuple[np.ndarray, bool]:
    """Float32 samples an integer `subtype` can hold (clipped to full scale, not wrapped round), and whether any
    had to be clipped."""
    samples = np.asarray(samples, dtype=np.float32)
    if not subtype.startswith("PCM") or not len(samples) or np.max(np.abs(samples)) <= 1.0:
        return samples, False
    return np.clip(samples, -1.0, 1.0), True


def write_audio(path: Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE, subtype: str = "FLOAT") -> None:
    """Write audio as WAV, by default 32-bit float (no clipping or requantisation of model output), atomically
    (pipelines/atomic.py); integer formats are clipped to full scale rather than wrapped around. Encoded in memory
    first: Python's own write reports a full disk as such, libsndfile only as "System error"."""
    samples, _ = fit_to_format(samples, subtype)
    encoded = io.BytesIO()
    sf.write(encoded, samples, sample_rate, subtype=subtype, format="WAV")
    write_bytes(path, encoded.getbuffer())


def _read_with_soundfile(path: Path) -> tuple[np.ndarray, int, str]:
    """The samples, their rate and their sample format (libsndfile's subtype name)."""
    if path.suffix.lower() == ".wav":
        _check_wav_not_truncated(path)
    try:
        with sf.SoundFile(path) as file:
            subtype = file.subtype
            data = file.read(dtype="float32", always_2d=False)
            return data, file.samplerate, subtype
    except sf.LibsndfileError as err:
        if path.suffix.lower() in SOUNDFILE_SUFFIXES:
            raise BadInput(f"{path}: not readable as audio ({err.error_string})") from None
        return (*_read_with_av(path), "PCM_16")


def _check_wav_not_truncated(path: Path) -> None:
    """libsndfile quietly returns fewer samples than a truncated WAV's header promises; refuse it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] not in (b"RIFF", b"RF64") or header[8:12] != b"WAVE":
            return  # not a RIFF WAV: let soundfile produce its own error
        if header[:4] == b"RF64":
            return  # 64-bit sizes live in a ds64 chunk; rare, trust the reader
        position = 12
        while position + 8 <= size:
            f.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                streamed = chunk_size in (0, 0xFFFFFFFF)  # writers that never patched the size
                available = size - position - 8
                if not streamed and chunk_size > available:
                    raise BadInput(
                        f"{path}: truncated WAV (header declares {chunk_size} bytes of audio, file has {available})"
                    )
                return
            position += 8 + chunk_size + (chunk_size & 1)


MPEG_PROGRAM_SUFFIXES = {".mpg", ".mpeg"}


def _check_mpeg_not_truncated(path: Path) -> None:
    """FFmpeg decodes an MPEG program stream cut short (e.g. a GRID .mpg) without a word, as a shorter clip; refuse
    it, as a truncated WAV is refused. Its packs and packets declare their lengths: the last must end inside the
    file. A file that stops following the layout (trailing padding, another container) is left to the decoder."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        position = 0
        while position + 4 <= size:
            f.seek(position)
            head = f.read(14)
            if head[:3] != b"\x00\x00\x01" or head[3] == 0xB9 or head[3] < 0xBA:  # not a pack or packet; the end
                return
            if head[3] == 0xBA:  # pack header: 12 bytes in MPEG-1, 14 plus stuffing in MPEG-2
                mpeg2 = len(head) > 4 and head[4] >> 6 == 1
                length = (14 + (head[13] & 7) if len(head) == 14 else 14) if mpeg2 else 12
            else:  # a packet: start code, 2 bytes of length, that many bytes
                length = 6 + int.from_bytes(head[4:6], "big") if len(head) >= 6 else 6
            if position + length > size:
                raise BadInput(f"{path}: truncated MPEG video (a packet at byte {position:,} declares {length:,} "
                               f"bytes, the file ends {size - position:,} bytes after its start)")
            position += length


def _read_with_av(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of any FFmpeg-readable file to float32 (frames, channels)."""
    import av  # imported lazily: only needed for video containers and exotic formats

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise BadInput(f"{path}: has no audio track")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout=stream.layout.name, rate=stream.rate)
            chunks = []
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    chunks.append(converted.to_ndarray())
            for converted in resampler.resample(None):
                chunks.append(converted.to_ndarray())
            rate, channels = stream.rate, stream.channels
    except av.error.FFmpegError as err:
        raise BadInput(f"{path}: not readable as audio or video ({err.strerror or err})") from None
    if not chunks:
        raise BadInput(f"{path}: zero-length audio")
    packed = np.concatenate(chunks, axis=1)  # packed 'flt' gives (1, frames * channels)
    data = packed.reshape(-1, channels)
    return (data[:, 0] if channels == 1 else data), rate
