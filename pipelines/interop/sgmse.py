"""SGMSE+ (github.com/sp-uhh/sgmse, `ScoreModel` with backbone "ncsnpp") as a cmkt model.

SGMSE+ has no denoiser: the score network sees [x_t, y] and the SDE drifts towards y, which
is cmkt with `denoiser_output` "none" (y_hat = y). Its score is -(net(x_t, y, t) / t + b)
(`score_parametrisation` "sgmse"). The sampler upstream recommends (enhancement.py): PC, N
from the checkpoint (30), one annealed-Langevin corrector step with snr 0.5, and since
mid-2024 a last predictor step of t_eps that ends at 0 (`step_rule` "t_eps").
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from pipelines.enhancer import EnhancerConfig, SpeechEnhancer
from pipelines.inference import SamplingOptions
from pipelines.interop.hyperparameters import (MAX_STEPS, Unsupported, flag, front_end_and_sde, integer, ncsnpp_shape,
                                               require)
from pipelines.interop.ncsnpp_keys import convert_ncsnpp, network_state

NAME = "SGMSE+"
PREFIX = "dnn."
# SGMSE's NCSNpp defaults (ae690e8), the "paper" preset
DEFAULT_SHAPE = {"nf": 128, "ch_mult": [1, 1, 2, 2, 2, 2, 2], "num_res_blocks": 2, "attn_resolutions": [16]}


def matches(state: dict[str, Tensor]) -> bool:
    return any(k.startswith(PREFIX) for k in state)


def convert(hparams: dict[str, Any], state: dict[str, Tensor]) -> tuple[EnhancerConfig, dict[str, Tensor],
                                                                          SamplingOptions]:
    """The cmkt config, float64 weights and recommended sampler of an SGMSE+ checkpoint's (EMA) state."""
    require(hparams, "backbone", ("ncsnpp",))
    if "centered" not in hparams:
        raise Unsupported("no 'centered' hyper-parameter: cannot tell whether the network's inputs were centred")
    steps = integer(hparams, "N", 1, MAX_STEPS, 30)
    config = EnhancerConfig(preset="paper", **front_end_and_sde(hparams),
                            network=ncsnpp_shape(hparams, DEFAULT_SHAPE), centered=flag(hparams, "centered"),
                            denoiser_output="none", score_parametrisation="sgmse", score_condition="denoised")
    model = SpeechEnhancer(config, training_parts=False)
    net_state, bias = convert_ncsnpp(network_state(state, PREFIX), model.score_net, fold_output_bias=False)
    weights = {f"score_net.{k}": v for k, v in net_state.items()}
    weights["score_bias"] = bias
    sampling = SamplingOptions(sampler="pc", steps=steps, corrector="ald", snr=0.5, step_rule="t_eps")
    return config, weights, sampling
