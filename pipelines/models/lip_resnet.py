"""Lip encoder (SPEC §7, eq. 1): a 3-D convolutional front end and a per-frame ResNet-18 trunk, 512-d per frame.

Input (B, 1, T, H, W) grayscale mouth crops (88 x 88 in the LRW recipe), normalised;
output (B, T, 512). Only the front end's first convolution looks across time (5 frames),
so `embed_frames` can run a long clip in chunks with 2 frames of context on each side
and get exactly the whole-clip result.

The layout matches the front end of the "Lipreading using Temporal Convolutional
Networks" models (Martinez et al. 2020; Ma et al. 2022), so their public LRW checkpoints
load through `load_lrw_encoder`: with PReLU activations (SPEC §7, the 2020 models) or
Swish (SiLU, `relu_type = swish`, the 2022 models). Module names here are our own;
`lrw_key` maps them to that project's names.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from pipelines.errors import BadInput

EMBEDDING_DIM = 512
ENCODER_CROP = 88  # the LRW models' input: the centre of the 96 x 96 mouth crop
TEMPORAL_CONTEXT = 2  # frames each side seen by the front end's (5, 7, 7) convolution
LRW_IGNORED_PREFIXES = ("tcn.", "tcn_output.")  # the word-classification back end


ACTIVATIONS = ("prelu", "swish")


def _activation(kind: str, channels: int) -> nn.Module:
    return nn.PReLU(channels) if kind == "prelu" else nn.SiLU()


class BasicBlock(nn.Module):
    """ResNet basic block; per-channel PReLU or Swish activations, as in the LRW models."""

    def __init__(self, inputs: int, width: int, stride: int = 1, activation: str = "prelu"):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, width, 3, stride, 1, bias=False)
        self.norm1 = nn.BatchNorm2d(width)
        self.act1 = _activation(activation, width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.act2 = _activation(activation, width)
        self.shortcut = None
        if stride != 1 or inputs != width:
            self.shortcut = nn.Sequential()
            self.shortcut.add_module("conv", nn.Conv2d(inputs, width, 1, stride, bias=False))
            self.shortcut.add_module("norm", nn.BatchNorm2d(width))

    def forward(self, x: Tensor) -> Tensor:
        out = self.act1(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.act2(out + (x if self.shortcut is None else self.shortcut(x)))


class LipResNet(nn.Module):
    """Conv3d -> BN3d -> PReLU -> MaxPool3d front end, ResNet-18 trunk per frame, global average pool."""

    def __init__(self, activation: str = "prelu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r}: one of {ACTIVATIONS}")
        self.activation = activation
        self.front = nn.Sequential()
        self.front.add_module("conv", nn.Conv3d(1, 64, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False))
        self.front.add_module("norm", nn.BatchNorm3d(64))
        self.front.add_module("act", _activation(activation, 64))
        self.front.add_module("pool", nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        stages, inputs = [], 64
        for index, width in enumerate((64, 128, 256, 512)):
            stride = 1 if index == 0 else 2
            stages.append(nn.Sequential(BasicBlock(inputs, width, stride, activation),
                                        BasicBlock(width, width, activation=activation)))
            inputs = width
        self.trunk = nn.Sequential(*stages)
        self._initialise()

    def _initialise(self) -> None:
        """He-normal convolutions (fan-out), unit BatchNorm: the LRW models' own initialisation."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, clips: Tensor) -> Tensor:
        batch, _, frames = clips.shape[:3]
        x = self.front(clips)  # (B, 64, T, h, w)
        x = x.transpose(1, 2).flatten(0, 1)  # every frame through the 2-D trunk on its own
        x = self.trunk(x).mean(dim=(2, 3))
        return x.view(batch, frames, EMBEDDING_DIM)


def normalise_crops(crops: Tensor, mean: float, std: float) -> Tensor:
    """(..., 96, 96) mouth crops in pixel values 0-255 -> their centre 88 x 88, as float (pixel / 255 - mean) / std."""
    margin = (crops.shape[-1] - ENCODER_CROP) // 2
    centre = crops[..., margin:margin + ENCODER_CROP, margin:margin + ENCODER_CROP]
    return (centre.float() / 255 - mean) / std


def initial_encoder(weights: Path | None) -> LipResNet:
    """The encoder `featurize --lips` embeds with: LRW weights, or without them the untrained one, seeded (0) so
    reruns and `train --lip-encoder finetune` start from the very weights that made the cached embeddings."""
    if weights is not None:
        return load_lrw_encoder(Path(weights))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return LipResNet()


@torch.inference_mode()
def embed_frames(model: LipResNet, frames: np.ndarray, chunk: int = 64) -> np.ndarray:
    """(T, H, W) normalised float frames of one clip -> (T, 512) float32, `chunk` output frames per batch."""
    model.eval()
    clip = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))
    total = len(clip)
    pieces = []
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        first, last = max(0, start - TEMPORAL_CONTEXT), min(total, stop + TEMPORAL_CONTEXT)
        out = model(clip[first:last][None, None])[0]
        pieces.append(out[start - first:stop - first])
    return torch.cat(pieces).numpy() if pieces else np.zeros((0, EMBEDDING_DIM), np.float32)


_OUR_TO_LRW = [  # (pattern on our key, replacement giving the LRW checkpoint's key)
    (r"^front\.conv\.", "frontend3D.0."),
    (r"^front\.norm\.", "frontend3D.1."),
    (r"^front\.act\.", "frontend3D.2."),
    (r"^trunk\.(\d)\.(\d)\.shortcut\.conv\.", lambda m: f"trunk.layer{int(m[1]) + 1}.{m[2]}.downsample.0."),
    (r"^trunk\.(\d)\.(\d)\.shortcut\.norm\.", lambda m: f"trunk.layer{int(m[1]) + 1}.{m[2]}.downsample.1."),
    (r"^trunk\.(\d)\.(\d)\.norm(\d)\.", lambda m: f"trunk.layer{int(m[1]) + 1}.{m[2]}.bn{m[3]}."),
    (r"^trunk\.(\d)\.(\d)\.act(\d)\.", lambda m: f"trunk.layer{int(m[1]) + 1}.{m[2]}.relu{m[3]}."),
    (r"^trunk\.(\d)\.(\d)\.conv(\d)\.", lambda m: f"trunk.layer{int(m[1]) + 1}.{m[2]}.conv{m[3]}."),
]


def lrw_key(key: str) -> str:
    """Our state-dict key -> the name the LRW checkpoints use (e.g. front.norm.weight -> frontend3D.1.weight)."""
    for pattern, replacement in _OUR_TO_LRW:
        renamed, hits = re.subn(pattern, replacement, key)
        if hits:
            return renamed
    raise KeyError(f"no LRW name for {key}")


def load_lrw_encoder(path: Path) -> LipResNet:
    """An encoder with the weights of an LRW checkpoint, its activation told by the keys (PReLU has weights)."""
    state = _read_state(path)
    model = LipResNet("prelu" if lrw_key("front.act.weight") in state else "swish")
    _load_state(model, state, path)
    return model


def load_lrw_weights(model: LipResNet, path: Path) -> None:
    """Load the front-end and trunk weights of an LRW checkpoint (`model_state_dict` or a bare state dict).

    The back end (`tcn.*`, `tcn_output.*`) is ignored; any other missing, unexpected or
    differently shaped key is a `BadInput` naming the first few in the checkpoint's terms.
    """
    _load_state(model, _read_state(path), path)


def _read_state(path: Path) -> dict:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" in str(err):
            raise BadInput(f"{path}: holds objects other than tensors and plain values, not loaded for safety; "
                           "re-save only its model_state_dict") from None
        raise BadInput(f"{path}: not readable as a PyTorch checkpoint") from None
    except (OSError, RuntimeError, ValueError, EOFError) as err:
        raise BadInput(f"{path}: not readable as a PyTorch checkpoint ({err})") from None
    state = checkpoint.get("model_state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise BadInput(f"{path}: expected a state dict (or a dict with 'model_state_dict')")
    return state


def _load_state(model: LipResNet, state: dict, path: Path) -> None:
    ours = model.state_dict()
    wanted = {lrw_key(key): key for key in ours}
    given = {key for key in state if not key.startswith(LRW_IGNORED_PREFIXES)}
    optional = {key for key in wanted if key.endswith("num_batches_tracked")}  # absent from old checkpoints
    problems = []
    for label, keys in (("missing", sorted(set(wanted) - given - optional)), ("unexpected", sorted(given - set(wanted)))):
        if keys:
            problems.append(f"{label} keys {_first(keys)}")
    wrong_shape = sorted(k for k in set(wanted) & given if tuple(state[k].shape) != tuple(ours[wanted[k]].shape))
    if wrong_shape:
        problems.append(f"wrong shapes for {_first(wrong_shape)}")
    if problems:
        raise BadInput(f"{path}: not the LRW ResNet-18 lip front end ({model.activation}): {'; '.join(problems)}")
    model.load_state_dict({ours_key: state[theirs] for theirs, ours_key in wanted.items() if theirs in given},
                          strict=not optional - given)


def _first(keys: list[str], shown: int = 4) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more
