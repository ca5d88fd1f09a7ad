"""`cmkt train --teacher --kd output|tfckd|subband` and `--subband-teacher K/N`: the distillation term is finite and
falls as the student learns, the runs resume, the training-only parts stay out of the model file, bad pairs are
one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines.audio_io import load_audio
from pipelines.checkpoints import read_model
from pipelines.enhancer import EnhancerConfig, SpeechEnhancer
from pipelines.models.subbands import band_edges, band_mask
from pipelines.models.tf_calibrated_kd import TeacherOutput
from pipelines.pretrained import model_file
from pipelines.training.distillation import Teacher
from tests.conftest import run_cli, shared

FAST = ["--preset", "gtcrn", "--batch-size", "2", "--crop-frames", "32", "--validate-every", "1000", "--lr", "1e-3",
        "-q"]


def _real_crops() -> tuple[torch.Tensor, torch.Tensor]:
    """Two 1 s crops of real speech (CMU ARCTIC) with real noise (a kitchen) at about 0 dB."""
    speech = [load_audio(p).samples[:16_000] for p in sorted(shared("speech_en").glob("cmu_arctic_*.wav"))[:2]]
    noise = load_audio(shared("noise") / "doing_the_dishes.wav").samples
    clean = torch.tensor(np.stack(speech), dtype=torch.float32)
    noise = torch.tensor(np.stack([noise[:16_000], noise[16_000:32_000]]), dtype=torch.float32)
    noise = noise * clean.square().mean(-1, keepdim=True).sqrt() / noise.square().mean(-1, keepdim=True).sqrt()
    return clean, clean + noise


def _kd_losses(student: SpeechEnhancer, teacher, steps: int) -> list[float]:
    torch.manual_seed(0)
    clean, noisy = _real_crops()
    optimiser = torch.optim.Adam(student.parameters(), lr=3e-3)
    target: TeacherOutput = teacher(noisy)
    values = []
    for _ in range(steps):
        losses = student.losses(clean, noisy, teacher=target)
        optimiser.zero_grad()
        losses["loss"].backward()
        optimiser.step()
        values.append(losses["loss_kd"].item())
    return values


@pytest.mark.parametrize("kind", ["output", "tfckd"])
def test_the_distillation_term_is_finite_and_falls(kind):
    teacher = Teacher(model_file(None), torch.device("cpu"), with_taps=kind == "tfckd")
    config = EnhancerConfig(preset="gtcrn", distillation=kind,
                            teacher_taps=teacher.tap_widths if kind == "tfckd" else {})
    torch.manual_seed(0)
    values = _kd_losses(SpeechEnhancer(config), teacher, 15)
    assert all(np.isfinite(values)), values
    assert np.mean(values[-3:]) < 0.8 * np.mean(values[:3]), values


def test_tfckd_projects_every_tapped_layer_to_the_teachers_width():
    teacher = Teacher(model_file(None), torch.device("cpu"), with_taps=True)
    widths = teacher.tap_widths
    assert set(widths) == {"encoder", "bottleneck", "decoder"} and len(widths["encoder"]) == 5
    student = SpeechEnhancer(EnhancerConfig(preset="crn-m", distillation="tfckd", teacher_taps=widths))
    projections = student.feature_distiller.projections
    assert [p.out_channels for p in projections["bottleneck"]] == [16, 16, 16]  # crn-m: 3 blocks of 32 -> 16
    assert all(p.in_channels == 32 for stage in projections.values() for p in stage)


def test_an_elite_teacher_sees_and_enhances_its_band_alone():
    model = SpeechEnhancer(EnhancerConfig(preset="gtcrn", subband=[2, 4])).eval()
    bins = 257
    y = torch.randn(1, 1, bins, 20, dtype=torch.complex64)
    lo, hi = band_edges(bins, 4)[1:3]
    with torch.no_grad():
        out = model.denoise(y)
        outside = y.clone()
        outside[:, :, lo:hi] = 0
        changed = model.denoise(y + 5 * outside)  # what lies outside the band makes no difference
    assert out[:, :, :lo].abs().max() == 0 and out[:, :, hi:].abs().max() == 0 and out[:, :, lo:hi].abs().max() > 0
    torch.testing.assert_close(changed, out)
    assert sum(band_mask(bins, k, 4).sum().item() for k in range(1, 5)) == bins  # the bands tile the spectrum


def test_subband_and_tfckd_runs_train_resume_and_export_without_training_parts(prepared, tmp_path):
    train = prepared / "train"
    for band in ("1/2", "2/2"):
        result = run_cli("train", "-w", prepared, *FAST, "--max-steps", "2", "--subband-teacher", band,
                         "--run-name", f"band{band[0]}")
        assert result.exit_code == 0, result.output
    elite = f"{train / 'band1' / 'last.ckpt'},{train / 'band2' / 'last.ckpt'}"
    for run, kd in (("sub", ["--kd", "subband", "--teacher", elite]), ("tf", ["--kd", "tfckd", "--teacher", "bundled"])):
        first = run_cli("train", "-w", prepared, *FAST, "--max-steps", "2", "--run-name", run, *kd)
        again = run_cli("train", "-w", prepared, *FAST, "--max-steps", "3", "--run-name", run, "--resume", *kd)
        assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
        header, *rows = [line.split(",") for line in (train / run / "metrics.csv").read_text().splitlines()]
        assert all(np.isfinite(float(row[header.index("loss_kd")])) for row in rows if row[header.index("loss_kd")])
    out = tmp_path / "tf.pt"
    assert run_cli("export", train / "tf" / "best.ckpt", "-o", out, "-q").exit_code == 0
    assert not [k for k in read_model(out)["weights"] if "feature_distiller" in k]
    enhanced = run_cli("enhance", prepared.parent / "clean" / "u0.wav", "--ckpt", out, "-o", tmp_path / "e.wav", "-q")
    assert enhanced.exit_code == 0, enhanced.output


@pytest.mark.parametrize("args, message", [
    (["--kd", "tfckd", "--teacher", "cmkt-a-small-debian"], "--kd tfckd needs a predictive teacher"),
    (["--kd", "output", "--teacher", "bundled,bundled"], "a list of models is for --kd subband"),
    (["--kd", "subband", "--teacher", "bundled,bundled"], "one elite teacher per band"),
    (["--subband-teacher", "3/2"], "--subband-teacher K/N needs"),
    (["--subband-teacher", "half"], "--subband-teacher expects K/N"),
    (["--subband-teacher", "1/2", "--kd", "output", "--teacher", "bundled"], "learns from the clean target alone"),
])
def test_bad_distillation_settings_are_one_line_errors(prepared, args, message):
    result = run_cli("train", "-w", prepared, *FAST, "--max-steps", "1", "--run-name", "bad", *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output
