"""Samplers: plumbing with vanishing noise, recovery under the exact score, convergence, bookkeeping."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from pipelines.diffusion import (
    OUVESDE,
    PredictiveSampler,
    PredictorCorrectorSampler,
    ProbabilityFlowSampler,
    build_sampler,
)
from pipelines.diffusion.sampling import ScoreFn
from pipelines.diffusion.sde import per_item


def spectrogram(seed: int, shape: tuple[int, ...] = (2, 1, 32, 16)) -> Tensor:
    return torch.randn(shape, dtype=torch.complex64, generator=torch.Generator().manual_seed(seed))


def exact_score(sde: OUVESDE, x0: Tensor):
    """Score of the marginal p_t when the data distribution is a point mass at x0."""

    def score(x: Tensor, y_hat: Tensor, t: Tensor) -> Tensor:
        return -(x - sde.mean(x0, y_hat, t)) / sde.std(t)[:, None, None, None] ** 2

    return score


@pytest.mark.parametrize("corrector", ["ald", "none"])
def test_pc_returns_y_hat_when_noise_vanishes(corrector: str) -> None:
    """With (almost) no diffusion noise and a zero score, the reverse drift eta (x - y_hat)
    keeps the prior sample, which sits on y_hat, in place: any offset, rescaling or leftover
    noise in the sampler's prior, steps or final read-out would show up here."""
    sde = OUVESDE(sigma_min=1e-9, sigma_max=2e-9)
    y_hat = spectrogram(0)
    sampler = build_sampler("pc", sde, num_steps=30, corrector=corrector)
    with torch.inference_mode():
        x0, nfe = sampler(lambda x, y, t: torch.zeros_like(x), y_hat, torch.Generator().manual_seed(0))
    assert nfe == (60 if corrector == "ald" else 30) == sampler.evaluations
    assert (x0 - y_hat).abs().max().item() < 1e-6


@pytest.mark.parametrize("corrector", ["ald", "none"])
def test_pc_recovers_clean_spectrogram_with_exact_score(corrector: str) -> None:
    """Started from N(y_hat, std(T)^2), the default sampler must carry x to the clean x0.

    The grid ends at t_eps, so the last predictor step lands near t = 0; the remaining
    error is the discretisation's, far below the y_hat - x0 gap it started from. A sign
    error in the predictor's score term or the corrector makes this diverge."""
    sde = OUVESDE()
    x0 = spectrogram(1)
    y_hat = x0 + spectrogram(2)
    sampler = PredictorCorrectorSampler(sde, corrector=corrector)
    with torch.inference_mode():
        estimate, _ = sampler(exact_score(sde, x0), y_hat, torch.Generator().manual_seed(3))
    start_error = (y_hat - x0).abs().square().mean().sqrt()
    error = (estimate - x0).abs().square().mean().sqrt()
    assert error < 0.02 * start_error


@pytest.mark.parametrize("name", ["pc", "ode"])
def test_an_earlier_start_time_still_reaches_the_clean_spectrogram(name: str) -> None:
    """From t_start < T (StoRM-style: y_hat plus less noise, fewer steps) the grid runs t_start -> t_eps and
    the exact score still carries x to x0; a start outside (t_eps, T] is refused."""
    sde = OUVESDE()
    x0 = spectrogram(1)
    y_hat = x0 + 0.3 * spectrogram(2)
    sampler = build_sampler(name, sde, num_steps=20, t_start=0.5)
    assert sampler.timesteps()[0] == 0.5 and sampler.timesteps()[-1] == pytest.approx(sde.t_eps)
    with torch.inference_mode():
        estimate, _ = sampler(exact_score(sde, x0), y_hat, torch.Generator().manual_seed(3))
    error = (estimate - x0).abs().square().mean().sqrt()
    assert error < 0.05 * (y_hat - x0).abs().square().mean().sqrt()
    for bad in (sde.t_eps, 1.5):
        with pytest.raises(ValueError, match="t_start"):
            build_sampler(name, sde, num_steps=5, t_start=bad)


def test_pc_is_reproducible_with_a_seeded_generator() -> None:
    sde = OUVESDE()
    x0, y_hat = spectrogram(1), spectrogram(2)
    sampler = build_sampler("pc", sde, num_steps=5)
    first, _ = sampler(exact_score(sde, x0), y_hat, torch.Generator().manual_seed(7))
    second, _ = sampler(exact_score(sde, x0), y_hat, torch.Generator().manual_seed(7))
    third, _ = sampler(exact_score(sde, x0), y_hat, torch.Generator().manual_seed(8))
    assert torch.equal(first, second)
    assert not torch.equal(first, third)


def recording_score() -> tuple[ScoreFn, list[float], list[tuple[int, int]]]:
    """A zero score that records the time of each call (checking its shape and dtype), and a list for progress."""
    times: list[float] = []

    def score(x: Tensor, y: Tensor, t: Tensor) -> Tensor:
        assert t.shape == (x.shape[0],) and t.dtype == torch.float32
        times.append(t[0].item())
        return torch.zeros_like(x)

    return score, times, []


def test_pc_schedule_and_progress() -> None:
    sde = OUVESDE()
    sampler = PredictorCorrectorSampler(sde, num_steps=4)
    assert sampler.timesteps() == pytest.approx([1.0, 0.6766667, 0.3533333, 0.03])
    assert sampler.step_sizes() == pytest.approx([0.97 / 3] * 4)
    score, times, reports = recording_score()
    _, nfe = sampler(score, spectrogram(0), progress=lambda done, total: reports.append((done, total)))
    assert nfe == 8 == len(times)
    assert times[::2] == pytest.approx(sampler.timesteps())  # corrector then predictor at each time
    assert reports == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_pc_step_rules_follow_sgmse_and_storm() -> None:
    """SGMSE's last step goes from t_eps to 0; StoRM (and SGMSE before mid-2024) steps 1/N every time."""
    sde = OUVESDE()
    assert PredictorCorrectorSampler(sde, 4, step_rule="t_eps").step_sizes() == pytest.approx([0.97 / 3] * 3 + [0.03])
    assert PredictorCorrectorSampler(sde, 4, step_rule="1/N").step_sizes() == pytest.approx([0.25] * 4)
    with pytest.raises(ValueError, match="step_rule"):
        PredictorCorrectorSampler(sde, 4, step_rule="half")


def relative_error(estimate: Tensor, target: Tensor, scale: Tensor) -> float:
    return ((estimate - target).abs().square().mean().sqrt() / scale.abs().square().mean().sqrt()).item()


def test_ode_recovers_clean_spectrogram_with_exact_score_and_more_steps_get_closer() -> None:
    """The deterministic sampler from N(y_hat, std(T)^2) must reach x0 with few steps.

    Heun at 10 grid times (19 evaluations) lands within 2 % of the starting gap; at 5 it is
    visibly worse. A wrong sign or factor of g^2/2, or an Euler step in place of Heun's
    correction, fails one of the two bounds."""
    sde = OUVESDE()
    x0 = spectrogram(1)
    y_hat = x0 + spectrogram(2)
    errors = {}
    for steps in (5, 10):
        with torch.inference_mode():
            estimate, _ = build_sampler("ode", sde, num_steps=steps)(exact_score(sde, x0), y_hat,
                                                                     torch.Generator().manual_seed(3))
        errors[steps] = relative_error(estimate, x0, y_hat - x0)
    assert errors[10] < 0.02
    assert errors[5] > 2 * errors[10]


def test_ode_converges_at_second_order_to_the_exact_flow() -> None:
    """For a point mass the flow keeps (x - mean(t)) / std(t) fixed, so from the sampler's own prior
    sample its exact value at t_eps is known in closed form; after the same final Euler step to
    t = 0 it is the limit the solver must converge to. Doubling the Heun intervals must cut the
    error about 4-fold (2nd order; Euler would only halve it)."""
    sde = OUVESDE()
    x0 = spectrogram(1)
    y_hat = x0 + spectrogram(2)
    score = exact_score(sde, x0)
    x_T = sde.prior_sample(y_hat, torch.Generator().manual_seed(3))
    T, t_eps = torch.full((2,), sde.T), torch.full((2,), sde.t_eps)
    at_eps = sde.mean(x0, y_hat, t_eps) + per_item(sde.std(t_eps) / sde.std(T), x_T) * (x_T - sde.mean(x0, y_hat, T))
    limit = at_eps - sde.t_eps * sde.ode_drift(at_eps, y_hat, t_eps, score(at_eps, y_hat, t_eps))
    errors = []
    for intervals in (8, 16, 32):
        with torch.inference_mode():
            estimate, _ = build_sampler("ode", sde, num_steps=intervals + 1)(score, y_hat,
                                                                             torch.Generator().manual_seed(3))
        errors.append(relative_error(estimate, limit, y_hat - x0))
    assert errors[0] < 0.02
    assert errors[0] / errors[1] > 3.5 and errors[1] / errors[2] > 3.5


def test_ode_evaluations_schedule_and_determinism() -> None:
    """Heun evaluates at each grid time and again at the next one; the last (Euler) step once, at t_eps.
    Only the prior sample is random: the same seed gives the same output."""
    sde = OUVESDE()
    sampler = ProbabilityFlowSampler(sde, num_steps=4)
    score, times, reports = recording_score()
    y_hat = spectrogram(0)
    first, nfe = sampler(score, y_hat, torch.Generator().manual_seed(5),
                         progress=lambda done, total: reports.append((done, total)))
    grid = sampler.timesteps()
    assert nfe == 7 == len(times) == sampler.evaluations
    assert times == pytest.approx([grid[0], grid[1], grid[1], grid[2], grid[2], grid[3], grid[3]])
    assert reports == [(1, 4), (2, 4), (3, 4), (4, 4)]
    again, _ = sampler(score, y_hat, torch.Generator().manual_seed(5))
    other, _ = sampler(score, y_hat, torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert build_sampler("ode", sde, num_steps=1).evaluations == 1


def test_ode_returns_y_hat_when_noise_vanishes() -> None:
    """Without diffusion the flow's drift eta (y_hat - x) keeps the prior sample, on y_hat, in place."""
    sde = OUVESDE(sigma_min=1e-9, sigma_max=2e-9)
    y_hat = spectrogram(0)
    with torch.inference_mode():
        x0, _ = build_sampler("ode", sde, num_steps=5)(lambda x, y, t: torch.zeros_like(x), y_hat,
                                                       torch.Generator().manual_seed(0))
    assert (x0 - y_hat).abs().max().item() < 1e-6


def test_predictive_sampler_returns_y_hat_without_score_calls() -> None:
    def never(x: Tensor, y: Tensor, t: Tensor) -> Tensor:
        raise AssertionError("the predictive sampler must not evaluate the score")

    y_hat = spectrogram(4)
    sampler = build_sampler("predictive", OUVESDE())
    assert isinstance(sampler, PredictiveSampler)
    estimate, nfe = sampler(never, y_hat)
    assert estimate is y_hat and nfe == 0


def test_sampler_builds_no_graph_under_inference_mode() -> None:
    weight = torch.ones((), requires_grad=True)
    sde = OUVESDE()
    with torch.inference_mode():
        estimate, _ = build_sampler("pc", sde, num_steps=3)(lambda x, y, t: weight * (y - x), spectrogram(5))
    assert not estimate.requires_grad


def test_unknown_names_are_rejected() -> None:
    with pytest.raises(KeyError):
        build_sampler("euler", OUVESDE())
    with pytest.raises(ValueError):
        PredictorCorrectorSampler(OUVESDE(), corrector="langevin")
    with pytest.raises(ValueError):
        ProbabilityFlowSampler(OUVESDE(), num_steps=0)
