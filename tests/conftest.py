"""Shared test helpers: the real sample data in ../shared/data and small generated signals."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from cmkt_cli.main import app

SHARED_DATA = Path(os.environ.get("CMKT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def shared(relative: str) -> Path:
    """A file or folder of the shared sample data; skips the test when the data is not there."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"sample data not found at {path} (set CMKT_SHARED_DATA to the shared/data folder)")
    return path


def speech_like(seconds: float, seed: int = 0, rate: int = 16_000) -> np.ndarray:
    """A voiced, syllable-modulated harmonic signal: enough like speech for PESQ to find utterances."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)), 0, None) ** 2
    return (0.3 * voiced * envelope / np.max(np.abs(voiced))).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, rate)
    return path


def artifact_groups(workdir: Path, stage: str, split: str) -> dict[str, tuple[dict, dict]]:
    """Every group of a committed artifact: id -> ({dataset: array}, {attribute: value})."""
    with h5py.File(workdir / "artifacts" / f"{stage}_{split}.h5", "r") as f:
        return {uid: ({name: g[name][()] for name in g}, dict(g.attrs)) for uid, g in f.items()}


def random_checkpoint(path: Path, step: int = 0) -> Path:
    """A `small` model with random (not zero-initialised) weights saved as a training checkpoint: outputs are not
    silent, and nothing about their quality is meant."""
    import torch

    from pipelines.enhancer import EnhancerConfig, SpeechEnhancer
    from pipelines.checkpoints import TrainingState, save_checkpoint

    torch.manual_seed(0)
    model = SpeechEnhancer(EnhancerConfig(preset="small"))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, model, model, torch.optim.Adam(model.parameters()), TrainingState(step=step),
                    torch.Generator(), {})
    return path


def run_cli(*args: str):
    """Run cmkt in-process; returns click's Result (exit_code, output)."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def cmkt_subprocess(*args: str, **kwargs) -> subprocess.Popen:
    """Start cmkt as a real process (for kill and locking tests)."""
    return subprocess.Popen([sys.executable, "-m", "cmkt_cli.main", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A prepared workdir for training tests: six 1 s speech-like files mixed with noise, 4 train and 2 valid."""
    root = tmp_path_factory.mktemp("train")
    for k in range(6):
        write_wav(root / "clean" / f"u{k}.wav", speech_like(1.0, seed=k))
    write_wav(root / "noise" / "n.wav", (0.05 * np.random.default_rng(0).standard_normal(80_000)).astype(np.float32))
    result = run_cli("prepare", root / "clean", "--noise", root / "noise", "--split", "0.7,0.3,0", "--split-by",
                     "file", "-w", root / "w", "-q")
    assert result.exit_code == 0, result.output
    return root / "w"


@pytest.fixture
def flat_corpus(tmp_path: Path) -> tuple[Path, Path]:
    """Six clean 'speakers' (two files each) and two noise files, one shorter than the speech."""
    clean = tmp_path / "clean"
    for speaker in range(6):
        for k in range(2):
            write_wav(clean / f"spk{speaker}" / f"spk{speaker}_{k}.wav", speech_like(1.5, seed=10 * speaker + k))
    noise = tmp_path / "noise"
    rng = np.random.default_rng(1)
    write_wav(noise / "long.wav", (0.1 * rng.standard_normal(16_000 * 10)).astype(np.float32))
    write_wav(noise / "short.wav", (0.1 * rng.standard_normal(4_000)).astype(np.float32))
    return clean, noise


DEFAULT_OUTPUT = "cmkt-gtcrn-ssl-kd-debian-predictive"  # where `cmkt enhance -w` puts the bundled model's outputs


@pytest.fixture(scope="session")
def enhanced_samples(tmp_path_factory) -> Path:
    """A prepared workdir: three real recordings (CMU ARCTIC) mixed with real noise at 0 and 5 dB, the test split
    enhanced by the bundled model into WORKDIR/enhanced/DEFAULT_OUTPUT/."""
    root = tmp_path_factory.mktemp("samples")
    speech = root / "speech"
    speech.mkdir()
    for path in sorted(shared("speech_en").glob("cmu_arctic_us_a*.wav"))[:3]:
        shutil.copy(path, speech / path.name)
    workdir = root / "w"
    for args in (("prepare", speech, "--noise", shared("noise"), "--snr", "0,5", "--split", "0,0,1"), ("enhance",)):
        result = run_cli(*args, "-w", workdir, "-q")
        assert result.exit_code == 0, result.output
    return workdir
