"""Audio loading: conversion to 16 kHz mono, video audio tracks, and one clear error per kind of bad file."""

import numpy as np
import pytest
import soundfile as sf

from pipelines.audio_io import load_audio
from pipelines.errors import BadInput
from tests.conftest import shared, speech_like, write_wav


def test_stereo_44k_is_converted_to_16k_mono(tmp_path):
    stereo = np.stack([speech_like(1.0, rate=44_100), speech_like(1.0, rate=44_100)], axis=1)
    audio = load_audio(write_wav(tmp_path / "s.wav", stereo, 44_100))
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert abs(len(audio.samples) - 16_000) <= 1
    assert (audio.source_rate, audio.source_channels, audio.converted) == (44_100, 2, True)


def test_video_audio_track_is_extracted():
    audio = load_audio(shared("grid/bbaf2n.mpg"))
    assert audio.source_rate == 44_100 and audio.source_channels == 2
    assert 2.9 < len(audio.samples) / 16_000 < 3.05
    assert audio.samples.std() > 0.01


def test_missing_file(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        load_audio(tmp_path / "absent.wav")


def test_non_audio_file(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio")
    with pytest.raises(BadInput, match="not readable as audio"):
        load_audio(path)


def test_truncated_wav(tmp_path):
    path = write_wav(tmp_path / "full.wav", speech_like(1.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInput, match="truncated WAV"):
        load_audio(path)


def test_zero_length_and_empty_files(tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32), 16_000)
    with pytest.raises(BadInput, match="zero-length"):
        load_audio(tmp_path / "zero.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(BadInput, match="empty file"):
        load_audio(tmp_path / "empty.wav")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_samples(tmp_path, bad):
    samples = speech_like(0.5)
    samples[100] = bad
    sf.write(tmp_path / "bad.wav", samples, 16_000, subtype="FLOAT")
    with pytest.raises(BadInput, match="NaN or infinite"):
        load_audio(tmp_path / "bad.wav")
