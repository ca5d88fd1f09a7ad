"""The bundled default model and model files: `cmkt enhance noisy.wav` with nothing else, offline, and better.

The quality check runs the shipped weights on a real babble mixture the model never saw
(python-pesq's speech_bab_0dB.wav, another speaker, language and babble) and asks for a
clear gain, not just "not worse".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from pipelines.inference import SamplingOptions, enhance_recordings
from pipelines.metrics import intrusive_metrics
from pipelines.pretrained import DEFAULT_MODEL, DEFAULT_NAME, bundled_model, bundled_names, model_file
from pipelines.stages.enhance import EnhanceOptions, _load_model
from pipelines.checkpoints import load_for_inference
from tests.conftest import random_checkpoint, run_cli, shared, speech_like, write_wav

# the default model on this pair (docs/pretrained.md): SI-SDR 0.10 -> 4.19 dB, ESTOI 0.390 -> 0.530; the test asks
# for a bit more than half of each gain, so a model that does nothing (or harm) fails
MIN_SI_SDR_GAIN_DB = 2.0
MIN_ESTOI_GAIN = 0.07


def test_enhance_with_no_options_writes_a_better_file_beside_the_input(tmp_path):
    pair = shared("metric_refs/python_pesq")
    noisy_path = shutil.copy(pair / "speech_bab_0dB.wav", tmp_path / "speech_bab_0dB.wav")
    result = run_cli("enhance", noisy_path, "-w", tmp_path / "w")
    assert result.exit_code == 0, result.output
    enhanced_path = tmp_path / "speech_bab_0dB_enhanced.wav"
    noisy_info, enhanced_info = sf.info(noisy_path), sf.info(enhanced_path)
    assert (enhanced_info.frames, enhanced_info.samplerate) == (noisy_info.frames, noisy_info.samplerate)
    clean = sf.read(pair / "speech.wav")[0]
    before = intrusive_metrics(clean, sf.read(noisy_path)[0])
    after = intrusive_metrics(clean, sf.read(enhanced_path)[0])
    assert after["si_sdr"] - before["si_sdr"] > MIN_SI_SDR_GAIN_DB, (before, after)
    assert after["estoi"] - before["estoi"] > MIN_ESTOI_GAIN, (before, after)


def test_bundled_model_loads_and_enhances_with_the_network_cut_off():
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network use in an offline test')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "import numpy as np, torch\n"
        "from pipelines.pretrained import bundled_model, recommended_sampling\n"
        "from pipelines.checkpoints import load_for_inference\n"
        "from pipelines.inference import enhance_recordings\n"
        "model = load_for_inference(bundled_model(), torch.device('cpu'))\n"
        "noisy = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)\n"
        "out, _ = enhance_recordings(model, [noisy], recommended_sampling(model.card), batch_size=1)\n"
        "assert out[0].shape == noisy.shape and np.all(np.isfinite(out[0]))\n"
        "print('sampler', recommended_sampling(model.card).tag)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert "sampler" in result.stdout


def test_bundled_model_is_inference_only_and_carries_its_card():
    payload = torch.load(DEFAULT_MODEL, map_location="cpu", weights_only=True)
    assert set(payload) == {"format", "cmkt_version", "config", "weights", "card"}
    assert all(v.dtype == torch.float16 for v in payload["weights"].values() if v.is_floating_point())
    card = payload["card"]
    assert {"sampling", "trained_steps", "training_seconds", "data"} <= set(card)
    assert card["trained_steps"] > 0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "run" / "last.ckpt", step=7)


def test_export_keeps_what_enhancing_needs_and_the_card_picks_the_sampler(tmp_path, checkpoint):
    card = tmp_path / "card.json"
    card.write_text('{"data": "generated"}')
    result = run_cli("export", checkpoint, "-o", tmp_path / "model.pt", "--sampler", "ode", "--steps", "3",
                     "--t-start", "0.5", "--card", card)
    assert result.exit_code == 0, result.output
    # the fixture's live and EMA weights share storage (saved once, float32): the model file is half of that
    assert (tmp_path / "model.pt").stat().st_size < 0.55 * checkpoint.stat().st_size
    exported = load_for_inference(tmp_path / "model.pt", torch.device("cpu"))
    original = load_for_inference(checkpoint, torch.device("cpu"))
    assert exported.card["data"] == "generated" and exported.card["trained_steps"] == 7
    noisy = [speech_like(1.0) + 0.05 * np.random.default_rng(0).standard_normal(16_000).astype(np.float32)]
    options = SamplingOptions("predictive", 1)
    a = enhance_recordings(exported, noisy, options, batch_size=1)[0][0]
    b = enhance_recordings(original, noisy, options, batch_size=1)[0][0]
    assert np.max(np.abs(a - b)) < 1e-2 * np.max(np.abs(b))  # float16 weights, float32 compute
    _, resolved = _load_model(EnhanceOptions(tmp_path / "model.pt"))
    assert resolved.sampling == SamplingOptions("ode", 3, "ald", 0.5, t_start=0.5)
    _, resolved = _load_model(EnhanceOptions(checkpoint))
    assert resolved.sampling == SamplingOptions()  # a checkpoint has no card: the paper's PC 30 + ALD


def test_a_folder_needs_an_output_folder_and_bad_model_files_are_one_line_errors(tmp_path, checkpoint):
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    result = run_cli("enhance", tmp_path / "in", "--ckpt", checkpoint, "-w", tmp_path / "w")
    assert result.exit_code == 2 and "needs an output folder (-o DIR)" in result.output
    result = run_cli("export", checkpoint, "-o", tmp_path / "m.pt", "--card", tmp_path / "missing.json")
    assert result.exit_code == 2 and "not a readable JSON file" in result.output
    result = run_cli("export", tmp_path / "in" / "a.wav", "-o", tmp_path / "m.pt")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_the_card_attenuation_limit_is_the_default_and_the_option_overrides_it(tmp_path, checkpoint):
    result = run_cli("export", checkpoint, "-o", tmp_path / "model.pt", "--sampler", "predictive",
                     "--attenuation-limit", "12")
    assert result.exit_code == 0, result.output
    model = tmp_path / "model.pt"
    assert _load_model(EnhanceOptions(model))[1].sampling == SamplingOptions("predictive", attenuation_limit=12.0)
    chosen = _load_model(EnhanceOptions(model, SamplingOptions("pc", 5)))[1].sampling
    assert chosen.attenuation_limit == 12.0 and chosen.steps == 5  # another sampler keeps the card's limit
    unlimited = _load_model(EnhanceOptions(model, attenuation_limit=float("inf")))[1].sampling
    assert unlimited.sampler == "predictive" and unlimited.noisy_share == 0.0


def test_models_lists_the_bundled_models_default_first_and_enhance_takes_one_by_name(tmp_path):
    result = run_cli("models")
    assert result.exit_code == 0, result.output
    names = bundled_names()
    assert names[0] == DEFAULT_NAME and "cmkt-a-small-debian" in names
    assert result.output.index(f"{DEFAULT_NAME} (default)") < result.output.index("cmkt-a-small-debian")
    write_wav(tmp_path / "a.wav", speech_like(0.5))
    result = run_cli("enhance", tmp_path / "a.wav", "--model", "cmkt-a-small-debian", "-w", tmp_path / "w")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a_enhanced.wav").is_file()


def test_the_distilled_student_ships_by_name_with_its_teacher_and_licence_on_its_card(tmp_path):
    """cmkt-gtcrn-kd-debian (issue 23): GTCRN's size, distilled from GTCRN-DNS3; the MIT notice travels with it."""
    from pipelines.checkpoints import read_model

    model = read_model(model_file("cmkt-gtcrn-kd-debian"))
    card, causal = model["card"], read_model(bundled_model(streaming=True))
    assert model["config"]["preset"] == "gtcrn" and "GTCRN-DNS3" in card["teacher"] and "--kd output" in card["training"]
    assert "MIT License" in card["licence"] and "Rong Xiaobin" in card["licence"]
    assert {k: v.shape for k, v in model["weights"].items()} == {k: v.shape for k, v in causal["weights"].items()}
    write_wav(tmp_path / "a.wav", speech_like(0.5))
    result = run_cli("enhance", tmp_path / "a.wav", "--model", "cmkt-gtcrn-kd-debian", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.wav").is_file()


@pytest.mark.parametrize("name", ["cmkt-gtcrn-ssl-debian", DEFAULT_NAME])
def test_the_speech_encoder_models_ship_by_name_with_the_encoder_and_both_mit_notices(tmp_path, name):
    """cmkt-gtcrn-ssl-debian and the default, cmkt-gtcrn-ssl-kd-debian (issues 21 and 26): GTCRN-DNS3 fine-tuned
    with frozen Whisper tiny.en states (the default also distilled from GTCRN-DNS3); each file embeds the encoder, so
    Whisper's MIT notice travels with it beside GTCRN's, and the card says it cannot stream."""
    from pipelines.checkpoints import read_model
    from pipelines.enhancing import Engine
    from pipelines.streaming import why_not_streamable

    model = read_model(model_file(name))
    config, card = model["config"], model["card"]
    assert config["preset"] == "gtcrn" and config["ssl"] == "frozen" and config["ssl_layers"] == [2, 3, 4]
    assert sum(v.numel() for k, v in model["weights"].items() if k.startswith("ssl_encoder.")) > 8_000_000
    assert "Rong Xiaobin" in card["licence"] and "Copyright (c) 2022 OpenAI" in card["encoder_licence"]
    assert "not causal" in card["model"] and ("--kd output" in card["training"]) == (name == DEFAULT_NAME)
    write_wav(tmp_path / "a.wav", speech_like(0.5))
    result = run_cli("enhance", tmp_path / "a.wav", "--model", name, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.wav").is_file()
    engine = Engine.load(name)
    assert why_not_streamable(engine.network, engine.sampling) == "its speech encoder attends over whole chunks"


def test_streaming_without_a_model_name_takes_the_causal_bundled_model():
    """The default cannot stream, so `cmkt enhance -` without --model uses cmkt-gtcrn-debian; naming the default
    gives the reason it cannot."""
    from pipelines.enhancing import Engine
    from pipelines.streaming import to_pcm16, why_not_streamable

    causal = Engine.load(bundled_model(streaming=True))
    assert causal.path.stem == "cmkt-gtcrn-debian" and why_not_streamable(causal.network, causal.sampling) == ""
    raw = to_pcm16(0.1 * np.sin(np.arange(8000) / 3.0))
    piped = subprocess.run([sys.executable, "-m", "cmkt_cli.main", "enhance", "-"], input=raw, capture_output=True,
                           timeout=600)
    assert piped.returncode == 0 and len(piped.stdout) == len(raw)
    piped = subprocess.run([sys.executable, "-m", "cmkt_cli.main", "enhance", "-", "--model", DEFAULT_NAME],
                           input=raw, capture_output=True, timeout=600)
    assert piped.returncode == 2 and b"speech encoder attends over whole chunks" in piped.stderr
    assert b"Traceback" not in piped.stderr


def test_an_unknown_model_name_or_two_models_at_once_are_one_line_errors(tmp_path, checkpoint):
    write_wav(tmp_path / "a.wav", speech_like(0.5))
    result = run_cli("enhance", tmp_path / "a.wav", "--model", "nope", "-w", tmp_path / "w")
    assert result.exit_code == 2 and "no bundled model named 'nope'" in result.output
    assert DEFAULT_NAME in result.output  # the message lists what there is
    result = run_cli("enhance", tmp_path / "a.wav", "--model", DEFAULT_NAME, "--ckpt", checkpoint, "-w", tmp_path / "w")
    assert result.exit_code == 2 and "give one of them" in result.output


def test_a_model_is_named_by_path_or_by_bundled_name_and_a_file_of_that_name_wins(tmp_path, monkeypatch):
    assert model_file(None) == model_file("bundled") == DEFAULT_MODEL
    assert model_file("cmkt-a-small-debian").name == "cmkt-a-small-debian.pt"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cmkt-a-small-debian").write_bytes(b"mine")
    assert model_file("cmkt-a-small-debian") == Path("cmkt-a-small-debian")


def test_export_interpolates_with_the_model_it_was_fine_tuned_from(tmp_path, checkpoint):
    from pipelines.checkpoints import TrainingState, read_model, save_checkpoint
    from pipelines.enhancer import EnhancerConfig, SpeechEnhancer

    original = shared("interop/gtcrn") / "model_trained_on_dns3.tar"
    torch.manual_seed(1)
    tuned = SpeechEnhancer(EnhancerConfig(preset="gtcrn"))
    tuned_path = tmp_path / "run" / "best.ckpt"
    tuned_path.parent.mkdir()
    save_checkpoint(tuned_path, tuned, tuned, torch.optim.Adam(tuned.parameters()), TrainingState(step=3),
                    torch.Generator(), {})
    result = run_cli("export", tuned_path, "-o", tmp_path / "m.pt", "--sampler", "predictive",
                     "--interpolate-with", original, "--alpha", "0.25")
    assert result.exit_code == 0, result.output
    written, a, b = (read_model(p) for p in (tmp_path / "m.pt", tuned_path, original))
    assert written["card"]["interpolated"] == {"with": original.name, "alpha": 0.25}
    for key, value in written["weights"].items():
        if value.is_floating_point():
            expected = 0.25 * a["weights"][key].float() + 0.75 * b["weights"][key].float()
            torch.testing.assert_close(value, expected.half().float(), rtol=0, atol=0)
    result = run_cli("export", checkpoint, "-o", tmp_path / "n.pt", "--interpolate-with", original)
    assert result.exit_code == 2 and "not the network the checkpoint was trained from" in result.output


def test_interpolation_keeps_the_branches_the_tuned_model_added():
    """A model fine-tuned with a speech encoder (or lips, or text transfer) from an audio model: the weights both
    have are interpolated, the added branch keeps its tuned weights, and any other difference is refused."""
    from pipelines.checkpoints import interpolate_weights
    from pipelines.errors import BadInput

    original = {"denoiser.encoder.weight": torch.zeros(3)}
    tuned = {"denoiser.encoder.weight": torch.ones(3),
             "denoiser.bottleneck_modules.0.film.weight": torch.full((2,), 4.0),
             "ssl_encoder.conv1.weight": torch.full((2,), 5.0)}
    mixed = interpolate_weights(tuned, original, 0.25, Path("dns3.tar"))
    assert torch.equal(mixed["denoiser.encoder.weight"], torch.full((3,), 0.25))
    assert torch.equal(mixed["denoiser.bottleneck_modules.0.film.weight"], torch.full((2,), 4.0))
    assert torch.equal(mixed["ssl_encoder.conv1.weight"], torch.full((2,), 5.0))
    with pytest.raises(BadInput, match="not the network"):
        interpolate_weights({**tuned, "denoiser.decoder.weight": torch.ones(1)}, original, 0.5, Path("dns3.tar"))
    with pytest.raises(BadInput, match="not the network"):
        interpolate_weights(tuned, {**original, "denoiser.decoder.weight": torch.ones(1)}, 0.5, Path("dns3.tar"))
