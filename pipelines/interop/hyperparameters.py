"""What SGMSE+ and StoRM checkpoints share: the front end, the OUVE SDE and NCSN++'s fixed arguments.

Every value cmkt represents is mapped into `EnhancerConfig`; a value it cannot represent
(another transform, window, SDE, sample rate, block type) raises `Unsupported` naming it,
so nothing is imported that would enhance differently from upstream. A checkpoint is a user's
file: every hyper-parameter read is checked like a command-line option (its type, and a range
that keeps the network and the sampler buildable: `integer`, `real`, `flag`, `integers`), and
the error names the key, so a string, a negative or a huge value is one line at import.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

# NCSN++ constructor arguments whose upstream defaults are the only values cmkt's U-Net implements
FIXED_NCSNPP = {"resblock_type": "biggan", "progressive": "output_skip", "progressive_input": "input_skip",
                "progressive_combine": "sum", "embedding_type": "fourier", "fir": True, "fir_kernel": [1, 3, 3, 1],
                "skip_rescale": True, "nonlinearity": "swish", "spatial_channels": 1, "image_size": 256}
UPSTREAM_PAD = 64  # both projects' pad_spec pads the frames to a multiple of 64 whatever the network
MAX_CHANNELS = 512  # the widest NCSN++ level an import may build (2 x the published paper network's)
MAX_STEPS = 1000  # the most reverse-diffusion steps an imported card may ask for (upstream uses 30 and 50)


class Unsupported(ValueError):
    """The checkpoint uses something cmkt cannot represent; the message names it."""


def require(hparams: dict[str, Any], key: str, allowed: tuple, default: Any = None) -> Any:
    value = hparams.get(key, default)
    if not _same(value, allowed):
        raise Unsupported(f"{key} {_shown(value)} (cmkt supports {', '.join(map(repr, allowed))})")
    return value


def integer(hparams: dict[str, Any], key: str, low: int, high: int, default: Any = None) -> int:
    value = hparams.get(key, default)
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= value <= high:
        raise Unsupported(f"hyper-parameter {key} must be an integer from {low} to {high}, got {_shown(value)}")
    return int(value)


def real(hparams: dict[str, Any], key: str, low: float, high: float, default: Any = None,
         above_low: bool = False, below_high: bool = False) -> float:
    """A finite number in [low, high]; `above_low`/`below_high`: the bound itself excluded."""
    value = hparams.get(key, default)
    try:
        fits = (not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
                and (low < value if above_low else low <= value) and (value < high if below_high else value <= high))
    except OverflowError:  # an integer too large for a float
        fits = False
    if not fits:
        interval = f"{'(' if above_low else '['}{low:g}, {high:g}{')' if below_high else ']'}"
        raise Unsupported(f"hyper-parameter {key} must be a number in {interval}, got {_shown(value)}")
    return float(value)


def flag(hparams: dict[str, Any], key: str, default: Any = None) -> bool:
    value = hparams.get(key, default)
    if not isinstance(value, bool):
        raise Unsupported(f"hyper-parameter {key} must be true or false, got {_shown(value)}")
    return value


def integers(hparams: dict[str, Any], key: str, low: int, high: int, longest: int) -> list[int]:
    value = hparams.get(key)
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= longest:
        raise Unsupported(f"hyper-parameter {key} must be a list of 1 to {longest} integers, got {_shown(value)}")
    return [integer({key: v}, key, low, high) for v in value]


def front_end_and_sde(hparams: dict[str, Any]) -> dict[str, Any]:
    """EnhancerConfig values of the STFT, its compression and the OUVE SDE."""
    require(hparams, "sr", (16000,), 16000)
    require(hparams, "window", ("hann",), "hann")
    require(hparams, "transform_type", ("exponent",), "exponent")
    require(hparams, "sde", ("ouve",))
    missing = [k for k in ("n_fft", "hop_length", "spec_factor", "spec_abs_exponent", "theta", "sigma_min",
                           "sigma_max") if k not in hparams]
    if missing:
        raise Unsupported(f"hyper-parameters without {', '.join(missing)}")
    n_fft = integer(hparams, "n_fft", 2, 8192)
    if n_fft // 2 + 1 != 256:
        raise Unsupported(f"n_fft {n_fft} (cmkt's front end and the U-Net's nominal size need 510)")
    sigma_min = real(hparams, "sigma_min", 0, 100, above_low=True)
    return {"n_fft": n_fft, "hop_length": integer(hparams, "hop_length", 1, n_fft),
            "spec_exponent": real(hparams, "spec_abs_exponent", 0, 2, above_low=True),
            "spec_factor": real(hparams, "spec_factor", 0, 100, above_low=True), "sde": "ouve",
            "sigma_min": sigma_min, "sigma_max": real(hparams, "sigma_max", sigma_min, 100, above_low=True),
            "eta": real(hparams, "theta", 0, 100), "t_eps": real(hparams, "t_eps", 0, 1, 0.03, True, True),
            "pad_multiple": UPSTREAM_PAD}


def ncsnpp_shape(hparams: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """cmkt NCSN++ overrides: the upstream defaults, then what the checkpoint's hyper-parameters set (bounded: the
    largest published network has nf 128 and 256 channels)."""
    for key, value in FIXED_NCSNPP.items():
        if not _same(hparams.get(key, value), (value,)):
            raise Unsupported(f"NCSN++ {key} {_shown(hparams[key])} (cmkt implements {value!r})")
    given = {**defaults, **hparams}
    nf, ch_mult = integer(given, "nf", 1, 256), integers(given, "ch_mult", 1, 8, 10)
    if nf * max(ch_mult) > MAX_CHANNELS:
        raise Unsupported(f"NCSN++ nf {nf} x ch_mult {max(ch_mult)} = {nf * max(ch_mult)} channels (cmkt builds at "
                          f"most {MAX_CHANNELS})")
    return {"nf": nf, "ch_mult": ch_mult, "num_res_blocks": integer(given, "num_res_blocks", 1, 8),
            "attn_resolutions": integers(given, "attn_resolutions", 0, 4096, 10),
            **({"fourier_scale": real(given, "fourier_scale", 0, 1000, above_low=True)} if "fourier_scale" in given
               else {}),
            **({"dropout": real(given, "dropout", 0, 1, below_high=True)} if "dropout" in given else {})}


def _same(value: Any, allowed: tuple) -> bool:
    """`value` is one of `allowed`, compared as plain values of the same type (never a tensor's elementwise ==)."""
    plain = list(value) if isinstance(value, tuple) else value
    try:
        return any(type(plain) is type(a) and bool(plain == a) for a in allowed)
    except (RuntimeError, TypeError, ValueError):  # e.g. a list holding tensors
        return False


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer of more digits than Python prints
        text = "an integer too long to print"
    return text if len(text) <= 60 else f"{text[:57]}..."
