"""Upstream NCSN++ weights (SGMSE+, StoRM: score_sde's `all_modules` list) onto cmkt's `NCSNpp`.

Both build the same network; upstream numbers its modules in construction order, cmkt names
them. `upstream_order` walks cmkt's U-Net in upstream's order, so the i-th entry names what
`all_modules.{i}` is. Three things differ beyond names:

- attention: upstream keeps q, k, v and the output as separate NIN layers (y = x W + b, W
  stored input-major); cmkt fuses q, k, v into one Linear (W transposed, stacked).
- read-out: upstream's output-pyramid convolutions have as many channels as the input and a
  final 1x1 `output_layer` maps them to 2. The pyramid is linear (FIR upsampling and sums), so
  the 1x1 weight folds exactly into every read-out. Its bias folds into the last read-out
  only where nothing follows it; after scale_by_sigma's division by t it cannot, and is
  returned for the model's `score_bias` (score parametrisation "sgmse").
- the Fourier frequencies are a frozen parameter upstream, a buffer here; a network without
  time input (StoRM's denoiser) still carries them and its blocks' unused Dense_0: dropped.

Values come out in float64: the folded read-outs are then exact; the rest were float32 values.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from pipelines.models.ncsnpp import NCSNpp

RESBLOCK = {"GroupNorm_0": "norm_in", "Conv_0": "conv_in", "Dense_0": "time_proj", "GroupNorm_1": "norm_out",
            "Conv_1": "conv_out", "Conv_2": "skip"}


def upstream_order(net: NCSNpp) -> Iterator[tuple[str, str]]:
    """(kind, cmkt prefix) of each upstream `all_modules` entry, in upstream's order."""
    yield "fourier", "time_embedding"
    if net.config.time_conditional:
        yield "plain", "time_mlp.0"
        yield "plain", "time_mlp.2"
    yield "plain", "conv_in"
    for i, level in enumerate(net.down_levels):
        for b in range(len(level.blocks)):
            yield "resblock", f"down_levels.{i}.blocks.{b}"
            if level.attentions:
                yield "attention", f"down_levels.{i}.attentions.{b}"
        if level.downsample is not None:
            yield "resblock", f"down_levels.{i}.downsample"
            yield "combine", f"down_levels.{i}.input_skip"
    yield "resblock", "middle_in"
    yield "attention", "middle_attention"
    yield "resblock", "middle_out"
    for k, level in enumerate(net.up_levels):
        for b in range(len(level.blocks)):
            yield "resblock", f"up_levels.{k}.blocks.{b}"
        if level.attention is not None:
            yield "attention", f"up_levels.{k}.attention"
        yield "plain", f"up_levels.{k}.output_norm"
        yield "readout", f"up_levels.{k}.output_conv"
        if level.upsample is not None:
            yield "resblock", f"up_levels.{k}.upsample"


def network_state(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """One network's entries of a Lightning state dict (e.g. prefix "dnn."), without the prefix."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def convert_ncsnpp(upstream: dict[str, Tensor], net: NCSNpp, fold_output_bias: bool) -> tuple[dict[str, Tensor],
                                                                                               Tensor | None]:
    """cmkt state dict of `net` from one upstream network's state (keys without the network's prefix).

    Returns the state and, unless `fold_output_bias`, the output layer's 2-value bias. Raises
    ValueError naming what does not fit (a key missing, left over or of the wrong shape).
    """
    source = {k: v.detach().double() for k, v in upstream.items()}
    taken: set[str] = set()

    def take(key: str) -> Tensor:
        if key not in source:
            raise ValueError(f"the checkpoint has no {key} (its network is not the one its hyper-parameters describe)")
        taken.add(key)
        return source[key]

    out_weight = take("output_layer.weight")[:, :, 0, 0]  # (2, read-out channels)
    out_bias = take("output_layer.bias")
    readouts = [prefix for kind, prefix in upstream_order(net) if kind == "readout"]
    state: dict[str, Tensor] = {}
    for index, (kind, prefix) in enumerate(upstream_order(net)):
        here = f"all_modules.{index}"
        if kind == "fourier":
            frequencies = take(f"{here}.W")
            if net.config.time_conditional:
                state[f"{prefix}.frequencies"] = frequencies
        elif kind in ("plain", "combine"):
            inner = f"{here}.Conv_0" if kind == "combine" else here
            state[f"{prefix}.weight"], state[f"{prefix}.bias"] = take(f"{inner}.weight"), take(f"{inner}.bias")
        elif kind == "resblock":
            for theirs, ours in RESBLOCK.items():
                if f"{here}.{theirs}.weight" not in source and theirs == "Conv_2":
                    continue  # no projection: same shape in and out
                weight, bias = take(f"{here}.{theirs}.weight"), take(f"{here}.{theirs}.bias")
                if ours != "time_proj" or net.config.time_conditional:
                    state[f"{prefix}.{ours}.weight"], state[f"{prefix}.{ours}.bias"] = weight, bias
        elif kind == "attention":
            state[f"{prefix}.norm.weight"] = take(f"{here}.GroupNorm_0.weight")
            state[f"{prefix}.norm.bias"] = take(f"{here}.GroupNorm_0.bias")
            state[f"{prefix}.qkv.weight"] = torch.cat([take(f"{here}.NIN_{j}.W").T for j in range(3)])
            state[f"{prefix}.qkv.bias"] = torch.cat([take(f"{here}.NIN_{j}.b") for j in range(3)])
            state[f"{prefix}.out.weight"], state[f"{prefix}.out.bias"] = take(f"{here}.NIN_3.W").T, take(
                f"{here}.NIN_3.b")
        else:  # readout: the 1x1 output layer folded in
            weight, bias = take(f"{here}.weight"), take(f"{here}.bias")
            state[f"{prefix}.weight"] = torch.einsum("oc,cikl->oikl", out_weight, weight)
            state[f"{prefix}.bias"] = out_weight @ bias
            if fold_output_bias and prefix == readouts[-1]:
                state[f"{prefix}.bias"] = state[f"{prefix}.bias"] + out_bias
    _check_fit(state, net, sorted(set(source) - taken))
    return state, None if fold_output_bias else out_bias


def _check_fit(state: dict[str, Tensor], net: NCSNpp, left_over: list[str]) -> None:
    expected = net.state_dict()
    problems = [f"{len(left_over)} left over ({', '.join(left_over[:2])})"] if left_over else []
    missing = [k for k in expected if k not in state]
    if missing:
        problems.append(f"{len(missing)} missing ({', '.join(missing[:2])})")
    shapes = [f"{k} {tuple(v.shape)} not {tuple(expected[k].shape)}" for k, v in state.items()
              if k in expected and v.shape != expected[k].shape]
    if shapes:
        problems.append(f"{len(shapes)} of the wrong shape ({', '.join(shapes[:2])})")
    if problems:
        raise ValueError(f"its weights do not fit the network its hyper-parameters describe: {'; '.join(problems)}")
