"""GTCRN's published checkpoints (../shared/data/interop/gtcrn): read with weights_only, imported by renaming keys,
and computing what the upstream code computed: 1e-10 relative in float64, 1e-5 in float32, for the spectrogram
the network outputs and the waveform the model returns."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from pipelines.checkpoints import load_for_inference, read_model
from pipelines.enhancer import EnhancerConfig, SpeechEnhancer
from pipelines.interop import gtcrn
from pipelines.models.crn import erb_filters
from tests.conftest import run_cli, shared, speech_like, write_wav

TOLERANCE = {"f64": (torch.float64, 1e-10), "f32": (torch.float32, 1e-5)}
CHECKPOINTS = {"dns3": "model_trained_on_dns3.tar", "vctk": "model_trained_on_vctk.tar"}


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return dict(np.load(shared("interop/gtcrn/reference.npz")))


def _model(name: str, dtype: torch.dtype) -> SpeechEnhancer:
    payload = read_model(shared(f"interop/gtcrn/{CHECKPOINTS[name]}"))
    model = SpeechEnhancer(EnhancerConfig.from_dict(payload["config"]), training_parts=False).eval()
    model.load_state_dict(payload["weights"])
    return model.to(dtype)


def _relative(found: torch.Tensor, expected: np.ndarray) -> float:
    expected = torch.from_numpy(expected)
    return float((found.to(expected.dtype) - expected).abs().max() / expected.abs().max())


@pytest.mark.parametrize("name", CHECKPOINTS)
@pytest.mark.parametrize("tag", TOLERANCE)
def test_the_imported_network_and_model_match_upstream(name, tag, reference):
    dtype, tolerance = TOLERANCE[tag]
    model = _model(name, dtype)
    noisy = torch.from_numpy(reference["noisy"]).to(dtype)[None]
    with torch.no_grad():
        spec_in = model.spec.to_spec(noisy)
        spec_out = model.denoiser(torch.view_as_complex(torch.from_numpy(reference[f"{name}_{tag}_spec_in"]))[None, None])
        wave, evaluations = model.enhance(noisy, "predictive")
    assert evaluations == 1
    assert _relative(torch.view_as_real(spec_in[0, 0]), reference[f"{name}_{tag}_spec_in"]) <= tolerance
    assert _relative(torch.view_as_real(spec_out[0, 0]), reference[f"{name}_{tag}_spec_out"]) <= tolerance
    assert _relative(wave[0], reference[f"{name}_{tag}_wav_out"]) <= tolerance


def test_the_checkpoints_load_with_weights_only_and_carry_the_erb_bank_cmkt_computes():
    payload = torch.load(shared("interop/gtcrn/model_trained_on_dns3.tar"), map_location="cpu", weights_only=True)
    assert gtcrn.matches(payload)
    torch.testing.assert_close(erb_filters(65, 64, 512), payload["model"]["erb.erb_fc.weight"], rtol=0, atol=0)


def test_import_checkpoint_writes_a_model_file_that_enhances_as_the_tar_does(tmp_path):
    tar = shared("interop/gtcrn/model_trained_on_dns3.tar")
    model_file = tmp_path / "gtcrn-dns3.pt"
    result = run_cli("import-checkpoint", tar, "-o", model_file, "-q")
    assert result.exit_code == 0, result.output
    imported = load_for_inference(model_file, torch.device("cpu"))
    assert imported.config.preset == "gtcrn" and "MIT License" in imported.card["licence"]
    assert imported.card["imported_from"]["project"] == "GTCRN"
    noisy = write_wav(tmp_path / "in" / "noisy.wav", speech_like(2.0, seed=4) + 0.02 * np.random.default_rng(0)
                      .standard_normal(32_000).astype(np.float32))
    outputs = {}
    for label, ckpt in (("tar", tar), ("model", model_file)):
        result = run_cli("enhance", noisy, "-o", tmp_path / label, "--ckpt", ckpt, "-w", tmp_path / "w", "-q")
        assert result.exit_code == 0, result.output
        outputs[label] = sf.read(tmp_path / label / "noisy.wav", dtype="float32")[0]
    np.testing.assert_array_equal(outputs["tar"], outputs["model"])


def test_training_starts_from_a_gtcrn_checkpoint_and_keeps_its_licence(prepared):
    tar = shared("interop/gtcrn/model_trained_on_vctk.tar")
    result = run_cli("train", "-w", prepared, "--init-from", tar, "--max-steps", "1", "--batch-size", "2",
                     "--crop-frames", "32", "--validate-every", "1", "--val-utterances", "1", "--run-name", "from-gtcrn",
                     "-q")
    assert result.exit_code == 0, result.output
    run = prepared / "train" / "from-gtcrn"
    config = torch.load(run / "last.ckpt", weights_only=True)["config"]
    assert config["preset"] == "gtcrn" and config["normalisation"] == "none"
    exported = run / "model.pt"
    assert run_cli("export", run / "last.ckpt", "-o", exported, "--sampler", "predictive", "-q").exit_code == 0
    assert "MIT License" in load_for_inference(exported, torch.device("cpu")).card["licence"]


def test_a_gtcrn_checkpoint_of_another_layout_is_one_clear_line(tmp_path):
    payload = torch.load(shared("interop/gtcrn/model_trained_on_dns3.tar"), map_location="cpu", weights_only=True)
    payload["model"]["dpgrnn1.intra_fc.weight"] = torch.zeros(3, 3)
    broken = tmp_path / "broken.tar"
    torch.save(payload, broken)
    result = run_cli("import-checkpoint", broken, "-o", tmp_path / "x.pt")
    assert result.exit_code == 2 and "another layout" in result.output and "Traceback" not in result.output
