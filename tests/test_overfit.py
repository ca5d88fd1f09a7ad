"""The small model fits one real noisy/clean pair (python-pesq speech + 0 dB babble).

Fast: the joint loss falls 1.8x in 60 steps (cheap, and no time limit, so a busy machine cannot fail it). Slow: it falls
tenfold in 300 steps, and after longer training the enhanced pair beats the noisy one in PESQ and SI-SDR
(docs/results.md has the numbers).
"""

import csv
import shutil

import pytest
import soundfile as sf

from pipelines.metrics import intrusive_metrics
from tests.conftest import run_cli, shared


def _fit(tmp_path, steps: int):
    pair = shared("metric_refs/python_pesq")
    data = tmp_path / "data" / "train"
    for kind, name in (("clean", "speech.wav"), ("noisy", "speech_bab_0dB.wav")):
        (data / kind).mkdir(parents=True)
        shutil.copy(pair / name, data / kind / "speech.wav")
    assert run_cli("prepare", tmp_path / "data", "-w", tmp_path / "w", "-q").exit_code == 0
    result = run_cli("train", "-w", tmp_path / "w", "--preset", "small", "--max-steps", steps, "--batch-size", "4",
                     "--crop-frames", "64", "--lr", "2e-3", "--validate-every", "100000", "--run-name", "fit", "-q")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "w" / "train" / "fit" / "metrics.csv") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f) if row["loss"]]
    return data, tmp_path / "w" / "train" / "fit" / "last.ckpt", losses


def test_loss_falls_in_a_few_steps_on_one_real_pair(tmp_path):
    _, _, losses = _fit(tmp_path, 60)
    first, last = losses[0], sum(losses[-2:]) / 2
    assert first / last >= 1.8, f"loss went from {first:.4f} to {last:.4f}"


@pytest.mark.slow
def test_loss_falls_tenfold_on_one_real_pair(tmp_path):
    _, _, losses = _fit(tmp_path, 300)
    assert losses[0] / losses[-1] >= 10, f"loss went from {losses[0]:.4f} to {losses[-1]:.4f}"


@pytest.mark.slow
def test_enhanced_pair_beats_the_noisy_one_after_longer_training(tmp_path):
    data, checkpoint, _ = _fit(tmp_path, 2000)
    enhanced = run_cli("enhance", data / "noisy", "-o", tmp_path / "out", "--ckpt", checkpoint, "--steps", "30",
                       "-w", tmp_path / "w", "-q")
    assert enhanced.exit_code == 0, enhanced.output
    clean, _ = sf.read(data / "clean" / "speech.wav")
    noisy, _ = sf.read(data / "noisy" / "speech.wav")
    output, _ = sf.read(tmp_path / "out" / "speech.wav")
    before, after = intrusive_metrics(clean, noisy), intrusive_metrics(clean, output)
    assert after["pesq_wb"] > before["pesq_wb"], (before, after)
    assert after["si_sdr"] > before["si_sdr"], (before, after)
