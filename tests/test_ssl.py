"""The SSL seed: `featurize --ssl` (Whisper tiny.en's encoder, offline), `cmkt ssl-layers` (CN distance) and
`train --ssl frozen|finetune`, on real speech (CMU ARCTIC) with real noise."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from pipelines.ssl.encoders import align_to_frames, load_ssl_model, parse_layers
from pipelines.ssl.whisper_encoder import mel_filters
from pipelines.models.ssl_fusion import SSLFusion
from tests.conftest import artifact_groups, run_cli, shared

CLIPS = ("arctic_a0010.wav", "cmu_arctic_us_aew_a0003.wav", "cmu_arctic_us_axb_a0005.wav", "cmu_arctic_us_aew_a0001.wav")
FAST = ["--preset", "gtcrn", "--batch-size", "2", "--crop-frames", "32", "--validate-every", "1000",
        "--val-utterances", "1", "--max-steps", "2", "-q"]


@pytest.fixture(scope="module")
def featurized(tmp_path_factory):
    """Two train and two valid clips, each mixed with real noise at 0 or 5 dB, with the default encoder's states."""
    root = tmp_path_factory.mktemp("ssl")
    for name in CLIPS:
        (root / "speech").mkdir(exist_ok=True)
        shutil.copy(shared(f"speech_en/{name}"), root / "speech" / name)
    workdir = root / "w"
    prepared = run_cli("prepare", root / "speech", "--noise", shared("noise"), "--snr", "0,5", "--split", "0.5,0.5,0",
                       "--split-by", "file", "-w", workdir, "-q")
    assert prepared.exit_code == 0, prepared.output
    result = run_cli("featurize", "--ssl", "-w", workdir)
    assert result.exit_code == 0, result.output
    return workdir


def test_the_whisper_encoder_is_openai_whispers_over_a_full_window():
    """Same mel bank, same features and same last layer as openai-whisper on a 30 s padded clip."""
    whisper = pytest.importorskip("whisper")
    reference = np.load(next(p for p in whisper.__path__) + "/assets/mel_filters.npz")["mel_80"]
    np.testing.assert_allclose(mel_filters(80), reference, atol=1e-7)
    ours = load_ssl_model(None)
    theirs = whisper.model.Whisper(whisper.model.ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=384,
                                                                 n_audio_head=6, n_audio_layer=4, n_vocab=51864,
                                                                 n_text_ctx=448, n_text_state=384, n_text_head=6,
                                                                 n_text_layer=4))
    theirs.encoder.load_state_dict(ours.encoder.state_dict(), strict=False)
    import soundfile as sf

    audio = whisper.pad_or_trim(torch.from_numpy(sf.read(shared("speech_en/arctic_a0010.wav"), dtype="float32")[0]))
    with torch.no_grad():
        expected = theirs.encoder(whisper.log_mel_spectrogram(audio)[None])
        states = ours.encoder(audio[None])
    assert states.shape == (1, 5, 1500, 384)
    torch.testing.assert_close(states[:, -1], expected, atol=1e-4, rtol=1e-4)


def test_states_move_to_the_stft_frame_centres():
    """A state that is its own time in seconds, at 20 ms frames, read at hop 256: the STFT frames' times."""
    times = (torch.arange(50, dtype=torch.float64) + 0.5) * 0.02
    aligned = align_to_frames(times[None, :, None], 40, 256, 0.02)[0, :, 0]
    expected = torch.clamp(torch.arange(40, dtype=torch.float64) * 256 / 16_000, min=0.01, max=0.99)
    torch.testing.assert_close(aligned, expected)
    assert parse_layers("all") is None and parse_layers("4,2,2") == [2, 4]


def test_the_fusion_starts_as_the_identity():
    """Its projection starts at zero, so a model started from an audio-only one begins where that one was."""
    fusion = SSLFusion(channels=8, layers=3, width=16, stride=2)
    h = torch.randn(2, 8, 5, 10)
    torch.testing.assert_close(fusion(h, {"ssl": torch.randn(2, 3, 19, 16)}), h)
    torch.testing.assert_close(fusion.layer_weights(), torch.full((3,), 1 / 3))


def test_featurize_keeps_every_layer_at_the_stft_frames_and_clean_states_for_valid(featurized):
    train = artifact_groups(featurized, "ssl", "train")
    valid = artifact_groups(featurized, "ssl", "valid")
    assert len(train) == 2 and len(valid) == 2
    for arrays, _ in train.values():
        assert set(arrays) == {"noisy"} and arrays["noisy"].shape[0] == 5 and arrays["noisy"].shape[2] == 384
        assert arrays["noisy"].dtype == np.float16 and np.isfinite(arrays["noisy"]).all()
    for arrays, _ in valid.values():
        assert arrays["clean"].shape == arrays["noisy"].shape
    again = run_cli("featurize", "--ssl", "-w", featurized)
    assert again.exit_code == 0 and "ssl train: 2 cached, 0 computed" in again.output


def test_ssl_layers_ranks_every_layer_by_clean_noisy_distance(featurized):
    result = run_cli("ssl-layers", "-w", featurized, "--top", "2")
    assert result.exit_code == 0, result.output
    table = json.loads((featurized / "reports" / "ssl-layers" / "valid.json").read_text())
    layers = table["layers"]
    assert [row["layer"] for row in layers] == [0, 1, 2, 3, 4] and table["utterances"] == 2
    assert sorted(row["rank"] for row in layers) == [1, 2, 3, 4, 5]
    assert all(row["low"] <= row["cn_distance"] <= row["high"] and row["cn_distance"] > 0 for row in layers)
    top = sorted(row["layer"] for row in layers if row["rank"] <= 2)
    assert f"--ssl-layers {','.join(map(str, top))}" in result.output
    assert (featurized / "reports" / "ssl-layers" / "valid.png").stat().st_size > 0
    assert run_cli("ssl-layers", "-w", featurized, "--split", "train").exit_code == 2  # no clean states there


@pytest.mark.parametrize("mode, layers", [("frozen", None), ("finetune", "2,4")])
def test_a_model_trained_with_speech_states_enhances_with_no_other_flag(featurized, tmp_path, mode, layers):
    run = f"ssl-{mode}"
    result = run_cli("train", "-w", featurized, *FAST, "--ssl", mode, "--run-name", run,
                     *(["--ssl-layers", layers] if layers else []))
    assert result.exit_code == 0, result.output
    checkpoint = featurized / "train" / run / "last.ckpt"
    config = torch.load(checkpoint, map_location="cpu", weights_only=False)["config"]
    assert config["ssl"] == mode and config["ssl_model"] == "whisper-tiny.en-encoder"
    assert config["ssl_layers"] == ([2, 4] if layers else [0, 1, 2, 3, 4])
    enhanced = run_cli("enhance", shared("speech_en/cmu_arctic_us_axb_a0006.wav"), "-o", tmp_path, "--ckpt",
                       checkpoint)
    assert enhanced.exit_code == 0, enhanced.output
    import soundfile as sf

    out, rate = sf.read(tmp_path / "cmu_arctic_us_axb_a0006.wav")
    assert rate == 16_000 and np.isfinite(out).all()
    assert len(out) == sf.info(shared("speech_en/cmu_arctic_us_axb_a0006.wav")).frames
    card = json.loads((tmp_path / "model.json").read_text())  # what the encoder costs: the factor with and without it
    assert 0 < card["real_time_factor_without_speech_encoder"] < card["real_time_factor"]


def test_a_run_from_an_audio_model_adds_the_encoder_with_its_own_weights(featurized):
    """`--init-from GTCRN-DNS3 --ssl frozen` (make bench-ssl): the audio model lacks the encoder's weights, which come
    from the encoder's own model and stay frozen."""
    result = run_cli("train", "-w", featurized, *FAST, "--ssl", "frozen", "--ssl-layers", "2,3,4", "--init-from",
                     shared("interop/gtcrn/model_trained_on_dns3.tar"), "--run-name", "ssl-from-dns3")
    assert result.exit_code == 0, result.output
    weights = torch.load(featurized / "train" / "ssl-from-dns3" / "last.ckpt", weights_only=True)["model"]
    encoder = load_ssl_model(None).encoder.state_dict()
    for name, value in encoder.items():
        torch.testing.assert_close(weights[f"ssl_encoder.{name}"], value, rtol=0, atol=0)


def test_a_model_file_brings_its_own_speech_encoder(featurized, monkeypatch):
    """A trained model loads for enhancement without reading the encoder's source model (it embeds the encoder's
    weights; the encoder is shaped from them), and its encoder gives what the source model's gives."""
    import soundfile as sf

    import pipelines.enhancer
    from pipelines.checkpoints import load_for_inference

    result = run_cli("train", "-w", featurized, *FAST, "--ssl", "frozen", "--run-name", "ssl-embedded")
    assert result.exit_code == 0, result.output
    source = load_ssl_model(None).encoder

    def no_source(name):
        raise AssertionError(f"read the speech encoder's source model {name}")

    monkeypatch.setattr(pipelines.enhancer, "load_ssl_model", no_source)
    model = load_for_inference(featurized / "train" / "ssl-embedded" / "last.ckpt", torch.device("cpu"))
    wave = torch.from_numpy(sf.read(shared(f"speech_en/{CLIPS[0]}"), dtype="float32")[0][:32_000])[None]
    with torch.inference_mode():
        torch.testing.assert_close(model.ssl_encoder(wave), source(wave))


def test_bad_ssl_requests_are_one_line_errors(featurized):
    cases = [(["--ssl", "frozen", "--augment", "gain"], "--augment"),
             (["--ssl", "frozen", "--ssl-layers", "7"], "layers 0,1,2,3,4"),
             (["--ssl-model", "x"], "--ssl frozen or --ssl finetune"),
             (["--ssl", "sometimes"], "--ssl")]
    for options, words in cases:
        result = run_cli("train", "-w", featurized, *FAST, *options, "--run-name", "bad")
        assert result.exit_code == 2 and words in result.output, (options, result.output)
        assert "Traceback" not in result.output
