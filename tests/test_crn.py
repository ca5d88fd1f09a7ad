"""The conv-recurrent backbone family: sizes, its own front end, causality (block by block = whole), the lips and
text hooks, and a model that trains, resumes exactly and enhances through the CLI."""

from __future__ import annotations

import pytest
import torch

from pipelines.enhancer import EnhancerConfig, SpeechEnhancer, count_parameters
from pipelines.errors import BadInput
from pipelines.models import CRN_PRESETS, ConvRecurrentNet
from pipelines.models.crn import FRONT_END
from pipelines.training.augment import AugmentOptions, Augmenter
from pipelines.training.loop import LoopOptions
from tests.conftest import run_cli, speech_like, write_wav

FAST = ["--batch-size", "2", "--crop-frames", "32", "--validate-every", "2", "--val-utterances", "1", "-q"]


def _perturbed(model: SpeechEnhancer) -> SpeechEnhancer:
    """Random weights away from the zero/identity initialisations, so every path carries signal."""
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model.eval()


def test_presets_span_a_real_time_student_to_a_teacher():
    sizes = {}
    for preset in CRN_PRESETS:
        network = ConvRecurrentNet(preset)
        erb = sum(b.numel() for name, b in network.named_buffers() if name.startswith("erb."))
        sizes[preset] = sum(p.numel() for p in network.parameters()) + erb
    assert sizes["gtcrn"] == 48_245  # GTCRN's published count, its fixed ERB filters included
    assert sizes["gtcrn"] < sizes["crn-m"] < sizes["crn-l"]
    assert 0.8e6 < sizes["crn-l"] < 2e6


def test_a_preset_names_its_backbone_which_brings_its_front_end():
    config = EnhancerConfig(preset="crn-m")
    assert config.backbone == "crn" and not config.generative
    assert config.front_end == FRONT_END and config.loss == "hybrid" and config.omega == 1.0
    assert EnhancerConfig(preset="small").front_end.n_fft == 510  # NCSN++ keeps SGMSE's
    assert EnhancerConfig(preset="gtcrn", hop_length=128).hop_length == 128  # an explicit value stays
    model = SpeechEnhancer(config)
    assert model.score_net is None and model.causal and model.frame_multiple == 1


def test_a_predictive_model_refuses_a_diffusion_sampler():
    model = SpeechEnhancer(EnhancerConfig(preset="gtcrn"), training_parts=False).eval()
    with torch.inference_mode(), pytest.raises(BadInput, match="predictive"):
        model.enhance(torch.randn(1, 4000), "pc")


@pytest.mark.parametrize("preset", ["gtcrn", "crn-l"])
def test_blocks_of_frames_with_carried_state_give_the_whole_output(preset):
    """Causality: what a frame's output depends on has all been seen when the frame arrives, so any split of the
    frames into blocks, down to one frame, gives the output of the whole spectrogram."""
    model = _perturbed(SpeechEnhancer(EnhancerConfig(preset=preset), training_parts=False))
    noisy = torch.from_numpy(speech_like(2.0, seed=1))[None] + 0.05 * torch.randn(1, 32_000)
    with torch.no_grad():
        spec = model.spec.to_spec(noisy)
        whole = model.denoise(spec)
        stream = {}
        edges = [0, 1, 2, 17, 18, 60, spec.shape[-1]]
        blocks = [model.denoise(spec[..., a:b], stream=stream) for a, b in zip(edges, edges[1:])]
    torch.testing.assert_close(torch.cat(blocks, -1), whole, rtol=0, atol=1e-5 * float(whole.abs().max()))


def test_the_future_does_not_change_the_past():
    model = _perturbed(SpeechEnhancer(EnhancerConfig(preset="gtcrn"), training_parts=False))
    spec = model.spec.to_spec(torch.randn(1, 16_000))
    changed = spec.clone()
    changed[..., 40:] = 0
    with torch.no_grad():
        a, b = model.denoise(spec), model.denoise(changed)
    torch.testing.assert_close(a[..., :40], b[..., :40])
    assert not torch.allclose(a[..., 40:], b[..., 40:])


def test_lips_and_text_attach_at_the_bottleneck_and_learn():
    """av: cross-attention before the dual-path blocks; avl: the CMKT modules after them; both get gradients."""
    config = EnhancerConfig(preset="gtcrn", modality="avl", fusion="ot", visual_dim=8, text_dim=6, text_vocab_size=50)
    model = SpeechEnhancer(config).train()
    network = model.denoiser
    assert network.visual_module is not None and len(network.bottleneck_modules) == 1
    clean = torch.randn(2, 8000) * 0.1
    video = {"video": torch.randn(2, 12, 8), "video_times": torch.arange(12.0).expand(2, 12) / 25,
             "video_mask": torch.ones(2, 12, dtype=torch.bool)}
    text = {"text": torch.randn(2, 5, 6), "text_ids": torch.randint(0, 50, (2, 5)),
            "text_mask": torch.ones(2, 5, dtype=torch.bool), "has_text": torch.ones(2, dtype=torch.bool)}
    losses = model.losses(clean, clean + 0.05 * torch.randn_like(clean), text=text, video=video)
    assert {"loss_denoiser", "loss_align", "loss_ot"} <= set(losses) and "loss_score" not in losses
    losses["loss"].backward()
    assert network.visual_module.out.weight.grad is not None
    assert network.bottleneck_modules[0].fc1.weight.grad.abs().sum() > 0


def test_a_warming_transfer_weight_starts_at_zero_and_reaches_alpha():
    """--transfer-warmup N: the transfer term is off at step 0, half in at N/2, whole from N on."""
    assert [LoopOptions(transfer_warmup=10).transfer_scale_at(s) for s in (0, 5, 10, 50)] == [0.0, 0.5, 1.0, 1.0]
    assert LoopOptions().transfer_scale_at(0) == 1.0
    config = EnhancerConfig(preset="gtcrn", modality="a", fusion="ot", text_dim=6, text_vocab_size=50)
    model = SpeechEnhancer(config).train()
    clean = torch.randn(2, 8000) * 0.1
    noisy = clean + 0.05 * torch.randn_like(clean)
    text = {"text": torch.randn(2, 5, 6), "text_ids": torch.randint(0, 50, (2, 5)),
            "text_mask": torch.ones(2, 5, dtype=torch.bool), "has_text": torch.ones(2, dtype=torch.bool)}
    off, half = (model.losses(clean, noisy, text=text, transfer_scale=scale) for scale in (0.0, 0.5))
    transfer = half["loss_align"] + half["loss_ot"]
    assert transfer > 0
    torch.testing.assert_close(off["loss"], off["loss_denoiser"] * config.omega)
    torch.testing.assert_close(half["loss"], half["loss_denoiser"] * config.omega + 0.5 * config.transfer_weight
                               * transfer)


def test_augmentations_keep_shapes_and_change_the_mixtures(tmp_path):
    generator = torch.Generator().manual_seed(0)
    clean = torch.from_numpy(speech_like(1.0, seed=3)).expand(4, -1).clone()
    noisy = clean + 0.1 * torch.randn(4, 16_000, generator=generator)
    augment = Augmenter(AugmentOptions.parse("remix,reverb,bandlimit,gain"), tmp_path, seed=0)
    target, mixture = augment(clean, noisy, generator)
    assert target.shape == mixture.shape == clean.shape and torch.isfinite(mixture).all()
    assert not torch.allclose(mixture, noisy)
    assert (tmp_path / "rirs.npy").is_file()  # the room bank is kept for a resumed run
    with pytest.raises(BadInput, match="--augment"):
        AugmentOptions.parse("remix,echo")


def test_a_conv_recurrent_model_trains_resumes_exactly_and_enhances(prepared, tmp_path):
    args = ["train", "-w", prepared, "--preset", "gtcrn", "--augment", "remix,gain,bandlimit", *FAST]
    assert run_cli(*args, "--max-steps", "4", "--run-name", "straight").exit_code == 0
    assert run_cli(*args, "--max-steps", "2", "--run-name", "split").exit_code == 0
    resumed = run_cli(*args, "--max-steps", "4", "--run-name", "split", "--resume")
    assert resumed.exit_code == 0, resumed.output
    a, b = (torch.load(prepared / "train" / run / "last.ckpt", weights_only=True)["model"] for run in ("straight", "split"))
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)
    noisy = write_wav(tmp_path / "noisy.wav", speech_like(1.5, seed=2))
    result = run_cli("enhance", noisy, "-o", tmp_path / "out", "--ckpt", prepared / "train" / "split" / "best.ckpt",
                     "-w", tmp_path / "w", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "noisy.wav").is_file()


def test_parameter_count_leaves_out_the_fixed_filters():
    model = SpeechEnhancer(EnhancerConfig(preset="gtcrn"), training_parts=False)
    assert count_parameters(model) == 48_245 - 2 * 64 * 192
