"""Cross-modal knowledge transfer: Sinkhorn plans, OT and MHCA aligners, gradients, and text-free inference."""

import dataclasses
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from pipelines.enhancer import EnhancerConfig, SpeechEnhancer, count_parameters
from pipelines.models.optimal_transport import OptimalTransportAligner, cosine_cost, sinkhorn_plan
from pipelines.models.text_cross_attention import CrossAttentionAligner
from pipelines.text.features import TextFeatureSet, TokenFeatures
from pipelines.checkpoints import TrainingState, load_for_inference, save_checkpoint
from pipelines.training.text_targets import text_batch
from tests.conftest import speech_like, write_wav

TEXT_DIM, VOCAB = 32, 50


def _config(fusion: str) -> EnhancerConfig:
    return EnhancerConfig(preset="small", fusion=fusion, text_dim=TEXT_DIM, text_vocab_size=VOCAB, mhca_layers=2)


def _text(batch: int, tokens: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, tokens, dtype=torch.bool)
    mask[0, tokens // 2:] = False  # a shorter transcript, padded
    return {"text": torch.randn(batch, tokens, TEXT_DIM, generator=generator),
            "text_ids": torch.randint(1, VOCAB, (batch, tokens), generator=generator),
            "text_mask": mask, "has_text": mask.any(1)}


def test_sinkhorn_plan_has_the_wanted_marginals_for_unequal_lengths():
    torch.manual_seed(0)
    text, audio = torch.randn(3, 7, 16), torch.randn(3, 12, 16)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 5:] = False
    plan = sinkhorn_plan(cosine_cost(text, audio), mask, beta=0.5)
    valid_tokens = mask.sum(1, keepdim=True).float()
    assert torch.allclose(plan.sum(2)[mask], torch.ones(int(mask.sum())), atol=1e-3)
    assert torch.allclose(plan.sum(1), valid_tokens / 12 * torch.ones(3, 12), atol=1e-3)
    assert plan[1, 5:].abs().max() == 0
    sharp = sinkhorn_plan(cosine_cost(text, audio), mask, beta=0.01)  # log domain: no underflow to NaN
    assert torch.isfinite(sharp).all()


def test_transport_cost_is_lower_for_aligned_than_for_shuffled_features():
    torch.manual_seed(1)
    tokens = torch.randn(4, 6, TEXT_DIM)
    aligned = tokens.repeat_interleave(2, dim=1) + 0.1 * torch.randn(4, 12, TEXT_DIM)  # each token spoken for 2 frames
    shuffled = aligned[..., torch.randperm(TEXT_DIM)]
    aligner = OptimalTransportAligner(TEXT_DIM, TEXT_DIM, beta=0.5)
    mask = torch.ones(4, 6, dtype=torch.bool)
    _, cost_aligned = aligner(aligned, tokens, None, mask)
    _, cost_shuffled = aligner(shuffled, tokens, None, mask)
    assert (cost_aligned < cost_shuffled).all()


@pytest.mark.parametrize("aligner", [OptimalTransportAligner(TEXT_DIM, TEXT_DIM),
                                     CrossAttentionAligner(TEXT_DIM, 16, VOCAB, layers=2, heads=4)])
def test_aligners_give_one_vector_per_token_when_text_and_audio_lengths_differ(aligner):
    text = _text(2, 9)
    audio = torch.randn(2, 4, aligner.embedding.embedding_dim if hasattr(aligner, "embedding") else TEXT_DIM)
    aligned, extra = aligner(audio, text["text"], text["text_ids"], text["text_mask"])
    assert aligned.shape == (2, 9, TEXT_DIM) and extra.shape == (2,)


@pytest.mark.parametrize("fusion", ["ot", "mhca"])
def test_alignment_loss_trains_both_unet_encoders(fusion):
    torch.manual_seed(0)
    model = SpeechEnhancer(_config(fusion))
    clean, noisy = torch.from_numpy(speech_like(1.0))[None].repeat(2, 1), torch.randn(2, 16_000) * 0.1
    losses = model.losses(clean, noisy, torch.Generator().manual_seed(0), _text(2, 8))
    assert 0 < losses["loss_align"] < 2 and ("loss_ot" in losses) == (fusion == "ot")
    losses["loss_align"].backward()
    for network in (model.denoiser, model.score_net):
        assert network.conv_in.weight.grad.abs().sum() > 0  # reaches the first U-Net layer
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_with_omega_one_the_transfer_reaches_the_denoiser_only():
    """The NCSN++ claim arm (bench/claims.py --group ncsnpp): the denoiser's loss alone, the score network untouched."""
    torch.manual_seed(0)
    model = SpeechEnhancer(dataclasses.replace(_config("ot"), omega=1.0))
    clean, noisy = torch.from_numpy(speech_like(1.0))[None].repeat(2, 1), torch.randn(2, 16_000) * 0.1
    losses = model.losses(clean, noisy, torch.Generator().manual_seed(0), _text(2, 8))
    assert "loss_score" not in losses and losses["loss_align"] > 0
    losses["loss"].backward()
    assert model.denoiser.conv_in.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.score_net.parameters())


def test_items_without_text_train_without_the_transfer_loss():
    model = SpeechEnhancer(_config("ot"))
    text = _text(2, 6)
    text["text_mask"][:] = False
    text["has_text"][:] = False
    losses = model.losses(torch.randn(2, 16_000) * 0.1, torch.randn(2, 16_000) * 0.1, None, text)
    assert losses["loss_align"] == 0 and torch.isfinite(losses["loss"])


def _features() -> TextFeatureSet:
    times = np.array([[0.0, 2.0], [0.1, 0.5], [0.5, 1.0], [1.0, 1.5], [1.5, 2.0], [0.0, 2.0]], dtype=np.float32)
    item = TokenFeatures(np.arange(6), np.random.default_rng(0).standard_normal((6, TEXT_DIM)).astype(np.float32),
                         times)
    return TextFeatureSet("test", TEXT_DIM, VOCAB, {"spoken": item})


def test_crops_get_the_tokens_spoken_inside_them_and_the_shift_moves_the_window():
    features = _features()
    batch = text_batch(features, ["spoken", "silent"], [0, 0], 8_000, 0.0, torch.Generator().manual_seed(0))
    assert batch["has_text"].tolist() == [True, False]
    assert batch["text_ids"][0][batch["text_mask"][0]].tolist() == [0, 1, 5]  # [CLS], first word, [SEP]
    late = text_batch(features, ["spoken"], [24_000], 8_000, 0.0, torch.Generator())
    assert late["text_ids"][0][late["text_mask"][0]].tolist() == [0, 4, 5]
    shifted = {tuple(text_batch(features, ["spoken"], [0], 8_000, 1.0, torch.Generator().manual_seed(s))
                     ["text_ids"][0].tolist()) for s in range(20)}
    assert len(shifted) > 1


@pytest.fixture(scope="module")
def transfer_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = SpeechEnhancer(_config("mhca"))
    path = tmp_path_factory.mktemp("ckpt") / "best.ckpt"
    save_checkpoint(path, model, model, torch.optim.Adam(model.parameters()), TrainingState(), torch.Generator(), {})
    return path, model


def test_inference_model_leaves_the_text_branch_out(transfer_checkpoint):
    path, trained = transfer_checkpoint
    model = load_for_inference(path, torch.device("cpu"))
    assert count_parameters(model) == count_parameters(trained, inference_only=True) < count_parameters(trained)
    assert not any("aligner" in name for name in model.state_dict())
    plain = SpeechEnhancer(EnhancerConfig(preset="small"))
    adapter = 2 * (2 * 128 * 16 * TEXT_DIM + TEXT_DIM + 128 * 16)  # FC1 + FC2 in both networks
    assert count_parameters(model) == count_parameters(plain) + adapter


def test_enhancing_with_a_transfer_checkpoint_imports_no_text_or_speech_recognition_model(transfer_checkpoint, tmp_path):
    path, _ = transfer_checkpoint
    noisy = write_wav(tmp_path / "noisy.wav", speech_like(0.5))
    script = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("transformers", "whisper", "faster_whisper", "ctranslate2"):
                    raise ImportError(f"blocked import of {{name}}")
        sys.meta_path.insert(0, Block())
        from cmkt_cli.main import app
        sys.argv = ["cmkt", "enhance", {str(noisy)!r}, "-o", {str(tmp_path / "out")!r}, "--ckpt", {str(path)!r},
                    "--steps", "2", "-w", {str(tmp_path / "w")!r}]
        app()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "out" / "noisy.wav").exists()
