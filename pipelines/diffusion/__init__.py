"""Score-based diffusion: the OUVE SDE, its samplers and training losses, with name registries."""

from pipelines.diffusion.losses import complex_mse, denoising_score_matching_loss, predictive_loss
from pipelines.diffusion.sampling import (
    CORRECTORS,
    SAMPLERS,
    STEP_RULES,
    PredictiveSampler,
    PredictorCorrectorSampler,
    ProbabilityFlowSampler,
    Sampler,
    build_sampler,
    register_sampler,
)
from pipelines.diffusion.sde import OUVESDE, SDE, SDES, build_sde, complex_normal, register_sde

__all__ = [
    "CORRECTORS",
    "OUVESDE",
    "SAMPLERS",
    "SDE",
    "SDES",
    "STEP_RULES",
    "PredictiveSampler",
    "PredictorCorrectorSampler",
    "ProbabilityFlowSampler",
    "Sampler",
    "build_sampler",
    "build_sde",
    "complex_mse",
    "complex_normal",
    "denoising_score_matching_loss",
    "predictive_loss",
    "register_sampler",
    "register_sde",
]
