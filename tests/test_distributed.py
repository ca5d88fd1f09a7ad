"""`cmkt train` under torchrun: two CPU processes (gloo) train in step, rank 0 alone writes, one process resumes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from tests.conftest import run_cli

FAST = ["--preset", "small", "--crop-frames", "16", "--validate-every", "1000", "--val-steps", "1", "--lr", "1e-3",
        "-q"]

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="this PyTorch build has no torch.distributed with gloo")


def _torchrun(processes: int, *args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
               "-m", "cmkt_cli.main", *map(str, args)]
    return subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=Path(__file__).parents[1],
                          capture_output=True, text=True, timeout=1800)


def _checkpoint(path):
    return torch.load(path, map_location="cpu", weights_only=False)


def test_two_processes_train_in_step_and_the_run_resumes_on_one(prepared):
    # 10 steps of 1 crop x 2 processes x 2 accumulated micro-batches: the losses of step 10 are logged (reduced)
    result = _torchrun(2, "train", "-w", prepared, "--max-steps", "10", "--run-name", "ddp", "--batch-size", "1",
                       "--grad-accum", "2", *FAST)
    assert result.returncode == 0, result.stderr[-4000:]
    run = prepared / "train" / "ddp"
    assert sorted(p.name for p in run.iterdir()) == ["best.ckpt", "config.json", "curves.png", "last.ckpt",
                                                     "metrics.csv", "tensorboard"]
    assert len(list((run / "tensorboard").iterdir())) == 1  # one writer: rank 0
    header, *rows = (run / "metrics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["10", "10"]  # the losses, then the validation
    assert float(rows[0].split(",")[header.split(",").index("loss")]) > 0
    log = (prepared / "logs" / "train.log").read_text()
    assert log.count("cmkt train:") == 1 and "4 crops per step (1 per batch x 2 processes x 2 accumulated)" in log
    assert "all 2 processes hold the same weights" in log  # the trainer compares every rank's digest at the end
    assert result.stderr.count("trained 10 steps") == 1  # only rank 0 reports
    checkpoint = _checkpoint(run / "last.ckpt")
    assert checkpoint["state"]["step"] == 10 and checkpoint["state"]["epoch"] == 10
    assert checkpoint["extra"]["loop"]["world_size"] == 2 and checkpoint["extra"]["loop"]["grad_accum"] == 2
    assert not any(name.startswith("module.") for name in checkpoint["model"])

    resumed = run_cli("train", "-w", prepared, "--max-steps", "11", "--run-name", "ddp", "--resume",
                      "--batch-size", "1", *FAST)
    assert resumed.exit_code == 0, resumed.output
    after = _checkpoint(run / "last.ckpt")
    assert after["state"]["step"] == 11 and after["extra"]["loop"]["world_size"] == 1
    assert any(not torch.equal(after["model"][name], value) for name, value in checkpoint["model"].items())
