"""The lip encoder: shapes, chunked = whole-clip embeddings, and loading LRW checkpoints by their key names."""

import numpy as np
import pytest
import torch

from pipelines.errors import BadInput
from pipelines.models.lip_resnet import (EMBEDDING_DIM, LipResNet, embed_frames, load_lrw_encoder, load_lrw_weights,
                                         lrw_key)


def _model(seed: int) -> LipResNet:
    torch.manual_seed(seed)
    return LipResNet().eval()


def _lrw_checkpoint(model: LipResNet) -> dict:
    """What the TCN project saves: our weights under its names, plus back-end keys the loader must ignore."""
    state = {lrw_key(key): value.clone() for key, value in model.state_dict().items()}
    state["tcn.tcn_trunk.network.0.net.0.weight"] = torch.zeros(3)
    state["tcn_output.weight"] = torch.zeros(500, 768)
    return {"model_state_dict": state, "epoch_idx": 80, "best_prec": 0.85}


def test_one_512_d_embedding_per_frame():
    clips = torch.randn(2, 1, 7, 88, 88)
    with torch.inference_mode():
        assert _model(0)(clips).shape == (2, 7, EMBEDDING_DIM)


def test_chunked_embeddings_equal_the_whole_clip():
    model, frames = _model(0), np.random.default_rng(0).standard_normal((23, 88, 88)).astype(np.float32)
    whole = embed_frames(model, frames, chunk=100)
    assert whole.shape == (23, EMBEDDING_DIM) and whole.dtype == np.float32
    np.testing.assert_allclose(embed_frames(model, frames, chunk=5), whole, rtol=1e-4, atol=1e-5)


def test_key_names_are_the_lrw_models():
    names = {lrw_key(key) for key in LipResNet().state_dict()}
    for expected in ("frontend3D.0.weight", "frontend3D.1.running_var", "frontend3D.2.weight",
                     "trunk.layer1.0.conv1.weight", "trunk.layer1.1.bn2.num_batches_tracked",
                     "trunk.layer2.0.downsample.0.weight", "trunk.layer4.0.downsample.1.running_mean",
                     "trunk.layer4.1.relu2.weight"):
        assert expected in names
    assert not any(name.startswith("trunk.layer1.0.downsample") for name in names)  # 64 -> 64, stride 1


@pytest.mark.parametrize("wrapped", [True, False])
def test_an_lrw_checkpoint_loads_exactly(tmp_path, wrapped):
    source = _model(1)
    checkpoint = _lrw_checkpoint(source)
    path = tmp_path / "lrw_resnet18_mstcn.pth"
    torch.save(checkpoint if wrapped else checkpoint["model_state_dict"], path)
    target = _model(2)
    load_lrw_weights(target, path)
    for (name, expected), actual in zip(source.state_dict().items(), target.state_dict().values()):
        assert torch.equal(expected, actual), name


def test_wrong_keys_fail_naming_them(tmp_path):
    state = _lrw_checkpoint(_model(0))["model_state_dict"]
    del state["frontend3D.2.weight"]  # a swish model given to a PReLU encoder
    state["trunk.conv1.weight"] = torch.zeros(1)
    torch.save({"model_state_dict": state}, tmp_path / "bad.pth")
    with pytest.raises(BadInput, match=r"missing keys frontend3D\.2\.weight.*unexpected keys trunk\.conv1\.weight"):
        load_lrw_weights(_model(0), tmp_path / "bad.pth")


def test_wrong_shapes_fail_naming_them(tmp_path):
    state = _lrw_checkpoint(_model(0))["model_state_dict"]
    state["trunk.layer3.0.conv1.weight"] = torch.zeros(256, 128, 5, 5)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(BadInput, match=r"wrong shapes for trunk\.layer3\.0\.conv1\.weight"):
        load_lrw_weights(_model(0), tmp_path / "bad.pth")


def test_not_a_checkpoint_is_bad_input(tmp_path):
    (tmp_path / "x.pth").write_text("not a checkpoint")
    with pytest.raises(BadInput, match="not readable as a PyTorch checkpoint"):
        load_lrw_weights(_model(0), tmp_path / "x.pth")


def test_a_swish_checkpoint_loads_as_a_swish_encoder(tmp_path):
    """The 2022 LRW models use Swish (no activation weights): the loader tells them by their keys."""
    torch.manual_seed(3)
    source = LipResNet("swish").eval()
    torch.save(_lrw_checkpoint(source), tmp_path / "lrw_resnet18_dctcn_video.pth")
    loaded = load_lrw_encoder(tmp_path / "lrw_resnet18_dctcn_video.pth")
    assert loaded.activation == "swish"
    clips = torch.randn(1, 1, 6, 88, 88)
    with torch.inference_mode():
        assert torch.equal(source(clips), loaded.eval()(clips))
