"""NCSN++ backbone: size of the presets, shapes, hooks, memory formats, FIR resampling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipelines.models import BACKBONES, NCSNPP_PRESETS, NCSNpp
from pipelines.models.ncsnpp_layers import FirDownsample2d, FirUpsample2d, fir_kernel_2d
from pipelines.spectral import crop_frames, pad_frames


class ShapeRecorder(nn.Module):
    """Hook module that records what it sees and leaves the feature unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, h: Tensor, context: dict | None) -> Tensor:
        self.shapes.append(tuple(h.shape))
        return h


def perturbed(model: nn.Module, seed: int = 0) -> nn.Module:
    """Move every weight off its init, which zeroes the last layer of each residual branch."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return model


def complex_input(batch: int, channels: int, bins: int, frames: int, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, bins, frames, dtype=torch.complex64, generator=generator)


def test_paper_preset_has_sgmse_size() -> None:
    with torch.device("meta"):
        model = NCSNpp(in_complex=2, preset="paper")
    count = sum(p.numel() for p in model.parameters())
    assert 60e6 < count < 70e6
    assert model.multiple == 64
    assert model.bottleneck_channels == 256


def test_small_preset_is_cpu_sized() -> None:
    count = sum(p.numel() for p in NCSNpp(in_complex=2, preset="small").parameters())
    assert 1e6 < count < 6e6


def test_paper_bottleneck_is_256x4x4_on_256x256() -> None:
    """Shape propagation on the meta device: the real 256 x 256 forward without the compute."""
    with torch.device("meta"):
        model = NCSNpp(in_complex=2, preset="paper")
        recorder = ShapeRecorder()
        model.bottleneck_modules.append(recorder)
        out = model(torch.empty(2, 2, 256, 256, dtype=torch.complex64), torch.full((2,), 0.5))
    assert recorder.shapes == [(2, 256, 4, 4)]
    assert out.shape == (2, 1, 256, 256) and out.dtype == torch.complex64


def test_paper_forward_on_small_input() -> None:
    model = BACKBONES.build("ncsnpp", in_complex=2, preset="paper").eval()
    with torch.inference_mode():
        out = model(complex_input(1, 2, 64, 64), torch.tensor([0.4]))
    assert out.shape == (1, 1, 64, 64) and out.dtype == torch.complex64
    assert torch.isfinite(torch.view_as_real(out)).all()


def test_small_forward_backward_on_padded_odd_length() -> None:
    model = perturbed(NCSNpp(in_complex=1, preset="small"))
    spec = complex_input(2, 1, 256, 37)
    padded, frames = pad_frames(spec, model.multiple)
    assert padded.shape[-1] == 48
    out = crop_frames(model(padded, torch.tensor([1.0, 1.0])), frames)
    assert out.shape == (2, 1, 256, 37) and out.is_complex()
    torch.view_as_real(out).square().mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_hooks_see_documented_shapes_and_share_context() -> None:
    model = perturbed(NCSNpp(in_complex=2, preset="small"))
    bins, frames = 64, 32

    class AddOneAndReport(nn.Module):
        def forward(self, h: Tensor, context: dict | None) -> Tensor:
            assert context is not None
            context["bottleneck_norm"] = h.norm()
            return h + 1.0

    recorder, level_recorder = ShapeRecorder(), ShapeRecorder()
    model.bottleneck_modules.extend([recorder, AddOneAndReport()])
    model.level_modules["16"] = level_recorder
    context: dict = {}
    x, t = complex_input(2, 2, bins, frames), torch.tensor([0.2, 0.7])
    hooked = model(x, t, context)

    multiple = model.multiple
    assert recorder.shapes == [(2, model.bottleneck_channels, bins // multiple, frames // multiple)]
    assert "bottleneck_norm" in context
    # resolution "16" is the deepest level of the small preset (attention level): one call per
    # down-path residual block, one after the up-path blocks
    level = model.level_resolutions.index("16")
    feature = (2, model.level_channels["16"], bins // 2**level, frames // 2**level)
    assert level_recorder.shapes == [feature] * (model.config.num_res_blocks + 1)

    del model.bottleneck_modules[1]
    assert not torch.allclose(model(x, t), hooked)  # the hook's output flows on


def test_channels_last_matches_contiguous() -> None:
    model = perturbed(NCSNpp(in_complex=2, preset="small"))
    x, t = complex_input(2, 2, 32, 48, seed=1), torch.tensor([0.1, 0.9])

    def output_and_gradients() -> tuple[Tensor, list[Tensor]]:
        model.zero_grad(set_to_none=True)
        out = model(x, t)
        torch.view_as_real(out).square().sum().backward()
        return out.detach(), [p.grad.clone() for p in model.parameters()]

    reference, reference_grads = output_and_gradients()
    model = model.to(memory_format=torch.channels_last)
    assert model.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    out, grads = output_and_gradients()
    assert reference.abs().max() > 0
    assert (out - reference).abs().max() <= 1e-4 * reference.abs().max()
    for grad, reference_grad in zip(grads, reference_grads, strict=True):
        assert (grad - reference_grad).abs().max() <= 1e-3 * reference_grad.abs().max() + 1e-6


def test_time_conditioning_changes_output() -> None:
    model = perturbed(NCSNpp(in_complex=2, preset="small")).eval()
    x = complex_input(1, 2, 32, 32).expand(2, -1, -1, -1)
    with torch.inference_mode():
        out = model(x, torch.tensor([0.1, 0.9]))
    assert not torch.allclose(out[0], out[1])


def test_rejects_misshaped_input() -> None:
    model = NCSNpp(in_complex=2, preset="small")
    with pytest.raises(ValueError):
        model(complex_input(1, 1, 32, 32), torch.ones(1))  # wrong channel count
    with pytest.raises(ValueError):
        model(complex_input(1, 2, 32, 40), torch.ones(1))  # T not a multiple of 16
    with pytest.raises(ValueError):
        model(torch.randn(1, 2, 32, 32), torch.ones(1))  # real input


def test_presets_and_overrides() -> None:
    assert set(NCSNPP_PRESETS) >= {"paper", "small"}
    model = BACKBONES.build("ncsnpp", in_complex=1, preset="small", ch_mult=[1, 2, 2])
    assert model.multiple == 4 and model.config.ch_mult == (1, 2, 2)
    with pytest.raises(KeyError):
        BACKBONES.build("no-such-backbone")


def upfirdn_reference(x: Tensor, kernel: Tensor, up: int, down: int, pad: tuple[int, int]) -> Tensor:
    """Direct definition: insert zeros, pad, convolve with the (flipped) kernel, decimate."""
    b, c, h, w = x.shape
    upsampled = torch.zeros(b, c, h * up, w * up)
    upsampled[:, :, ::up, ::up] = x
    padded = F.pad(upsampled, (pad[0], pad[1], pad[0], pad[1]))
    weight = torch.flip(kernel, [0, 1]).expand(c, 1, -1, -1)
    return F.conv2d(padded, weight, groups=c)[:, :, ::down, ::down]


def test_fir_resampling_matches_upfirdn_definition() -> None:
    taps = (1.0, 3.0, 3.0, 1.0)
    kernel = fir_kernel_2d(taps)
    x = torch.randn(2, 3, 8, 12)
    down = FirDownsample2d(3, taps)(x)
    assert torch.allclose(down, upfirdn_reference(x, kernel, 1, 2, (1, 1)), atol=1e-6)
    up = FirUpsample2d(3, taps)(x)
    assert torch.allclose(up, upfirdn_reference(x, kernel * 4, 2, 1, (2, 1)), atol=1e-6)
    assert down.shape == (2, 3, 4, 6) and up.shape == (2, 3, 16, 24)
    ones = torch.ones(1, 1, 8, 8)  # unit DC gain away from the borders
    assert torch.allclose(FirUpsample2d(1, taps)(ones)[..., 2:-2, 2:-2], torch.ones(1, 1, 12, 12))
