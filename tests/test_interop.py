"""SGMSE+ and StoRM checkpoints as published: cmkt computes what upstream computes, and reads them safely.

The fixtures (../shared/data/interop, see its README) are small upstream checkpoints with
references that the upstream code computed in float64. cmkt must match them to 1e-10 in
float64 (the same arithmetic up to rounding) and to 1e-5 in float32, where the model file
that `cmkt import-checkpoint` writes is what runs.
"""

from __future__ import annotations

import pickle
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.interop_errors import CHECKPOINTS, errors
from pipelines.enhancer import EnhancerConfig, SpeechEnhancer
from pipelines.inference import SamplingOptions
from pipelines.interop.importer import import_lightning
from pipelines.interop.reader import load_restricted
from pipelines.stages.enhance import EnhanceOptions, _load_model
from pipelines.checkpoints import load_for_inference
from pipelines.training.init_from import initial_config, load_initial_weights
from pipelines.video.lip_track import LipTrack, video_context
from tests.conftest import run_cli, shared, speech_like, write_wav

FLOAT64, FLOAT32 = 1e-10, 1e-5


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These networks are small: on busy cores a second thread only waits for the first (7x slower measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def references() -> dict[str, dict[str, np.ndarray]]:
    folder = shared("interop")
    return {project: dict(np.load(folder / project / "reference.npz")) for project in ("sgmse", "storm")}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[SpeechEnhancer, SpeechEnhancer]]:
    """Each fixture checkpoint as a float64 model (converted in memory) and as the float32 model file written by
    `cmkt import-checkpoint`."""
    folder, out = shared("interop"), tmp_path_factory.mktemp("imported")
    loaded = {}
    for project, name, _ in CHECKPOINTS:
        path = folder / project / name
        imported = import_lightning(load_restricted(path), path)
        exact = SpeechEnhancer(EnhancerConfig.from_dict(imported["config"]), training_parts=False).double().eval()
        exact.load_state_dict(imported["weights"])
        model_file = out / f"{project}-{name}.pt"
        result = run_cli("import-checkpoint", path, "-o", model_file, "-q")
        assert result.exit_code == 0, result.output
        loaded[f"{project}/{name}"] = exact, load_for_inference(model_file, torch.device("cpu"))
    return loaded


@pytest.mark.parametrize("project, name, prefix", CHECKPOINTS)
def test_front_end_denoiser_and_scores_match_upstream(project, name, prefix, references, models):
    """Y from the waveform, the waveform back, StoRM's y_hat and the score at t = 1, 0.5, 0.1, 0.03."""
    for model, dtype, tolerance in zip(models[f"{project}/{name}"], (torch.float64, torch.float32),
                                       (FLOAT64, FLOAT32)):
        found = errors(model, references[project], prefix, dtype)
        assert {"Y", "wave", "score"} <= set(found) and max(found.values()) < tolerance, (dtype, found)
    assert ("y_denoised" in found) == (project == "storm")


def test_imported_models_carry_upstream_settings_and_sampler(models):
    sgmse, storm = models["sgmse/model.ckpt"][1], models["storm/model.ckpt"][1]
    assert (sgmse.config.spec_factor, storm.config.spec_factor) == (0.15, 0.33)
    assert not models["sgmse/model_uncentered.ckpt"][1].config.centered and sgmse.config.centered
    y = torch.randn(1, 1, 256, 64, dtype=torch.complex64)
    assert sgmse.denoiser is None and sgmse.denoise(y) is y  # SGMSE+ has no denoiser: y_hat = y
    assert storm.config.score_condition == "both" and not storm.config.centered
    assert sgmse.card["sampling"] == {"sampler": "pc", "steps": 30, "corrector": "ald", "snr": 0.5,
                                      "step_rule": "t_eps"}
    assert storm.card["sampling"]["steps"] == 50 and storm.card["sampling"]["step_rule"] == "1/N"
    assert sgmse.card["imported_from"]["weights"] == "EMA"


def test_enhance_reads_an_upstream_checkpoint_directly(tmp_path):
    noisy = write_wav(tmp_path / "noisy.wav", speech_like(0.5) + 0.01 * np.random.default_rng(0).standard_normal(
        8_000).astype(np.float32))
    for project in ("sgmse", "storm"):
        result = run_cli("enhance", noisy, "-o", tmp_path / project, "--ckpt", shared(f"interop/{project}/model.ckpt"),
                         "--steps", "2", "-w", tmp_path / "w", "-q")
        assert result.exit_code == 0, result.output
        assert (tmp_path / project / "noisy.wav").is_file()
    # a step count of one's own keeps upstream's step rule, from the imported card
    chosen = SamplingOptions("pc", 2, step_rule=None)
    _, resolved = _load_model(EnhanceOptions(shared("interop/sgmse/model.ckpt"), chosen))
    assert resolved.sampling == SamplingOptions("pc", 2, step_rule="t_eps") and resolved.sampling.tag == "pc2ald-teps"


class Payload:
    """Pickles as a call of os.system: what a hostile checkpoint would do on torch.load(weights_only=False)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker, hostile = tmp_path / "ran", tmp_path / "hostile.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"backbone": Payload(marker)}}, hostile)
    with zipfile.ZipFile(hostile) as archive:  # the file really carries the call
        assert any(b"system" in archive.read(n) for n in archive.namelist() if n.endswith(".pkl"))
    for args in (("import-checkpoint", hostile, "-o", tmp_path / "m.pt"),
                 ("enhance", write_wav(tmp_path / "a.wav", speech_like(0.3)), "--ckpt", hostile, "-w", tmp_path / "w")):
        result = run_cli(*args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and "refused" in lines[0] and "system" in lines[0], lines
    assert not marker.exists() and not (tmp_path / "m.pt").exists()
    with pytest.raises(pickle.UnpicklingError):  # and plain torch refuses it too
        torch.load(hostile, weights_only=True)


def sgmse_variant(path: Path, hyper_parameters: dict | None = None, **changes) -> Path:
    """The SGMSE+ fixture saved again with other hyper-parameters, or some entries changed (None drops one)."""
    payload = load_restricted(shared("interop/sgmse/model.ckpt"))
    hparams = {k: v for k, v in payload["hyper_parameters"].items() if k != "data_module_cls"}
    payload["hyper_parameters"] = hparams if hyper_parameters is None else hyper_parameters
    for key, value in changes.items():
        target = payload if key in payload else hparams
        if value is None:
            del target[key]
        else:
            target[key] = value
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("change, named", [({"sde": "sbve"}, "sde 'sbve'"), ({"backbone": "ncsnpp_v2"}, "ncsnpp_v2"),
                                           ({"transform_type": "log"}, "transform_type 'log'"),
                                           ({"progressive": "residual"}, "progressive"),
                                           ({"nf": 32}, "do not fit"), ({"centered": None}, "centered")])
def test_what_cmkt_cannot_represent_is_refused_naming_it(tmp_path, change, named):
    path = sgmse_variant(tmp_path / "changed.ckpt", **change)
    result = run_cli("import-checkpoint", path, "-o", tmp_path / "m.pt")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and named in lines[0] and "SGMSE+" in lines[0], lines


def test_lightning_attribute_dicts_and_missing_ema_are_read(tmp_path, monkeypatch):
    """Lightning versions pickle the hyper-parameters as an AttributeDict; a checkpoint may lack the EMA."""
    module = types.ModuleType("pytorch_lightning.utilities.parsing")
    module.AttributeDict = type("AttributeDict", (dict,), {"__module__": module.__name__})
    with monkeypatch.context() as patch:  # a stand-in Lightning, only so the test can write such a pickle
        for name in ("pytorch_lightning", "pytorch_lightning.utilities", module.__name__):
            patch.setitem(sys.modules, name, module)
        hparams = {k: v for k, v in load_restricted(shared("interop/sgmse/model.ckpt"))["hyper_parameters"].items()
                   if k != "data_module_cls"}
        path = sgmse_variant(tmp_path / "attribute_dict.ckpt", module.AttributeDict(hparams), ema=None)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == [f"{module.__name__}.AttributeDict"]
    model = load_for_inference(path, torch.device("cpu"))
    assert model.config.network["nf"] == 16 and model.card["imported_from"]["weights"] == "raw"


@pytest.mark.parametrize("modality, fusion", [("av", "none"), ("avl", "ot"), ("avl", "mhca")])
def test_a_run_started_from_an_imported_model_is_that_model_at_step_0(modality, fusion, models, tmp_path):
    imported = models["storm/model.ckpt"][1]
    path = tmp_path / "storm.pt"
    torch.save({"format": "cmkt-model-1", "config": imported.config.to_dict(), "weights": imported.state_dict(),
                "card": {}}, path)
    requested = EnhancerConfig(modality=modality, fusion=fusion, visual_dim=16, text_dim=8, text_vocab_size=10)
    config, weights, _ = initial_config(path, requested)
    assert (config.score_condition, config.spec_factor, config.modality, config.fusion) == ("both", 0.33, modality, fusion)
    torch.manual_seed(0)
    model = SpeechEnhancer(config).eval()
    load_initial_weights(model, weights, path)
    y, x = torch.randn(2, 1, 1, 256, 64, dtype=torch.complex64)
    video = video_context([LipTrack(np.random.rand(20, 16).astype(np.float32), 25.0)], [(0.0, 0.5)], (16,))
    t = torch.tensor([0.5])
    with torch.inference_mode():
        torch.testing.assert_close(model.denoise(y, video), imported.denoise(y))
        y_hat = imported.denoise(y)
        torch.testing.assert_close(model.score(x, y, y_hat, t, video), imported.score(x, y, y_hat, t))


def test_train_init_from_an_upstream_checkpoint_fine_tunes_it(prepared):
    result = run_cli("train", "-w", prepared, "--init-from", shared("interop/sgmse/model.ckpt"), "--max-steps", "1",
                     "--batch-size", "2", "--crop-frames", "32", "--val-steps", "1", "--validate-every", "1", "-q")
    assert result.exit_code == 0, result.output
    run = torch.load(prepared / "train" / "a-from-model-seed0" / "last.ckpt", weights_only=True)
    assert run["config"]["score_parametrisation"] == "sgmse" and run["config"]["denoiser_output"] == "none"
    start = load_for_inference(shared("interop/sgmse/model.ckpt"), torch.device("cpu")).state_dict()
    moved = [k for k, v in run["model"].items() if not torch.equal(v, start[k])]
    assert moved and set(run["model"]) == set(start)  # the same network, one step further


@pytest.mark.parametrize("change, named", [
    ({"hop_length": "128"}, "hyper-parameter hop_length must be an integer from 1 to 510, got '128'"),
    ({"nf": -16}, "hyper-parameter nf must be an integer from 1 to 256, got -16"),
    ({"nf": 10**6}, "hyper-parameter nf must be an integer from 1 to 256, got 1000000"),
    ({"N": 0}, "hyper-parameter N must be an integer from 1 to 1000, got 0"),
    ({"N": -3}, "hyper-parameter N must be an integer from 1 to 1000, got -3"),
    ({"N": 10**9}, "hyper-parameter N must be an integer from 1 to 1000, got 1000000000"),
    ({"ema": [1, 2]}, "its ema is not of the expected type"),
    ({"centered": "False"}, "hyper-parameter centered must be true or false, got 'False'"),
    ({"spec_factor": float("nan")}, "hyper-parameter spec_factor must be a number in (0, 100], got nan"),
    ({"sigma_max": 0.01}, "hyper-parameter sigma_max must be a number in (0.05, 100], got 0.01"),
    ({"ch_mult": "1122"}, "hyper-parameter ch_mult must be a list of 1 to 10 integers, got '1122'"),
    ({"attn_resolutions": [torch.ones(3)]}, "hyper-parameter attn_resolutions must be an integer"),
    ({"fir": torch.ones(3)}, "NCSN++ fir tensor"),
    ({"hyper_parameters": ["not", "a", "dict"]}, "its hyper_parameters is not of the expected type"),
])
def test_hostile_hyper_parameters_are_refused_at_import_naming_the_key(tmp_path, change, named):
    path = sgmse_variant(tmp_path / "hostile.ckpt", **change)
    result = run_cli("import-checkpoint", path, "-o", tmp_path / "m.pt")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and named in lines[0], lines
    assert not (tmp_path / "m.pt").exists()


def test_a_tensor_its_file_cannot_hold_is_refused_before_anything_reads_it(tmp_path, prepared):
    """A 6 MB file declaring a 10^6 x 10^6 float64 weight over one stored value (stride 0): 8 TB if copied."""
    payload = load_restricted(shared("interop/sgmse/model.ckpt"))
    payload["hyper_parameters"].pop("data_module_cls")
    bomb = torch.zeros(1, dtype=torch.float64).expand(10**6, 10**6)
    first = next(iter(payload["state_dict"]))
    payload["state_dict"][first] = bomb
    payload["ema"]["shadow_params"][0] = bomb
    path = tmp_path / "bomb.ckpt"
    torch.save(payload, path)
    assert path.stat().st_size < 10 * 2**20
    wav = write_wav(tmp_path / "a.wav", speech_like(0.3))
    for args in (("import-checkpoint", path, "-o", tmp_path / "m.pt"),
                 ("enhance", wav, "--ckpt", path, "-w", tmp_path / "w"),
                 ("train", "-w", prepared, "--init-from", path, "--max-steps", "1", "--run-name", "bomb")):
        result = run_cli(*args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, lines
        assert "declares (1000000, 1000000) float64, 8,000,000,000,000 bytes, the file holds 8 bytes" in lines[0]


def test_nan_weights_are_refused_at_import_and_at_train_init_from(tmp_path, prepared):
    payload = load_restricted(shared("interop/sgmse/model.ckpt"))
    state = dict(payload["state_dict"])
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = torch.full_like(state[first], float("nan"))
    path = sgmse_variant(tmp_path / "nan.ckpt", state_dict=state, ema=None)
    for args in (("import-checkpoint", path, "-o", tmp_path / "m.pt"),
                 ("train", "-w", prepared, "--init-from", path, "--max-steps", "1", "--run-name", "nan")):
        result = run_cli(*args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and "hold nan or inf" in lines[0], lines
    assert not (tmp_path / "m.pt").exists()
