"""`--device`: the one place a device name from the command line becomes a torch device (or a one-line error)."""

from __future__ import annotations

import torch

from pipelines.errors import BadInput

HELP = "cpu, cuda, cuda:1 ... or auto"


def resolve_device(name: str) -> torch.device:
    """'auto' is cuda when there is one, else cpu; any other name must be a device this machine has."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise BadInput(f"--device {name!r} is not a device name ({HELP})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BadInput(f"--device {name}: no CUDA device is available here (use cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BadInput(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                           f"numbered from 0")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise BadInput(f"--device {name}: no MPS device is available here (use cpu or auto)")
    elif device.type != "cpu":
        raise BadInput(f"--device {name}: not supported ({HELP})")
    return device


def device_name(device: str) -> str:
    """The --device option as the device it resolves to ("auto" -> "cuda" or "cpu"); a bad one is BadInput."""
    return str(resolve_device(device))
