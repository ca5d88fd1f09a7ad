"""Training losses of the predictive denoiser and the score model (both on complex spectrograms)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pipelines.diffusion.sde import SDE, complex_normal, per_item

ScoreFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def complex_mse(a: Tensor, b: Tensor) -> Tensor:
    """mean |a - b|^2 over all complex elements (via real/imag parts: |.| has no gradient at 0)."""
    return torch.view_as_real(a - b).square().sum(-1).mean()


def magnitude_mse(a: Tensor, b: Tensor) -> Tensor:
    """mean (|a| - |b|)^2 (the epsilon keeps the gradient finite where a spectrogram is exactly 0)."""
    def magnitude(c: Tensor) -> Tensor:
        return (torch.view_as_real(c).square().sum(-1) + 1e-12).sqrt()
    return (magnitude(a) - magnitude(b)).square().mean()


def predictive_loss(y_hat: Tensor, x0: Tensor, magnitude_weight: float = 0.0) -> Tensor:
    """L_denoiser: (1 - m) complex MSE + m magnitude MSE between the denoiser's estimate and the clean spectrogram.

    Where the phase is uncertain (low-SNR bins) the complex MSE is smallest for an estimate with
    a shrunken magnitude, so a denoiser trained on it alone over-suppresses weak speech, which
    costs intelligibility (ESTOI); the magnitude term (m > 0, as in CMGAN's 0.7) counters that.
    """
    loss = complex_mse(y_hat, x0)
    if magnitude_weight:
        loss = (1.0 - magnitude_weight) * loss + magnitude_weight * magnitude_mse(y_hat, x0)
    return loss


def denoising_score_matching_loss(
    score_fn: ScoreFn,
    sde: SDE,
    x0: Tensor,
    y_hat: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """L_score = mean |std(t) s_theta(x_t, y_hat, t) + z|^2 with t ~ U(t_eps, T), x_t = mean + std(t) z.

    Multiplying by std(t) (SGMSE's weighting) gives every t a loss of the same order, which
    the unweighted |s + z / std|^2 would not. Averaged over elements, like `predictive_loss`,
    so the two can be mixed with the paper's omega without a size-dependent factor.
    """
    t = sde.sample_time(x0.shape[0], device=x0.device, generator=generator)
    z = complex_normal(x0, generator)
    x_t = sde.marginal(x0, y_hat, t, z)
    score = score_fn(x_t, y_hat, t)
    return complex_mse(per_item(sde.std(t), score) * score, -z)
