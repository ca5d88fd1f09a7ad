"""What SGMSE+ and StoRM checkpoints share: the front end, the OUVE SDE and NCSN++'s fixed arguments.

Every value cmkt represents is mapped into `EnhancerConfig`; a value it cannot represent
(another transform, window, SDE, sample rate, block type) raises `Unsupported` naming it,
so nothing is imported that would enhance differently from upstream.
"""

from __future__ import annotations

from typing import Any

# NCSN++ constructor arguments whose upstream defaults are the only values cmkt's U-Net implements
FIXED_NCSNPP = {"resblock_type": "biggan", "progressive": "output_skip", "progressive_input": "input_skip",
                "progressive_combine": "sum", "embedding_type": "fourier", "fir": True, "fir_kernel": [1, 3, 3, 1],
                "skip_rescale": True, "nonlinearity": "swish", "spatial_channels": 1, "image_size": 256}
SHAPE_KEYS = ("nf", "ch_mult", "num_res_blocks", "attn_resolutions", "fourier_scale", "dropout")
UPSTREAM_PAD = 64  # both projects' pad_spec pads the frames to a multiple of 64 whatever the network


class Unsupported(ValueError):
    """The checkpoint uses something cmkt cannot represent; the message names it."""


def require(hparams: dict[str, Any], key: str, allowed: tuple, default: Any = None) -> Any:
    value = hparams.get(key, default)
    if value not in allowed:
        raise Unsupported(f"{key} {value!r} (cmkt supports {', '.join(map(repr, allowed))})")
    return value


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
    if hparams["n_fft"] // 2 + 1 != 256:
        raise Unsupported(f"n_fft {hparams['n_fft']} (cmkt's front end and the U-Net's nominal size need 510)")
    return {"n_fft": hparams["n_fft"], "hop_length": hparams["hop_length"], "spec_exponent": hparams["spec_abs_exponent"],
            "spec_factor": hparams["spec_factor"], "sde": "ouve", "sigma_min": hparams["sigma_min"],
            "sigma_max": hparams["sigma_max"], "eta": hparams["theta"], "t_eps": hparams.get("t_eps", 0.03),
            "pad_multiple": UPSTREAM_PAD}


def ncsnpp_shape(hparams: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """cmkt NCSN++ overrides: the upstream defaults, then what the checkpoint's hyper-parameters set."""
    for key, value in FIXED_NCSNPP.items():
        if hparams.get(key, value) != value:
            raise Unsupported(f"NCSN++ {key} {hparams[key]!r} (cmkt implements {value!r})")
    shape = {**defaults, **{k: hparams[k] for k in SHAPE_KEYS if k in hparams}}
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in shape.items()}
