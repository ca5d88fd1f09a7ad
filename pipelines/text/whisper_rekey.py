"""Whisper weights in CTranslate2 format (what faster-whisper reads) re-keyed for openai-whisper.

The only Whisper weights that install offline come in CTranslate2's `model.bin`; openai-whisper wants its own
state dict. The two hold the same numbers: CTranslate2 fuses attention projections (q|k|v for self-attention,
k|v for cross-attention, with a zero key bias that openai-whisper does not have) and renames everything. The
reader parses the file's plain binary layout (header, named tensors, aliases) without running anything.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from pipelines.errors import BadInput

# CTranslate2's DataType enum, as stored per variable
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class _Cursor:
    """Sequential little-endian reads over the file's bytes."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def number(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def text(self) -> str:
        size = self.number("H")
        value = self.data[self.pos:self.pos + size].rstrip(b"\0").decode()
        self.pos += size
        return value

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ValueError("file ends inside a tensor")
        value = self.data[self.pos:self.pos + size]
        self.pos += size
        return value


def read_ctranslate2(path: Path) -> dict[str, np.ndarray]:
    """All variables of a CTranslate2 `model.bin` (format version 6, as written by ctranslate2 4.x), aliases
    resolved."""
    cursor = _Cursor(Path(path).read_bytes())
    try:
        version = cursor.number("I")
        if version < 5:
            raise BadInput(f"{path}: CTranslate2 format version {version} is not supported (5 or later)")
        cursor.text(), cursor.number("I")  # spec name and revision
        variables = {}
        for _ in range(cursor.number("I")):
            name = cursor.text()
            shape = [cursor.number("I") for _ in range(cursor.number("B"))]
            dtype = CT2_DTYPES.get(cursor.number("B"))
            data = cursor.raw(cursor.number("I"))
            if dtype is None:
                raise BadInput(f"{path}: variable {name} has a data type this reader does not know")
            variables[name] = np.frombuffer(data, dtype=dtype).reshape(shape)
        for _ in range(cursor.number("I")):
            alias, target = cursor.text(), cursor.text()
            variables[alias] = variables[target]
    except (struct.error, ValueError, UnicodeDecodeError) as err:
        raise BadInput(f"{path}: not a readable CTranslate2 model ({err})") from None
    return variables


def _linear(state: dict, prefix: str, weight: np.ndarray, bias: np.ndarray | None) -> None:
    state[f"{prefix}.weight"] = weight
    if bias is not None:
        state[f"{prefix}.bias"] = bias


def _layer_norm(state: dict, prefix: str, variables: dict, source: str) -> None:
    state[f"{prefix}.weight"] = variables[f"{source}/gamma"]
    state[f"{prefix}.bias"] = variables[f"{source}/beta"]


def _attention(state: dict, prefix: str, variables: dict, source: str, cross: bool) -> None:
    """q, k (no bias), v and out of one attention block from CTranslate2's fused projections."""
    _layer_norm(state, f"{prefix}_ln", variables, f"{source}/layer_norm")
    names = [f"{source}/linear_{k}" for k in range(3 if cross else 2)]
    projections = [(variables[f"{name}/weight"], variables[f"{name}/bias"]) for name in names]
    if cross:  # linear_0: query; linear_1: key | value; linear_2: out
        (wq, bq), (wkv, bkv), out = projections
        wk, wv = np.split(wkv, 2)
        _, bv = np.split(bkv, 2)
    else:  # linear_0: query | key | value; linear_1: out
        (wqkv, bqkv), out = projections
        wq, wk, wv = np.split(wqkv, 3)
        bq, _, bv = np.split(bqkv, 3)
    _linear(state, f"{prefix}.query", wq, bq)
    _linear(state, f"{prefix}.key", wk, None)
    _linear(state, f"{prefix}.value", wv, bv)
    _linear(state, f"{prefix}.out", *out)


def _block(state: dict, prefix: str, variables: dict, source: str, cross: bool) -> None:
    _attention(state, f"{prefix}.attn", variables, f"{source}/self_attention", cross=False)
    if cross:
        _attention(state, f"{prefix}.cross_attn", variables, f"{source}/attention", cross=True)
    _layer_norm(state, f"{prefix}.mlp_ln", variables, f"{source}/ffn/layer_norm")
    for k, index in ((0, 0), (1, 2)):  # openai-whisper's mlp: Linear, GELU, Linear
        _linear(state, f"{prefix}.mlp.{index}", variables[f"{source}/ffn/linear_{k}/weight"],
                variables[f"{source}/ffn/linear_{k}/bias"])


def _count_layers(variables: dict, side: str) -> int:
    return len({found[1] for name in variables if (found := re.match(rf"{side}/layer_(\d+)/", name))})


def openai_whisper_checkpoint(folder: Path) -> dict:
    """{'dims': ..., 'model_state_dict': ...} as openai-whisper's `load_model` reads them, from a CTranslate2
    Whisper folder (`model.bin`)."""
    variables = read_ctranslate2(Path(folder) / "model.bin")
    try:
        state: dict[str, np.ndarray] = {}
        for k in (1, 2):
            _linear(state, f"encoder.conv{k}", variables[f"encoder/conv{k}/weight"], variables[f"encoder/conv{k}/bias"])
        state["encoder.positional_embedding"] = variables["encoder/position_encodings/encodings"]
        for side, cross in (("encoder", False), ("decoder", True)):
            for layer in range(_count_layers(variables, side)):
                _block(state, f"{side}.blocks.{layer}", variables, f"{side}/layer_{layer}", cross)
        _layer_norm(state, "encoder.ln_post", variables, "encoder/layer_norm")
        _layer_norm(state, "decoder.ln", variables, "decoder/layer_norm")
        state["decoder.token_embedding.weight"] = variables["decoder/embeddings/weight"]
        state["decoder.positional_embedding"] = variables["decoder/position_encodings/encodings"]
        dims = {
            "n_mels": int(variables["encoder/conv1/weight"].shape[1]),
            "n_audio_ctx": int(state["encoder.positional_embedding"].shape[0]),
            "n_audio_state": int(state["encoder.positional_embedding"].shape[1]),
            "n_audio_head": int(variables["encoder/num_heads"]),
            "n_audio_layer": _count_layers(variables, "encoder"),
            "n_vocab": int(state["decoder.token_embedding.weight"].shape[0]),
            "n_text_ctx": int(state["decoder.positional_embedding"].shape[0]),
            "n_text_state": int(state["decoder.positional_embedding"].shape[1]),
            "n_text_head": int(variables["decoder/num_heads"]),
            "n_text_layer": _count_layers(variables, "decoder"),
        }
    except KeyError as err:
        raise BadInput(f"{folder}: not a CTranslate2 Whisper model (no variable {err})") from None
    return {"dims": dims, "model_state_dict": {key: np.array(value, dtype=np.float32) for key, value in state.items()}}
