"""Reverse-process samplers, selectable by name (`build_sampler("pc", sde, num_steps=30)`): "pc"
(stochastic, the paper's), "ode" (deterministic probability flow) and "predictive" (no diffusion).

Every sampler is called as `sampler(score_fn, y_hat, generator=None, progress=None)` and
returns (x0_estimate, number_of_score_network_evaluations). `score_fn(x, y_hat, t)` maps a
complex state, the conditioning spectrogram and per-item times (B,) to the complex score.
Callers run samplers under `torch.inference_mode()`; nothing here builds autograd graphs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor

from pipelines import choices
from pipelines.diffusion.sde import SDE, complex_normal, per_item
from pipelines.registry import Registry

ScoreFn = Callable[[Tensor, Tensor, Tensor], Tensor]
ProgressFn = Callable[[int, int], None]  # (steps done, total steps)


class Sampler(Protocol):
    def __call__(
        self,
        score_fn: ScoreFn,
        y_hat: Tensor,
        generator: torch.Generator | None = None,
        progress: ProgressFn | None = None,
    ) -> tuple[Tensor, int]: ...


SAMPLERS: Registry[Sampler] = Registry("sampler", choices.SAMPLERS)
STEP_RULES = tuple(choices.STEP_RULES)  # the PC predictor's step sizes (PredictorCorrectorSampler)
CORRECTORS = tuple(choices.CORRECTORS)  # the PC corrector (PredictorCorrectorSampler)
register_sampler = SAMPLERS.register


def build_sampler(name: str, sde: SDE, **options: Any) -> Sampler:
    return SAMPLERS.build(name, sde, **options)


class _ReverseTimeGrid:
    """What the PC and ODE samplers share: `num_steps` times on linspace(t_start, t_eps) and the prior.

    Both start from `sde.prior_sample` at t_start (x ~ y_hat + std(t_start) z; t_start = T by
    default), so a seeded generator makes either reproducible. A t_start below T starts nearer
    the denoiser's estimate with less injected noise (StoRM-style), for fewer steps. The
    per-item time tensors are built once per call, not at every step.
    """

    def __init__(self, sde: SDE, num_steps: int, t_start: float | None = None) -> None:
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        self.sde = sde
        self.num_steps = num_steps
        self.t_start = sde.T if t_start is None else float(t_start)
        if not sde.t_eps < self.t_start <= sde.T:
            raise ValueError(f"t_start must be in ({sde.t_eps}, {sde.T}], got {self.t_start}")

    def timesteps(self) -> list[float]:
        return torch.linspace(self.t_start, self.sde.t_eps, self.num_steps, dtype=torch.float64).tolist()

    def start(self, y_hat: Tensor, generator: torch.Generator | None) -> Tensor:
        return self.sde.prior_sample(y_hat, generator, self.t_start)

    def _batch_times(self, y_hat: Tensor) -> Tensor:
        """(num_steps, B): row i holds the i-th time for every batch item, on y_hat's device."""
        times = torch.tensor(self.timesteps(), dtype=y_hat.real.dtype, device=y_hat.device)
        return times[:, None].expand(-1, y_hat.shape[0])


@register_sampler("pc")
class PredictorCorrectorSampler(_ReverseTimeGrid):
    """Predictor-Corrector sampling (Song et al. 2021) as used by SGMSE.

    At each of `num_steps` times on linspace(t_start, t_eps) it runs `corrector_steps` annealed
    Langevin steps (corrector "ald"; step size 2 (snr std(t))^2) and then one reverse-diffusion
    Euler-Maruyama step (predictor). The noise-free mean of the last step is the result.
    `step_rule` sets the predictor's step sizes (STEP_RULES), so an imported model samples as
    upstream does: "grid" (cmkt's) takes the grid spacing (t_start - t_eps) / (num_steps - 1)
    every time, so the last step, taken at t_eps, ends near t = 0; "t_eps" (SGMSE since
    mid-2024) takes the spacing and then a last step of t_eps, ending exactly at 0; "1/N"
    (StoRM, older SGMSE) takes 1 / num_steps every time.
    """

    def __init__(
        self, sde: SDE, num_steps: int = 30, corrector: str = "ald", corrector_steps: int = 1, snr: float = 0.5,
        t_start: float | None = None, step_rule: str = "grid",
    ) -> None:
        super().__init__(sde, num_steps, t_start)
        if corrector not in CORRECTORS:
            raise ValueError(f"corrector must be one of {', '.join(CORRECTORS)}, got {corrector!r}")
        if step_rule not in STEP_RULES:
            raise ValueError(f"step_rule must be one of {', '.join(STEP_RULES)}, got {step_rule!r}")
        self.step_rule = step_rule
        self.corrector = corrector
        self.corrector_steps = corrector_steps if corrector == "ald" else 0
        self.snr = snr

    @property
    def evaluations(self) -> int:
        """Score network evaluations per call."""
        return self.num_steps * (self.corrector_steps + 1)

    def step_sizes(self) -> list[float]:
        """The predictor's step after each grid time."""
        if self.step_rule == "1/N":
            return [1.0 / self.num_steps] * self.num_steps
        spacing = (self.t_start - self.sde.t_eps) / max(self.num_steps - 1, 1)
        if self.step_rule == "t_eps":
            return [spacing] * (self.num_steps - 1) + [self.sde.t_eps]
        return [spacing] * self.num_steps

    def __call__(
        self,
        score_fn: ScoreFn,
        y_hat: Tensor,
        generator: torch.Generator | None = None,
        progress: ProgressFn | None = None,
    ) -> tuple[Tensor, int]:
        x = self.start(y_hat, generator)
        x_mean = x
        nfe = 0
        for step, (t, dt) in enumerate(zip(self._batch_times(y_hat), self.step_sizes(), strict=True)):
            for _ in range(self.corrector_steps):
                x = self._langevin_step(x, score_fn(x, y_hat, t), t, generator)
                nfe += 1
            score = score_fn(x, y_hat, t)
            nfe += 1
            x, x_mean = self.sde.reverse_step(x, y_hat, t, dt, score, complex_normal(x, generator))
            if progress is not None:
                progress(step + 1, self.num_steps)
        return x_mean, nfe

    def _langevin_step(self, x: Tensor, score: Tensor, t: Tensor, generator: torch.Generator | None) -> Tensor:
        """x + eps score + sqrt(2 eps) z, eps = 2 (snr std(t))^2: fixes the target signal-to-noise ratio."""
        eps = per_item(2.0 * (self.snr * self.sde.std(t)).square(), x)
        return x + eps * score + torch.sqrt(2.0 * eps) * complex_normal(x, generator)


@register_sampler("ode")
class ProbabilityFlowSampler(_ReverseTimeGrid):
    """Deterministic sampling along the probability-flow ODE dx = [f(x, t) - g(t)^2 score / 2] dt.

    The ODE has the reverse SDE's marginals without its noise, so a 2nd-order solver can take
    large steps. Heun's method runs between consecutive times of PC's grid linspace(t_start, t_eps,
    num_steps); the last step, from t_eps to 0, is an Euler step because the score is singular
    at t = 0 (as in Karras et al. 2022, whose last step also ends at zero noise). Score
    evaluations: 2 (num_steps - 1) + 1. The prior sample is the only randomness.
    """

    def __init__(self, sde: SDE, num_steps: int = 10, t_start: float | None = None) -> None:
        super().__init__(sde, num_steps, t_start)

    @property
    def evaluations(self) -> int:
        """Score network evaluations per call."""
        return 2 * self.num_steps - 1

    def __call__(
        self,
        score_fn: ScoreFn,
        y_hat: Tensor,
        generator: torch.Generator | None = None,
        progress: ProgressFn | None = None,
    ) -> tuple[Tensor, int]:
        def slope(x: Tensor, t: Tensor) -> Tensor:
            return self.sde.ode_drift(x, y_hat, t, score_fn(x, y_hat, t))

        grid, times = self.timesteps(), self._batch_times(y_hat)
        x = self.start(y_hat, generator)
        for step in range(self.num_steps):
            here = slope(x, times[step])
            if step + 1 < self.num_steps:  # Heun: Euler guess, then the mean of the two slopes
                dt = grid[step + 1] - grid[step]
                guess = x + dt * here
                x = x + 0.5 * dt * (here + slope(guess, times[step + 1]))
            else:
                x = x - grid[step] * here
            if progress is not None:
                progress(step + 1, self.num_steps)
        return x, self.evaluations


@register_sampler("predictive")
class PredictiveSampler:
    """The predictive denoiser's estimate alone: returns y_hat, no score evaluations.

    Takes the SDE only so all samplers share `build_sampler(name, sde, ...)`.
    """

    evaluations = 0

    def __init__(self, sde: SDE | None = None) -> None:
        self.sde = sde

    def __call__(
        self,
        score_fn: ScoreFn,
        y_hat: Tensor,
        generator: torch.Generator | None = None,
        progress: ProgressFn | None = None,
    ) -> tuple[Tensor, int]:
        if progress is not None:
            progress(1, 1)
        return y_hat, 0
