"""`cmkt enhance - -o -`: frame-by-frame enhancement through a pipe equals the file enhanced whole, at most n_fft
samples behind the input."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines.enhancing import Engine
from pipelines.pretrained import bundled_model
from pipelines.streaming import FrameStream, read_stream, to_pcm16
from tests.conftest import random_checkpoint, run_cli, shared


@pytest.fixture(scope="module")
def engine():
    return Engine.load(bundled_model(streaming=True))  # the causal bundled model


@pytest.fixture(scope="module")
def noisy():
    samples, rate = sf.read(shared("metric_refs/python_pesq") / "speech_bab_0dB.wav", dtype="float32")
    assert rate == 16_000
    return samples[:30_001]


@pytest.mark.parametrize("block", [1, 37, 256, 4000])
def test_any_blocks_give_the_whole_files_output_at_most_n_fft_behind(engine, noisy, block):
    whole = engine.enhance([noisy])[0]
    frames = FrameStream(engine.network, engine.sampling)
    out, fed = [], 0
    for first in range(0, len(noisy), block):
        out.append(frames.push(noisy[first:first + block]))
        fed += len(noisy[first:first + block])
        assert sum(map(len, out)) >= fed - frames.latency
    out.append(frames.finish())
    streamed = np.concatenate(out)
    assert frames.latency == 512  # 32 ms at 16 kHz
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-5 * np.max(np.abs(whole)))


def test_through_a_pipe_wav_in_wav_out_equals_the_enhanced_file(tmp_path, noisy):
    sf.write(tmp_path / "a.wav", noisy, 16_000, subtype="PCM_16")
    assert subprocess.run([sys.executable, "-m", "cmkt_cli.main", "enhance", tmp_path / "a.wav", "-q", "--model",
                           "cmkt-gtcrn-debian"]).returncode == 0  # the model a pipe gets without --model
    with open(tmp_path / "a.wav", "rb") as source:
        piped = subprocess.run([sys.executable, "-m", "cmkt_cli.main", "enhance", "-", "-o", "-"], stdin=source,
                               capture_output=True, timeout=600)
    assert piped.returncode == 0, piped.stderr.decode()
    streamed = sf.read(io.BytesIO(piped.stdout), dtype="int16")[0]
    offline = sf.read(tmp_path / "a_enhanced.wav", dtype="int16")[0]
    assert len(streamed) == len(offline) == len(noisy)
    assert np.max(np.abs(streamed.astype(int) - offline)) <= 1  # one 16-bit step of float rounding


def test_raw_pcm_stays_raw_and_what_cannot_stream_is_one_line_exit_2(tmp_path, noisy):
    raw = to_pcm16(noisy[:8000])
    piped = subprocess.run([sys.executable, "-m", "cmkt_cli.main", "enhance", "-"], input=raw, capture_output=True,
                           timeout=600)
    assert piped.returncode == 0 and len(piped.stdout) == len(raw)
    is_wav, blocks = read_stream(io.BytesIO(raw))
    assert not is_wav and np.allclose(np.concatenate(list(blocks)), noisy[:8000], atol=1 / 32768)
    buffer = io.BytesIO()
    sf.write(buffer, noisy[:8000], 44_100, format="WAV", subtype="PCM_16")
    piped = subprocess.run([sys.executable, "-m", "cmkt_cli.main", "enhance", "-", "-o", "-"],
                           input=buffer.getvalue(), capture_output=True, timeout=600)
    assert piped.returncode == 2 and b"16000 Hz" in piped.stderr and b"Traceback" not in piped.stderr
    diffusion = random_checkpoint(tmp_path / "run" / "best.ckpt")
    piped = subprocess.run([sys.executable, "-m", "cmkt_cli.main", "enhance", "-", "--ckpt", diffusion], input=raw,
                           capture_output=True, timeout=600)
    assert piped.returncode == 2 and b"streaming needs a causal" in piped.stderr


def test_a_long_file_is_read_and_written_in_blocks_and_equals_it_enhanced_whole(tmp_path, engine, noisy):
    long = np.tile(noisy, 3)[:61 * 16_000 + 77]  # past LONG_FILE_SECONDS
    sf.write(tmp_path / "long.wav", long, 16_000, subtype="FLOAT")
    clipped, seconds = engine.enhance_file(tmp_path / "long.wav", tmp_path / "out.wav")
    written = sf.read(tmp_path / "out.wav", dtype="float32")[0]
    assert not clipped and seconds == pytest.approx(len(long) / 16_000) and sf.info(tmp_path / "out.wav").subtype == "FLOAT"
    whole = engine.enhance([long])[0]
    np.testing.assert_allclose(written, whole, rtol=0, atol=1e-5 * np.max(np.abs(whole)))


def test_empty_and_tiny_inputs(engine):
    with pytest.raises(Exception, match="standard input is empty"):
        read_stream(io.BytesIO(b""))
    for samples in (3, 200):  # shorter than half a frame: zero-padded to a frame and cut back
        raw = to_pcm16(0.1 * np.sin(np.arange(samples) / 3.0))
        is_wav, blocks = read_stream(io.BytesIO(raw))
        frames = FrameStream(engine.network, engine.sampling)
        out = [frames.push(block) for block in blocks] + [frames.finish()]
        assert not is_wav and len(np.concatenate(out)) == samples


def test_standard_output_goes_with_standard_input(tmp_path):
    result = run_cli("enhance", tmp_path, "-o", "-")
    assert result.exit_code == 2 and "-o - (standard output) takes standard input" in result.output
    assert not Path("-").exists()  # no folder named "-" where the command ran
