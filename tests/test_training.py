"""`cmkt train`: checkpoints and logs, refusing to overwrite, and resume == uninterrupted (deterministic on CPU)."""

import csv
import errno
import os
from pathlib import Path

import pytest
import torch

from pipelines import checkpoints
from pipelines.errors import BadInput
from tests.conftest import random_checkpoint, run_cli

FAST = ["--preset", "small", "--batch-size", "2", "--crop-frames", "16", "--validate-every", "1000",
        "--val-steps", "1", "--lr", "1e-3", "-q"]


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def test_training_writes_checkpoints_logs_and_curves(prepared):
    result = run_cli("train", "-w", prepared, "--max-steps", "3", "--run-name", "basic", *FAST)
    assert result.exit_code == 0, result.output
    run = prepared / "train" / "basic"
    for name in ("last.ckpt", "best.ckpt", "metrics.csv", "curves.png", "config.json"):
        assert (run / name).exists(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,seconds,loss") and any(",," in r for r in rows[1:])  # a validation row
    checkpoint = torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["config"]["preset"] == "small" and checkpoint["state"]["step"] == 3
    again = run_cli("train", "-w", prepared, "--max-steps", "3", "--run-name", "basic", *FAST)
    assert again.exit_code == 2 and "--resume" in again.output
    log = (run / "metrics.csv").read_text()
    finished = run_cli("train", "-w", prepared, "--max-steps", "3", "--run-name", "basic", "--resume", *FAST)
    assert finished.exit_code == 0 and (run / "metrics.csv").read_text() == log  # not validated and logged again


def test_resume_continues_exactly_where_it_stopped(prepared):
    straight = run_cli("train", "-w", prepared, "--max-steps", "4", "--run-name", "straight", *FAST)
    assert straight.exit_code == 0, straight.output
    first = run_cli("train", "-w", prepared, "--max-steps", "2", "--run-name", "split", *FAST)
    resumed = run_cli("train", "-w", prepared, "--max-steps", "4", "--run-name", "split", "--resume", *FAST)
    assert first.exit_code == 0 and resumed.exit_code == 0, resumed.output
    a, b = _weights(prepared / "train" / "straight" / "last.ckpt"), _weights(prepared / "train" / "split" / "last.ckpt")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def test_training_needs_a_stopping_rule_and_a_known_preset(prepared):
    assert "stopping rule" in run_cli("train", "-w", prepared, "--run-name", "x").output
    assert run_cli("train", "-w", prepared, "--preset", "huge", "--max-steps", "1").exit_code == 2


@pytest.mark.parametrize("name", ["..", "../escape", "/tmp/elsewhere", "a/b"])
def test_run_names_cannot_leave_the_workdir_and_force_deletes_nothing_outside(prepared, tmp_path, name):
    keep = tmp_path / "keep.txt"
    keep.write_text("finished work")
    result = run_cli("train", "-w", prepared, "--max-steps", "1", "--run-name", name, "--force")
    assert result.exit_code == 2 and "plain folder name" in result.output
    assert keep.read_text() == "finished work" and (prepared / "manifest.csv").exists()


def test_resume_refuses_nothing_and_ignores_a_partly_written_checkpoint(prepared):
    result = run_cli("train", "-w", prepared, "--max-steps", "1", "--run-name", "fresh", "--resume", *FAST)
    assert result.exit_code == 2 and "nothing to resume" in result.output
    assert run_cli("train", "-w", prepared, "--max-steps", "1", "--run-name", "cut", *FAST).exit_code == 0
    folder = prepared / "train" / "cut"
    (folder / "last.tmp").write_bytes(b"half a checkpoint")  # a save killed mid-write
    result = run_cli("train", "-w", prepared, "--max-steps", "2", "--run-name", "cut", "--resume", *FAST[:-1])
    assert result.exit_code == 0 and "resuming cut from step 1" in result.output
    assert not (folder / "last.tmp").exists()


def test_training_without_a_prepared_workdir_says_what_to_do(tmp_path):
    result = run_cli("train", "-w", tmp_path, "--max-steps", "1")
    assert result.exit_code == 2 and "cmkt prepare" in result.output


def test_learning_rate_decays_linearly_to_a_tenth_over_the_last_steps(tmp_path):
    from pipelines.training.loop import LoopOptions

    options = LoopOptions(learning_rate=1e-3, max_steps=1000, lr_decay_steps=500)
    assert [options.learning_rate_at(s) for s in (0, 499, 500)] == [1e-3, 1e-3, 1e-3]
    assert options.learning_rate_at(750) == pytest.approx(5.5e-4)
    assert options.learning_rate_at(1000) == pytest.approx(1e-4) == options.learning_rate_at(5000)
    assert LoopOptions(learning_rate=1e-3, max_steps=1000).learning_rate_at(999) == 1e-3
    result = run_cli("train", "-w", tmp_path, "--max-time", "1h", "--lr-decay-steps", "10")
    assert result.exit_code == 2 and "--lr-decay-steps needs --max-steps" in result.output


def test_omega_one_trains_the_denoiser_alone():
    from pipelines.enhancer import EnhancerConfig, SpeechEnhancer

    model = SpeechEnhancer(EnhancerConfig(omega=1.0, denoiser_magnitude_weight=0.7))
    generator = torch.Generator().manual_seed(0)
    losses = model.losses(torch.randn(2, 4096, generator=generator) * 0.1,
                          torch.randn(2, 4096, generator=generator) * 0.1, generator)
    assert "loss_score" not in losses and losses["loss"] == losses["loss_denoiser"]
    losses["loss"].backward()
    assert all(p.grad is None for p in model.score_net.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.denoiser.parameters())


@pytest.mark.parametrize("option, value", [("--omega", "1.5"), ("--magnitude-weight", "-0.1"),
                                           ("--select-by", "loudness")])
def test_loss_weights_and_the_selection_score_are_checked(prepared, option, value):
    result = run_cli("train", "-w", prepared, "--max-steps", "1", "--run-name", "bad", option, value, *FAST)
    assert result.exit_code == 2 and option in result.output and "Traceback" not in result.output


def test_a_denoiser_fine_tune_validates_estoi_and_keeps_the_best_by_it(prepared):
    result = run_cli("train", "-w", prepared, "--max-steps", "2", "--run-name", "tune", "--omega", "1",
                     "--magnitude-weight", "0.7", "--select-by", "estoi", "--val-sampler", "predictive",
                     "--validate-every", "1", "--preset", "small", "--batch-size", "2", "--crop-frames", "16", "-q")
    assert result.exit_code == 0, result.output
    assert "best validation estoi" in result.output
    with open(prepared / "train" / "tune" / "metrics.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["val_estoi"]]
    best = torch.load(prepared / "train" / "tune" / "best.ckpt", map_location="cpu", weights_only=False)
    assert len(rows) == 2 and best["state"]["best_metric"] == pytest.approx(max(float(r["val_estoi"]) for r in rows),
                                                                             abs=1e-5)


def test_a_resumed_log_of_older_columns_is_rewritten_under_the_new_header(tmp_path):
    from pipelines.training.log import COLUMNS, TrainingLog

    (tmp_path / "metrics.csv").write_text("step,epoch,seconds,loss,val_pesq,val_si_sdr,lr\n10,0,5.0,0.5,,,0.001\n"
                                          "20,0,9.0,,1.3,4.2,\n")
    TrainingLog(tmp_path, resume=True).close()
    with open(tmp_path / "metrics.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == COLUMNS and [r["step"] for r in rows] == ["10", "20"]
    assert rows[1]["val_pesq"] == "1.3" and rows[1]["val_estoi"] == "" and rows[0]["loss"] == "0.5"


class _FillsUp:
    """A file on a disk with `room` bytes free: writes beyond it fail as a full disk does (OSError ENOSPC)."""

    def __init__(self, file, room: int):
        self.file, self.room = file, room

    def write(self, data) -> int:
        if len(data) > self.room:
            self.file.write(bytes(data)[:self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def test_a_full_disk_while_saving_a_checkpoint_or_model_file_is_one_line_and_leaves_no_partial_file(tmp_path,
                                                                                                       monkeypatch):
    """torch reports a failed write only as RuntimeError "unexpected pos"; cmkt reports the full disk."""
    checkpoint = random_checkpoint(tmp_path / "run" / "last.ckpt")
    finished = checkpoint.read_bytes()
    monkeypatch.setattr(checkpoints, "open", lambda path, mode: _FillsUp(open(path, mode), 100_000), raising=False)
    with pytest.raises(BadInput, match=f"^no space left on the device of {tmp_path / 'run'}: free some space and "
                                       f"rerun \\(finished work is kept\\)$"):
        random_checkpoint(checkpoint)
    assert checkpoint.read_bytes() == finished and [p.name for p in checkpoint.parent.iterdir()] == ["last.ckpt"]
    result = run_cli("export", checkpoint, "-o", tmp_path / "model.pt")
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"error: no space left on the device of {tmp_path}: free some space and rerun (finished work is kept)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.slow
def test_train_on_a_full_disk_keeps_its_finished_checkpoints(prepared, monkeypatch):
    saves = []  # the disk fills up after best.ckpt, while last.ckpt is written

    def filling(path, mode):
        saves.append(path)
        return _FillsUp(open(path, mode), 10**12 if len(saves) == 1 else 100_000)

    monkeypatch.setattr(checkpoints, "open", filling, raising=False)
    result = run_cli("train", "-w", prepared, "--run-name", "full", "--max-steps", "1", *FAST)
    run = prepared / "train" / "full"
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and lines == [f"error: no space left on the device of {run}: free some space and "
                                               f"rerun (finished work is kept)"], result.output
    assert [Path(p).name for p in saves] == ["best.tmp", "last.tmp"]
    assert (run / "best.ckpt").exists() and not (run / "last.ckpt").exists() and not list(run.glob("*.tmp"))
