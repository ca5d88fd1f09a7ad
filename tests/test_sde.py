"""OUVE SDE: closed-form marginals against simulation and quadrature; training losses."""

from __future__ import annotations

import math

import pytest
import torch

from pipelines.diffusion import (
    OUVESDE,
    build_sde,
    complex_normal,
    denoising_score_matching_loss,
    predictive_loss,
)


def simulate_forward(
    sde: OUVESDE, x0: torch.Tensor, y: torch.Tensor, t_end: float, steps: int, generator: torch.Generator
) -> torch.Tensor:
    """Euler-Maruyama paths of dx = eta (y - x) dt + g(t) dw with complex Wiener increments."""
    dt = t_end / steps
    x = x0.clone()
    for i in range(steps):
        t = torch.full((x.shape[0],), (i + 0.5) * dt, dtype=torch.float64)  # midpoint g
        drift, g = sde.sde(x, y, t)
        x = x + drift * dt + g[:, None] * math.sqrt(dt) * complex_normal(x, generator)
    return x


@pytest.mark.parametrize("t_end", [0.1, 0.5, 1.0])
def test_mean_and_variance_match_monte_carlo(t_end: float) -> None:
    sde = OUVESDE()
    paths = 20000
    generator = torch.Generator().manual_seed(1)
    x0 = torch.full((paths, 1), 0.8 - 0.3j, dtype=torch.complex128)
    y = torch.full((paths, 1), -0.5 + 0.6j, dtype=torch.complex128)
    x = simulate_forward(sde, x0, y, t_end, steps=int(400 * t_end), generator=generator)

    t = torch.tensor([t_end], dtype=torch.float64)
    mean = sde.mean(x0[:1], y[:1], t)[0, 0]
    variance = sde.std(t).item() ** 2
    deviation = x[:, 0] - mean
    assert abs(x.mean().item() - mean.item()) < 4 * math.sqrt(variance / paths)
    assert deviation.abs().square().mean().item() == pytest.approx(variance, rel=0.04)
    # half of the variance in each real component, none in their correlation
    assert deviation.real.square().mean().item() == pytest.approx(variance / 2, rel=0.05)
    assert deviation.imag.square().mean().item() == pytest.approx(variance / 2, rel=0.05)
    assert abs((deviation.real * deviation.imag).mean().item()) < 0.05 * variance


def test_variance_equals_integrated_diffusion() -> None:
    """sigma(t)^2 = int_0^t e^{-2 eta (t - s)} g(s)^2 ds, by trapezoidal quadrature."""
    sde = OUVESDE()
    for t_end in (0.03, 0.3, 1.0):
        s = torch.linspace(0.0, t_end, 20001, dtype=torch.float64)
        integrand = torch.exp(-2 * sde.eta * (t_end - s)) * sde.diffusion(s) ** 2
        expected = torch.trapezoid(integrand, s).item()
        assert sde.std(torch.tensor(t_end, dtype=torch.float64)).item() ** 2 == pytest.approx(expected, rel=1e-6)


def test_boundary_values() -> None:
    sde = OUVESDE(sigma_min=0.05, sigma_max=0.5, eta=1.5)
    zero, one = torch.tensor([0.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    assert sde.std(zero).item() == 0.0
    root = math.sqrt(2 * math.log(10))
    assert sde.diffusion(zero).item() == pytest.approx(0.05 * root)
    assert sde.diffusion(one).item() == pytest.approx(0.5 * root)
    x0 = torch.randn(1, 1, 4, 4, dtype=torch.complex64)
    y = torch.randn(1, 1, 4, 4, dtype=torch.complex64)
    assert torch.allclose(sde.mean(x0, y, zero.float()), x0)
    decay = math.exp(-1.5)
    assert torch.allclose(sde.mean(x0, y, one.float()), decay * x0 + (1 - decay) * y, atol=1e-6)


def test_marginal_and_drift() -> None:
    sde = build_sde("ouve")
    x0 = torch.randn(3, 1, 4, 5, dtype=torch.complex64)
    y = torch.randn(3, 1, 4, 5, dtype=torch.complex64)
    z = torch.randn(3, 1, 4, 5, dtype=torch.complex64)
    t = torch.tensor([0.1, 0.5, 0.9])
    expected = sde.mean(x0, y, t) + sde.std(t)[:, None, None, None] * z
    assert torch.allclose(sde.marginal(x0, y, t, z), expected)
    drift, g = sde.sde(x0, y, t)
    assert torch.allclose(drift, 1.5 * (y - x0))
    assert g.shape == (3,)


def test_complex_noise_convention() -> None:
    z = complex_normal(torch.zeros(200000, dtype=torch.complex64), torch.Generator().manual_seed(0))
    assert z.abs().square().mean().item() == pytest.approx(1.0, rel=0.02)
    assert z.real.var().item() == pytest.approx(0.5, rel=0.02)


def test_prior_sample_is_centred_on_y_hat_and_reproducible() -> None:
    sde = OUVESDE()
    y = torch.full((4, 1, 64, 64), 0.3 + 0.2j, dtype=torch.complex64)
    first = sde.prior_sample(y, torch.Generator().manual_seed(3))
    second = sde.prior_sample(y, torch.Generator().manual_seed(3))
    assert torch.equal(first, second)
    deviation = first - y
    std_T = sde.std(torch.tensor(1.0)).item()
    assert deviation.abs().square().mean().item() == pytest.approx(std_T**2, rel=0.03)
    assert abs(deviation.mean().item()) < 0.01


def test_time_samples_cover_training_range() -> None:
    t = OUVESDE().sample_time(10000, generator=torch.Generator().manual_seed(0))
    assert t.min().item() >= 0.03 and t.max().item() <= 1.0
    assert t.mean().item() == pytest.approx(0.515, abs=0.01)


def test_score_matching_loss_is_zero_for_the_true_score() -> None:
    """For a point-mass data distribution the exact score is -(x - mean) / std^2."""
    sde = OUVESDE()
    x0 = torch.randn(8, 1, 16, 16, dtype=torch.complex64)
    y = x0 + 0.5 * torch.randn(8, 1, 16, 16, dtype=torch.complex64)

    def true_score(x: torch.Tensor, y_hat: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -(x - sde.mean(x0, y_hat, t)) / sde.std(t)[:, None, None, None] ** 2

    generator = torch.Generator().manual_seed(0)
    assert denoising_score_matching_loss(true_score, sde, x0, y, generator).item() < 1e-8
    zero_score = denoising_score_matching_loss(lambda x, yh, t: torch.zeros_like(x), sde, x0, y, generator)
    assert zero_score.item() == pytest.approx(1.0, rel=0.05)  # E|z|^2


def test_losses_propagate_gradients() -> None:
    sde = OUVESDE()
    x0 = torch.randn(2, 1, 8, 8, dtype=torch.complex64)
    y = torch.randn(2, 1, 8, 8, dtype=torch.complex64)
    weight = torch.zeros((), requires_grad=True)
    loss = denoising_score_matching_loss(lambda x, yh, t: weight * (yh - x), sde, x0, y)
    loss.backward()
    assert weight.grad is not None and weight.grad.item() != 0.0

    estimate = torch.zeros_like(x0, requires_grad=True)
    predictive_loss(estimate, x0).backward()
    assert torch.allclose(estimate.grad, -2 * x0 / x0.numel())
    assert predictive_loss(x0 + 1j, x0).item() == pytest.approx(1.0)


def test_the_magnitude_term_prefers_the_right_magnitude_to_a_hedged_one() -> None:
    """Where the phase is unknown, the complex MSE is lower for the shrunken estimate 0 than for the right magnitude
    at a random phase; with the magnitude term (m = 0.7) the right magnitude wins, which is why it is there."""
    generator = torch.Generator().manual_seed(0)
    x0 = complex_normal(torch.zeros(4, 1, 64, 64, dtype=torch.complex64), generator)
    phase = torch.rand(x0.shape, generator=generator) * 2 * math.pi
    right_magnitude = x0.abs() * torch.exp(1j * phase)
    hedged = torch.zeros_like(x0)
    assert predictive_loss(hedged, x0) < predictive_loss(right_magnitude, x0)
    assert predictive_loss(right_magnitude, x0, 0.7) < predictive_loss(hedged, x0, 0.7)
    assert predictive_loss(x0 * torch.exp(1j * phase), x0, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    assert predictive_loss(right_magnitude, x0, 0.0) == predictive_loss(right_magnitude, x0)

    estimate = torch.zeros_like(x0, requires_grad=True)  # |.| at exactly 0: the gradient stays finite
    predictive_loss(estimate, torch.zeros_like(x0), 0.7).backward()
    assert torch.isfinite(torch.view_as_real(estimate.grad)).all()
