"""The public Python API: docs/api.md's example runs as written, and the API enhances a file as `cmkt enhance`."""

import re
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.conftest import random_checkpoint, run_cli, speech_like, write_wav

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_the_documented_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks, "docs/api.md has no python example"
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})


def test_enhance_file_matches_the_command(tmp_path):
    from pipelines.api import SamplingOptions, enhance_file, load_model

    noisy = write_wav(tmp_path / "in" / "a.wav", speech_like(1.0), rate=22_050)
    checkpoint = random_checkpoint(tmp_path / "m.ckpt")
    result = run_cli("enhance", noisy, "-o", tmp_path / "cli", "--ckpt", checkpoint, "--sampler", "pc", "--steps", "2",
                     "-w", tmp_path / "w", "-q")
    assert result.exit_code == 0, result.output
    written = enhance_file(load_model(checkpoint), noisy, tmp_path / "api.wav", SamplingOptions("pc", 2))
    ours, rate = sf.read(written)
    theirs, _ = sf.read(tmp_path / "cli" / "a.wav")
    assert rate == 22_050 and np.allclose(ours, theirs, atol=1e-5)


def test_the_api_and_both_command_routes_give_the_same_file(tmp_path, monkeypatch):
    """The default model, a 16-bit file: the workdir-free command, the cached one and the API agree bit for bit."""
    from pipelines.api import enhance_file, load_model

    noisy = write_wav(tmp_path / "in" / "a.wav", speech_like(1.3) + 0.05 * np.random.default_rng(1).standard_normal(
        20_800).astype(np.float32))
    monkeypatch.chdir(tmp_path)
    assert run_cli("enhance", noisy, "-o", tmp_path / "plain", "-q").exit_code == 0
    assert run_cli("enhance", noisy, "-o", tmp_path / "cached", "-w", tmp_path / "w", "-q").exit_code == 0
    written = enhance_file(load_model(), noisy, tmp_path / "api.wav")
    plain, cached, api = (sf.read(path, dtype="int16")[0] for path in
                          (tmp_path / "plain" / "a.wav", tmp_path / "cached" / "a.wav", written))
    assert np.array_equal(plain, api) and np.array_equal(cached, api)
