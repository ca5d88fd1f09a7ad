"""The Ornstein-Uhlenbeck SDE with variance exploding noise (OUVE) of SGMSE / DLAV-SE.

    dx = eta (y_hat - x) dt + g(t) dw,   g(t) = sigma_min r^t sqrt(2 ln r),   r = sigma_max / sigma_min

The drift pulls the clean spectrogram x0 towards the (pre-enhanced) noisy one y_hat while
the noise grows, so at t = T the process sits near y_hat plus Gaussian noise, and the
reverse SDE walks from there back to clean speech. SGMSE calls eta "theta".

Complex noise convention (used everywhere: training, prior, sampler): a complex standard
normal z has E|z|^2 = 1, i.e. real and imaginary parts each N(0, 1/2); this is what
`torch.randn` draws for complex dtypes. w is the matching complex Wiener process
(E|dw|^2 = dt), so `std(t)**2` is the total variance E|x_t - mean|^2 and each real
component carries half of it. Under this convention the complex score of
N_C(mu, s^2) is -(x - mu) / s^2 = -z / s, and the reverse SDE and Langevin steps take
the same form as for real data (drift f - g^2 score, noise g sqrt(dt) z).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch
from torch import Tensor

from pipelines import choices
from pipelines.registry import Registry

class SDE(Protocol):
    """What losses and samplers use of a diffusion process, so another SDE plugs in with `@register_sde("name")`:
    times t_eps..T, its marginals (training) and the reverse steps (sampling)."""

    T: float
    t_eps: float

    def std(self, t: Tensor) -> Tensor: ...

    def marginal(self, x0: Tensor, y: Tensor, t: Tensor, z: Tensor) -> Tensor: ...

    def sample_time(self, batch_size: int, device: torch.device | str = "cpu",
                    generator: torch.Generator | None = None) -> Tensor: ...

    def prior_sample(self, y: Tensor, generator: torch.Generator | None = None, t: float | None = None) -> Tensor: ...

    def reverse_step(self, x: Tensor, y: Tensor, t: Tensor, dt: float, score: Tensor,
                     z: Tensor) -> tuple[Tensor, Tensor]: ...

    def ode_drift(self, x: Tensor, y: Tensor, t: Tensor, score: Tensor) -> Tensor: ...


SDES: Registry[SDE] = Registry("sde", choices.SDES)
register_sde = SDES.register


def build_sde(name: str, **options: Any) -> SDE:
    return SDES.build(name, **options)


def complex_normal(like: Tensor, generator: torch.Generator | list[torch.Generator] | None = None) -> Tensor:
    """Complex standard normal noise shaped like `like` (E|z|^2 = 1). `generator`: one for the batch, or a list of
    one per batch item, whose noise then does not depend on which items share its batch (enhancement)."""
    if isinstance(generator, list):
        return torch.stack([torch.randn(like.shape[1:], dtype=like.dtype, device=like.device, generator=g)
                            for g in generator])
    return torch.randn(like.shape, dtype=like.dtype, device=like.device, generator=generator)


def per_item(t: Tensor, like: Tensor) -> Tensor:
    """Reshape a per-batch-item (B,) tensor to broadcast against `like` (B, ...)."""
    return t.reshape(-1, *([1] * (like.ndim - 1)))


@register_sde("ouve")
class OUVESDE:
    """OUVE SDE with closed-form marginals; t runs from 0 (clean) to T (prior)."""

    def __init__(
        self,
        sigma_min: float = 0.05,
        sigma_max: float = 0.5,
        eta: float = 1.5,
        T: float = 1.0,
        t_eps: float = 0.03,
    ) -> None:
        if not 0.0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        if eta <= 0.0:
            raise ValueError(f"eta must be positive, got {eta}")
        if not 0.0 < t_eps < T:
            raise ValueError(f"need 0 < t_eps < T, got t_eps={t_eps}, T={T}")
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.eta = eta
        self.T = T
        self.t_eps = t_eps
        self._log_ratio = math.log(sigma_max / sigma_min)

    def diffusion(self, t: Tensor) -> Tensor:
        """g(t) = sigma_min r^t sqrt(2 ln r)."""
        return self.sigma_min * torch.exp(t * self._log_ratio) * math.sqrt(2.0 * self._log_ratio)

    def sde(self, x: Tensor, y: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Forward drift eta (y - x) and diffusion g(t) (shape (B,))."""
        return self.eta * (y - x), self.diffusion(t)

    def mean(self, x0: Tensor, y: Tensor, t: Tensor) -> Tensor:
        """E[x_t | x0, y] = e^{-eta t} x0 + (1 - e^{-eta t}) y."""
        decay = per_item(torch.exp(-self.eta * t), x0)
        return decay * x0 + (1.0 - decay) * y

    def std(self, t: Tensor) -> Tensor:
        """sqrt(E|x_t - mean|^2): sigma_min^2 (r^{2t} - e^{-2 eta t}) ln r / (eta + ln r), square-rooted."""
        growth = torch.exp(2.0 * t * self._log_ratio) - torch.exp(-2.0 * self.eta * t)
        return self.sigma_min * torch.sqrt(growth * self._log_ratio / (self.eta + self._log_ratio))

    def marginal(self, x0: Tensor, y: Tensor, t: Tensor, z: Tensor) -> Tensor:
        """x_t = mean + std(t) z, for complex standard normal z."""
        return self.mean(x0, y, t) + per_item(self.std(t), x0) * z

    def sample_time(
        self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> Tensor:
        """Training times t ~ U(t_eps, T); t_eps keeps the score away from the singular t = 0."""
        u = torch.rand(batch_size, device=device, generator=generator)
        return self.t_eps + (self.T - self.t_eps) * u

    def prior_sample(self, y: Tensor, generator: torch.Generator | None = None, t: float | None = None) -> Tensor:
        """x_t ~ N_C(y, std(t)^2 I) at t = T (default) or an earlier start time: the start of the reverse process.

        The exact marginal at t also contains e^{-eta t} (x0 - y); it is unknown at
        inference and neglected, as in SGMSE and StoRM (both at T).
        """
        std_t = self.std(torch.tensor(self.T if t is None else t, dtype=torch.float64)).item()
        return y + std_t * complex_normal(y, generator)

    def reverse_step(
        self, x: Tensor, y: Tensor, t: Tensor, dt: float, score: Tensor, z: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Euler-Maruyama step of the reverse SDE from t to t - dt.

        x_{t-dt} = x - (f - g^2 score) dt + g sqrt(dt) z. Returns the new state and its
        noise-free mean (the sampler's final output).
        """
        drift, g = self.sde(x, y, t)
        g = per_item(g, x)
        x_mean = x - (drift - g.square() * score) * dt
        return x_mean + g * math.sqrt(dt) * z, x_mean

    def ode_drift(self, x: Tensor, y: Tensor, t: Tensor, score: Tensor) -> Tensor:
        """dx/dt = f - g^2 score / 2 of the probability-flow ODE, whose solutions have this SDE's marginals."""
        drift, g = self.sde(x, y, t)
        return drift - 0.5 * per_item(g, x).square() * score
