"""GTCRN's published checkpoints (github.com/Xiaobin-Rong/gtcrn) as cmkt models of the `gtcrn` preset.

A GTCRN checkpoint (`model_trained_on_dns3.tar`, `..._vctk.tar`) is a plain `torch.save` of
{"model": state dict, "optimizer", "epoch"}: tensors and numbers only, so it loads with
`weights_only=True`. cmkt's conv-recurrent backbone has GTCRN's layout, so importing is a
renaming of keys (`KEY_RENAMES`, docs/interop.md) and nothing is recomputed: the fixed ERB
filters come from the file, BatchNorm statistics included. Upstream feeds the waveform at
its own level through a 512/256 square-root-Hann STFT, which is the backbone's front end.

The weights are MIT-licensed: the notice (`LICENCE`) goes into the model card of the
import and of every model trained from it (`train --init-from`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from torch import Tensor

from pipelines.artifacts.checksums import file_checksum
from pipelines.enhancer import EnhancerConfig, SpeechEnhancer
from pipelines.errors import BadInput
from pipelines.inference import SamplingOptions

NAME = "GTCRN"
PRESET = "gtcrn"
SIGNATURE = ("erb.erb_fc.weight", "dpgrnn1.intra_rnn.rnn1.weight_ih_l0")  # keys only GTCRN's state dict has

# upstream name pattern -> cmkt's (applied in order to each key; the network is cmkt's `denoiser`)
KEY_RENAMES = [
    (r"^erb\.erb_fc\.weight$", "erb.analysis"),
    (r"^erb\.ierb_fc\.weight$", "erb.synthesis"),
    (r"^encoder\.en_convs\.", "encoder."),
    (r"^decoder\.de_convs\.", "decoder."),
    (r"\.bn\.", ".norm."),
    (r"\.point_conv1\.", ".point1."), (r"\.point_bn1\.", ".norm1."), (r"\.point_act\.", ".act1."),
    (r"\.depth_conv\.", ".depth."), (r"\.depth_bn\.", ".norm2."), (r"\.depth_act\.", ".act2."),
    (r"\.point_conv2\.", ".point2."), (r"\.point_bn2\.", ".norm3."),
    (r"\.tra\.att_gru\.", ".attention.gru."), (r"\.tra\.att_fc\.", ".attention.fc."),
    (r"^dpgrnn(\d+)\.", lambda m: f"dual_path.{int(m.group(1)) - 1}."),
    (r"\.intra_rnn\.rnn(\d)\.", lambda m: f".across.halves.{int(m.group(1)) - 1}."),
    (r"\.inter_rnn\.rnn(\d)\.", lambda m: f".along.halves.{int(m.group(1)) - 1}."),
    (r"\.intra_fc\.", ".across_fc."), (r"\.intra_ln\.", ".across_norm."),
    (r"\.inter_fc\.", ".along_fc."), (r"\.inter_ln\.", ".along_norm."),
]

LICENCE = """GTCRN weights: MIT License, Copyright (c) 2024 Rong Xiaobin

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE."""


def matches(payload: Any) -> bool:
    return (isinstance(payload, dict) and isinstance(payload.get("model"), dict)
            and all(key in payload["model"] for key in SIGNATURE))


def cmkt_key(upstream: str) -> str:
    key = upstream
    for pattern, replacement in KEY_RENAMES:
        key = re.sub(pattern, replacement, key)
    return f"denoiser.{key}"


def convert(payload: dict[str, Any], path: Path) -> dict[str, Any]:
    """{"config", "weights" (float64, as the other importers give), "card"} of a GTCRN checkpoint."""
    state = payload["model"]
    if not all(isinstance(v, Tensor) for v in state.values()):
        raise BadInput(f"{path}: a GTCRN checkpoint whose 'model' holds something other than tensors")
    weights = {cmkt_key(k): v.double() if v.is_floating_point() else v for k, v in state.items()}
    config = EnhancerConfig(preset=PRESET, **_shape(weights, path))
    expected = SpeechEnhancer(config, training_parts=False).state_dict()
    misfits = ([f"{k} missing" for k in expected if k not in weights]
               + [f"{k} unexpected" for k in weights if k not in expected]
               + [f"{k} {tuple(v.shape)} not {tuple(expected[k].shape)}" for k, v in weights.items()
                  if k in expected and v.shape != expected[k].shape])
    if misfits:
        raise BadInput(f"{path}: a GTCRN checkpoint of another layout than the published one ({len(misfits)} "
                       f"weights do not fit: {', '.join(misfits[:2])})")
    epoch = payload.get("epoch")
    card = {"imported_from": {"project": NAME, "file": Path(path).name, "sha256": file_checksum(path),
                              "epoch": epoch if isinstance(epoch, int) else None, "weights": "as published"},
            "licence": LICENCE, "sampling": SamplingOptions("predictive", 1).to_dict()}
    return {"config": config.to_dict(), "weights": weights, "card": card}


def _shape(weights: dict[str, Tensor], path: Path) -> dict[str, Any]:
    """The preset's overrides a checkpoint's shapes call for (none for the published ones)."""
    try:
        channels = int(weights["denoiser.encoder.0.conv.weight"].shape[0])
        blocks = len({k.split(".")[2] for k in weights if k.startswith("denoiser.dual_path.")})
    except (KeyError, IndexError) as err:
        raise BadInput(f"{path}: a GTCRN checkpoint without its first convolution ({err})") from None
    return {"network": {"channels": channels, "dual_path_blocks": blocks}} if (channels, blocks) != (16, 2) else {}

