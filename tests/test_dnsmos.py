"""DNSMOS P.835 (pipelines/dnsmos.py): a published value, white noise against speech, and noisy < enhanced < clean
on real recordings enhanced by the bundled model; `cmkt score` with and without references."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import soxr
import torch

from pipelines.audio_io import load_audio
from pipelines.dnsmos import dnsmos
from tests.conftest import DEFAULT_OUTPUT, run_cli, shared, write_wav


def test_reproduces_the_torchmetrics_documented_value_for_white_noise():
    # torchmetrics' docstring example (same Microsoft model): randn(8000) at 8 kHz -> SIG 2.0..., BAK 1.1...,
    # OVRL 1.2...; its doctests run with the seed 42, and torchmetrics resamples to 16 kHz with soxr (librosa).
    torch.manual_seed(42)
    noise = soxr.resample(torch.randn(8000).numpy(), 8000, 16_000, quality="HQ")
    scores = dnsmos(noise)
    assert 2.0 <= scores["dnsmos_sig"] < 2.1
    assert 1.1 <= scores["dnsmos_bak"] < 1.2
    assert 1.2 <= scores["dnsmos_ovrl"] < 1.3


def test_white_noise_scores_far_below_clean_speech():
    speech = load_audio(shared("metric_refs/python_pesq/speech.wav")).samples
    noise = 0.1 * np.random.default_rng(0).standard_normal(len(speech)).astype(np.float32)
    assert dnsmos(speech)["dnsmos_ovrl"] > dnsmos(noise)["dnsmos_ovrl"] + 1.5


def test_noisy_below_enhanced_below_clean_on_real_recordings(enhanced_samples):
    workdir = enhanced_samples
    result = run_cli("score", "--enhanced", workdir / "enhanced" / DEFAULT_OUTPUT, "--dnsmos", "-w", workdir, "-q")
    assert result.exit_code == 0, result.output
    saved = json.loads((workdir / "reports" / "score" / f"test-{DEFAULT_OUTPUT}.json").read_text())
    summary = saved["summary"]
    assert summary["dnsmos_ovrl"]["n"] == 3 and "pesq_wb" in summary  # beside the intrusive metrics
    with h5py.File(workdir / "artifacts" / "prepare_test.h5", "r") as prepared:
        clean = np.mean([dnsmos(prepared[uid]["clean"][()])["dnsmos_ovrl"] for uid in prepared])
    assert summary["noisy_dnsmos_ovrl"]["mean"] < summary["dnsmos_ovrl"]["mean"] < clean
    assert "DNSMOS-OVRL" in result.output


def test_score_without_references_gives_dnsmos_alone(tmp_path):
    speech = load_audio(shared("metric_refs/python_pesq/speech.wav")).samples
    noisy = load_audio(shared("metric_refs/python_pesq/speech_bab_0dB.wav")).samples
    write_wav(tmp_path / "enhanced" / "a.wav", speech)
    write_wav(tmp_path / "noisy" / "a.wav", noisy)
    result = run_cli("score", "--enhanced", tmp_path / "enhanced", "--noisy", tmp_path / "noisy", "-w", tmp_path / "w")
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "w" / "reports" / "score" / "enhanced.json").read_text())["files"][0]
    assert "pesq_wb" not in row and row["dnsmos_ovrl"] == pytest.approx(dnsmos(speech)["dnsmos_ovrl"])
    assert row["delta_dnsmos_ovrl"] == pytest.approx(row["dnsmos_ovrl"] - dnsmos(noisy)["dnsmos_ovrl"])
    assert row["delta_dnsmos_ovrl"] > 1


def test_silent_file_is_skipped(tmp_path):
    write_wav(tmp_path / "enhanced" / "quiet.wav", np.zeros(16_000, dtype=np.float32))
    result = run_cli("score", "--enhanced", tmp_path / "enhanced", "-w", tmp_path / "w")
    assert "quiet: audio is silent" in result.output and result.exit_code == 2


def test_the_cli_starts_without_onnxruntime():
    done = subprocess.run([sys.executable, "-c", "import sys, cmkt_cli.main; print('onnxruntime' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize("samples", [1, 8_000])
def test_a_clip_shorter_than_a_second_is_skipped_as_pesq_skips_its_short_ones(tmp_path, samples):
    write_wav(tmp_path / "enhanced" / "short.wav", _noise(samples))
    write_wav(tmp_path / "enhanced" / "long.wav", _noise(16_000))
    result = run_cli("score", "--enhanced", tmp_path / "enhanced", "-w", tmp_path / "w")
    assert result.exit_code == 0 and "0 cached, 1 computed, 1 skipped" in result.output, result.output
    assert f"short: audio is {samples / 16_000:.3f} s long: DNSMOS needs at least 1 s" in result.output, result.output
    saved = json.loads((tmp_path / "w" / "reports" / "score" / "enhanced.json").read_text())
    assert [row["id"] for row in saved["files"]] == ["long"] and "short" in saved["skipped"]


def _noise(samples: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(samples).standard_normal(samples)).astype(np.float32)
