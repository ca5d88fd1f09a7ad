"""Killing a real stage mid-run (SIGKILL) or filling its disk loses nothing finished and corrupts nothing;
workdirs are exclusive. Waits here are hang guards, generous enough for a busy machine."""

import json
import os
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np

import pytest

from pipelines.artifacts import Workdir, WorkdirLock
from tests.conftest import cmkt_subprocess, run_cli, shared, write_wav

N_FILES = 300


def _corpus(root):
    rng = np.random.default_rng(0)
    for k in range(N_FILES):
        write_wav(root / "clean" / f"u{k:03d}.wav", (0.1 * rng.standard_normal(48_000)).astype(np.float32))
    write_wav(root / "noise" / "n.wav", (0.1 * rng.standard_normal(16_000 * 20)).astype(np.float32))


def test_sigkill_mid_prepare_then_rerun_completes_without_recomputing(tmp_path):
    _corpus(tmp_path)
    args = ["prepare", tmp_path / "clean", "--noise", tmp_path / "noise", "--split", "1,0,0", "-q"]
    workdir = tmp_path / "w"
    pending = Workdir(workdir).pending("prepare", "train")
    process = cmkt_subprocess(*args, "-w", workdir)
    deadline = time.time() + 1800
    while time.time() < deadline and process.poll() is None:
        if pending.exists() and len(list(pending.glob("*.h5"))) >= 20:
            break
        time.sleep(0.01)
    assert process.poll() is None, "prepare finished before it could be killed; make the corpus bigger"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished_before_kill = len(list(pending.glob("*.h5")))
    assert 20 <= finished_before_kill < N_FILES

    rerun = run_cli(*args, "-w", workdir)
    assert rerun.exit_code == 0, rerun.output
    cached, computed = (int(n) for n in
                        rerun.output.split("prepare train: ")[1].split(" computed")[0].split(" cached, "))
    assert cached == finished_before_kill and cached + computed == N_FILES

    reference = tmp_path / "reference"
    assert run_cli(*args, "-w", reference).exit_code == 0
    with h5py.File(workdir / "artifacts" / "prepare_train.h5") as resumed, \
            h5py.File(reference / "artifacts" / "prepare_train.h5") as clean_run:
        assert sorted(resumed) == sorted(clean_run)
        for uid in clean_run:
            np.testing.assert_array_equal(resumed[uid]["noisy"][()], clean_run[uid]["noisy"][()])
    assert len(json.loads((workdir / "manifest.json").read_text())) == N_FILES


def test_second_process_on_a_busy_workdir_gets_a_clear_error(tmp_path):
    workdir = Workdir(tmp_path / "w").create()
    (tmp_path / "clean").mkdir()
    with WorkdirLock(workdir.lock_file):
        process = cmkt_subprocess("prepare", tmp_path / "clean", "-w", workdir.root)
        _, err = process.communicate(timeout=1800)
    assert process.returncode == 2
    assert "is in use by another cmkt process" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.fixture
def tiny_disk(tmp_path):
    """A 100 kB file system (tmpfs): writing one enhanced clip fills it. Needs permission to mount."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(mount_point)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root), so a full disk cannot be made")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_is_one_line_exit_2_and_leaves_no_partial_file(tmp_path, tiny_disk):
    clip = shared("speech_en/arctic_a0010.wav")
    process = cmkt_subprocess("enhance", clip, "-o", tiny_disk / "out", "-w", tmp_path / "w", "-q")
    _, err = process.communicate(timeout=1800)
    assert process.returncode == 2, err
    assert err.strip() == f"error: no space left on the device of {tiny_disk / 'out'}: free some space and rerun " \
                          f"(finished work is kept)", err
    assert list((tiny_disk / "out").iterdir()) == []
