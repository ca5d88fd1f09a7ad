"""Training losses of the predictive denoiser and the score model (both on complex spectrograms).

The denoiser's loss is chosen by name (`EnhancerConfig.denoiser_loss`, pipelines/choices.py
DENOISER_LOSSES); each backbone names the one it was designed with.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pipelines.diffusion.sde import SDE, complex_normal, per_item
from pipelines.spectral import SpecTransform, crop_frames

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


HYBRID_EXPONENT = 0.3  # GTCRN's loss compresses magnitudes to the power 0.3 ...
HYBRID_WEIGHTS = (30.0, 70.0, 0.1)  # ... and weighs complex MSE, magnitude MSE and -SI-SDR (dB; /10: its -log10)


def compressed(spec: Tensor, exponent: float) -> Tensor:
    """|c|^exponent e^{i angle c}, with a gradient that stays finite at c = 0."""
    magnitude = (torch.view_as_real(spec).square().sum(-1) + 1e-12).sqrt()
    return spec * magnitude.pow(exponent - 1.0)


def negative_si_sdr(estimate: Tensor, reference: Tensor) -> Tensor:
    """-SI-SDR in dB, mean over the batch of (B, N) waveforms (eps keeps silent crops finite)."""
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference.square().sum(-1, keepdim=True) + 1e-8)
    target = scale * reference
    ratio = target.square().sum(-1) / ((estimate - target).square().sum(-1) + 1e-8)
    return -(10.0 * torch.log10(ratio + 1e-8)).mean()


def hybrid_loss(y_hat: Tensor, x0: Tensor, spec: SpecTransform, frames: int, clean: Tensor) -> Tensor:
    """GTCRN's training loss on the plain STFT: 30 complex MSE + 70 magnitude MSE of 0.3-compressed spectra, plus
    -SI-SDR / 10 of the waveform. The compression weighs quiet bins, where speech detail is, nearly as much as loud
    ones; the SI-SDR term ties the phase to the waveform."""
    estimate, reference = (spec.decompress(crop_frames(s, frames)) for s in (y_hat, x0))
    complex_weight, magnitude_weight, waveform_weight = HYBRID_WEIGHTS
    estimate_c, reference_c = compressed(estimate, HYBRID_EXPONENT), compressed(reference, HYBRID_EXPONENT)
    return (complex_weight * complex_mse(estimate_c, reference_c)
            + magnitude_weight * magnitude_mse(estimate_c, reference_c)
            + waveform_weight * negative_si_sdr(spec.istft(estimate.squeeze(1), clean.shape[-1]), clean))


def denoiser_loss(kind: str, y_hat: Tensor, x0: Tensor, spec: SpecTransform, frames: int, clean: Tensor,
                  magnitude_weight: float = 0.0) -> Tensor:
    """L_denoiser of the named kind: "spec_mse" (`predictive_loss` on the model's spectrogram) or "hybrid"."""
    if kind == "hybrid":
        return hybrid_loss(y_hat, x0, spec, frames, clean)
    return predictive_loss(y_hat, x0, magnitude_weight)


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
