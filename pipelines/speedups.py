"""Opt-in ways to run the two U-Nets faster at inference: bf16 autocast and torch.compile.

Both are off by default because neither was faster on this project's CPU (docs/performance.md:
bf16 convolutions have no hardware support there, and inductor cannot generate code for the
networks' complex input and output); they are for hardware where they pay off, and are part of
the enhance cache key because they change the output's last bits (bf16: more than that).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pipelines import choices
from pipelines.enhancer import SpeechEnhancer

PRECISIONS = tuple(choices.PRECISIONS)


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """bf16 autocast on `device` for "bf16" (convolutions, matmuls; the sampler's complex arithmetic stays
    float32, and the networks return float32); a disabled one for "fp32"."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def compile_networks(model: SpeechEnhancer, warn: Callable[[str], None]) -> None:
    """torch.compile the denoiser's and the score network's forward in place.

    Compilation happens at the first call of each shape, so a failure (no C compiler, an op the
    backend cannot handle) shows only then: both networks then warn once and run eagerly.
    """
    failed: list[Exception] = []

    def with_fallback(forward: Callable) -> Callable:
        compiled = torch.compile(forward)

        def run(*args, **kwargs):
            if not failed:
                try:
                    return compiled(*args, **kwargs)
                except Exception as err:  # any compile failure; the eager call below reraises real errors
                    failed.append(err)
                    reason = (str(err).strip().splitlines() or [""])[0][:200]
                    warn(f"torch.compile failed ({type(err).__name__}: {reason}); running the networks without it")
            return forward(*args, **kwargs)

        return run

    for network in model.networks:
        network.forward = with_fallback(network.forward)
