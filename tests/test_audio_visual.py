"""Audio-visual fusion: cross-attention to the lips, windows of lip frames, and A+V / A+V+L end to end on GRID."""

import numpy as np
import pytest
import soundfile as sf
import torch

from pipelines.models.lip_resnet import initial_encoder
from pipelines.models.visual_cross_attention import AudioVisualCrossAttention, time_encoding
from pipelines.video.lip_track import LipTrack, video_context
from tests.conftest import run_cli, shared

FAST = ["--preset", "small", "--batch-size", "2", "--crop-frames", "32", "--validate-every", "1000",
        "--val-steps", "1", "--lr", "1e-3", "--max-steps", "2", "-q"]


def test_equal_times_have_the_most_similar_position_codes():
    audio_times = torch.arange(8) * 0.128 + 0.064  # bottleneck frames of the small preset
    video_times = torch.arange(25) / 25.0
    similarity = time_encoding(audio_times, 64) @ time_encoding(video_times, 64).T
    nearest = video_times[similarity.argmax(dim=1)]
    assert torch.all((nearest - audio_times).abs() <= 0.02 + 1e-6)


def test_cross_attention_starts_as_identity_and_handles_any_number_of_lip_frames():
    block = AudioVisualCrossAttention(channels=8, bins=4, visual_dim=16, seconds_per_frame=0.128, dim=32)
    h = torch.randn(2, 8, 4, 6)
    video = video_context([LipTrack(np.random.rand(40, 16).astype(np.float32), 25.0), None],
                          [(0.2, 0.7), (0.0, 0.7)], (16,))
    assert video["video_mask"].sum(1).tolist() == [18, 0]  # frames at 0.20 ... 0.88 s; none for the second
    torch.testing.assert_close(block(h, video), h)  # zero-initialised output: training starts from audio-only
    torch.nn.init.normal_(block.out.weight)
    out = block(h, video)
    assert out.shape == h.shape and torch.isfinite(out).all()
    assert torch.isfinite(block(h, None)).all()  # no video at all: the 'no video' key


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("grid") / "w"
    steps = [("prepare", shared("grid"), "--noise", shared("noise"), "--transcripts", shared("transcripts.tsv"),
              "--snr", "0,5", "--split", "0.75,0,0.25", "--split-by", "file"),
             ("featurize", "--lips", "--text")]
    for step in steps:
        result = run_cli(*step, "-w", workdir, "-q")
        assert result.exit_code == 0, result.output
    return workdir


@pytest.mark.parametrize("modality, extra", [("av", []), ("avl", ["--fusion", "ot"])])
def test_audio_visual_models_train_and_enhance_end_to_end(grid, modality, extra):
    result = run_cli("train", "-w", grid, "--modality", modality, *extra, *FAST)
    assert result.exit_code == 0, result.output
    assert "UNTRAINED" in result.output  # the lip encoder had no LRW weights, and training says so
    run = "-".join([modality, *extra[1:], "small-seed0"])
    checkpoint = grid / "train" / run / "last.ckpt"
    config = torch.load(checkpoint, map_location="cpu", weights_only=False)["config"]
    assert config["visual_dim"] == 512 and config["lip_encoder"] == "untrained"
    enhanced = run_cli("enhance", "-w", grid, "--ckpt", checkpoint, "--steps", "1", "-q")
    assert enhanced.exit_code == 0, enhanced.output
    outputs = sorted((grid / "enhanced" / f"{run}-pc1ald").glob("*.wav"))
    assert outputs and all(np.isfinite(sf.read(o)[0]).all() for o in outputs)


def test_enhancing_a_file_with_its_video(grid, tmp_path):
    assert run_cli("train", "-w", grid, "--modality", "av", "--run-name", "av-files", *FAST).exit_code == 0
    checkpoint = grid / "train" / "av-files" / "last.ckpt"
    clip = shared("grid/bbaf2n.mpg")
    result = run_cli("enhance", clip, "--video", clip, "-o", tmp_path / "out", "--ckpt", checkpoint,
                     "--sampler", "predictive", "-w", tmp_path / "w")
    assert result.exit_code == 0, result.output
    assert sf.info(tmp_path / "out" / "bbaf2n.wav").frames > 0
    wrong_encoder = run_cli("enhance", clip, "--video", clip, "-o", tmp_path / "out2", "--ckpt", checkpoint,
                            "--lip-weights", checkpoint, "-w", tmp_path / "w")
    assert wrong_encoder.exit_code == 2 and "encoder" in wrong_encoder.output


def test_visual_modalities_say_what_they_need(tmp_path, grid):
    assert "--transfer" in run_cli("train", "-w", grid, "--modality", "avl", *FAST).output
    result = run_cli("train", "-w", grid, "--modality", "av", "--fusion", "ot", *FAST)
    assert result.exit_code == 2 and "avl" in result.output


def test_fine_tuning_trains_the_lip_encoder_from_the_cached_crops(grid, tmp_path):
    # 4 steps: the U-Nets' zero-initialised output layers pass gradient to the lips only from the third step
    result = run_cli("train", "-w", grid, "--modality", "av", "--lip-encoder", "finetune", *FAST, "--max-steps", "4")
    assert result.exit_code == 0, result.output
    assert "fine-tuned" in result.output and "UNTRAINED" in result.output
    checkpoint = grid / "train" / "av-finetune-small-seed0" / "last.ckpt"
    payload = torch.load(checkpoint, map_location="cpu", weights_only=False)
    config = payload["config"]
    assert config["lip_finetune"] and config["lip_encoder"] == "finetuned from untrained"
    assert 0.0 < config["roi_mean"] < 1.0 and 0.0 < config["roi_std"] < 0.5
    start = initial_encoder(None).state_dict()
    trained = {k[len("lip_encoder."):]: v for k, v in payload["model"].items() if k.startswith("lip_encoder.")}
    assert trained.keys() == start.keys()
    assert not torch.equal(trained["front.conv.weight"], start["front.conv.weight"])  # the encoder learnt
    split = run_cli("enhance", "-w", grid, "--ckpt", checkpoint, "--sampler", "predictive", "-q")
    assert split.exit_code == 0, split.output
    clip = shared("grid/bbaf2n.mpg")
    files = run_cli("enhance", clip, "--video", clip, "-o", tmp_path / "out", "--ckpt", checkpoint,
                    "--sampler", "predictive", "-w", tmp_path / "w", "-q")
    assert files.exit_code == 0, files.output
    assert sf.info(tmp_path / "out" / "bbaf2n.wav").frames > 0


def test_fine_tuning_needs_the_visual_branch(grid):
    result = run_cli("train", "-w", grid, "--lip-encoder", "finetune", *FAST)
    assert result.exit_code == 2 and "--modality av" in result.output


def test_a_storm_checkpoint_fine_tunes_with_lips_and_text(grid):
    """`--init-from` an upstream checkpoint: its audio model, the lip and text branches added (docs/interop.md)."""
    storm = shared("interop/storm/model.ckpt")
    result = run_cli("train", "-w", grid, "--init-from", storm, "--modality", "avl", "--fusion", "mhca", *FAST)
    assert result.exit_code == 0, result.output
    payload = torch.load(grid / "train" / "avl-mhca-from-model-seed0" / "last.ckpt", map_location="cpu",
                         weights_only=True)
    config = payload["config"]
    assert (config["score_condition"], config["spec_factor"], config["zero_adapter"]) == ("both", 0.33, True)
    assert any(".level_modules." in k for k in payload["model"]) and "score_bias" in payload["model"]
