"""StoRM (github.com/sp-uhh/storm, `StochasticRegenerationModel`) as a cmkt model.

StoRM is cmkt's own structure (a predictive denoiser whose estimate the score model refines)
with these settings: the score network sees [x_t, y, y_hat] (`score_condition` "both"; the
"post_denoiser" condition is cmkt's default [x_t, y_hat]), both NCSN++ are uncentred unless
the checkpoint says otherwise, the denoiser has no time input and its output layer's bias
folds into the read-out, and the score is -(net / t + b) like SGMSE+'s. StoRM's
enhancement.py samples with PC, N = 50, one ALD corrector step (snr 0.5) and predictor
steps of 1/N (`step_rule` "1/N").
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from pipelines.enhancer import EnhancerConfig, SpeechEnhancer
from pipelines.inference import SamplingOptions
from pipelines.interop.hyperparameters import Unsupported, flag, front_end_and_sde, ncsnpp_shape, require
from pipelines.interop.ncsnpp_keys import convert_ncsnpp, network_state

NAME = "StoRM"
PREFIXES = ("denoiser_net.", "score_net.")
# StoRM's NCSNpp defaults and its sized variants (backbones/ncsnpp.py at 257e963)
DEFAULT_SHAPE = {"nf": 128, "ch_mult": [1, 2, 2, 2], "num_res_blocks": 1, "attn_resolutions": [0]}
BACKBONES = {"ncsnpp": {},
             "ncsnpplarge": {"nf": 128, "ch_mult": [1, 1, 2, 2, 2, 2, 2], "num_res_blocks": 2,
                             "attn_resolutions": [16]},
             "ncsnpp12M": {"nf": 96, "ch_mult": [1, 2, 2, 1], "num_res_blocks": 1, "attn_resolutions": [0]},
             "ncsnpp6M": {"nf": 96, "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [0]}}
CONDITIONS = {"both": "both", "post_denoiser": "denoised"}


def matches(state: dict[str, Tensor]) -> bool:
    return any(k.startswith(PREFIXES) for k in state)


def convert(hparams: dict[str, Any], state: dict[str, Tensor]) -> tuple[EnhancerConfig, dict[str, Tensor],
                                                                          SamplingOptions]:
    """The cmkt config, float64 weights and recommended sampler of a StoRM checkpoint's (EMA) state."""
    require(hparams, "mode", ("regen-joint-training", "regen-freeze-denoiser"))
    condition = require(hparams, "condition", tuple(CONDITIONS))
    backbone = require(hparams, "backbone_score", tuple(BACKBONES))
    denoiser = hparams.get("backbone_denoiser")
    if not isinstance(denoiser, str) or denoiser != backbone:
        raise Unsupported(f"backbone_denoiser {str(denoiser)[:60]!r} differs from backbone_score "
                          f"{backbone!r} (cmkt's two networks share one shape)")
    config = EnhancerConfig(preset="paper", **front_end_and_sde(hparams),
                            network=ncsnpp_shape(hparams, {**DEFAULT_SHAPE, **BACKBONES[backbone]}),
                            centered=flag(hparams, "centered", False), denoiser_time=False,
                            denoiser_output="direct", score_parametrisation="sgmse",
                            score_condition=CONDITIONS[condition])
    model = SpeechEnhancer(config, training_parts=False)
    denoiser, _ = convert_ncsnpp(network_state(state, "denoiser_net."), model.denoiser, fold_output_bias=True)
    score_net, bias = convert_ncsnpp(network_state(state, "score_net."), model.score_net, fold_output_bias=False)
    weights = {**{f"denoiser.{k}": v for k, v in denoiser.items()},
               **{f"score_net.{k}": v for k, v in score_net.items()}, "score_bias": bias}
    return config, weights, SamplingOptions(sampler="pc", steps=50, corrector="ald", snr=0.5, step_rule="1/N")
