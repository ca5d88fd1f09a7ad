"""Loading `torch.save` files, upstream Lightning checkpoints included, without executing them.

Upstream checkpoints pickle a reference to their data-module class in `hyper_parameters`,
so `torch.load(weights_only=True)` refuses them, and `weights_only=False` would import
(and run) whatever the pickle names. Here the pickle's globals are listed first (by
scanning its opcodes, nothing runs); the few known harmless names are mapped to inert
stand-ins of the same name, and a file that names anything else is refused, naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import BadInput

# names upstream checkpoints are known to pickle, each replaced by an empty class of the same name ("class"), or for
# Lightning's AttributeDict (a dict subclass) by one whose instances come back as plain dicts ("dict"); nothing is
# imported
HARMLESS_GLOBALS = {
    "sgmse.data_module.SpecsDataModule": "class",
    "pytorch_lightning.utilities.parsing.AttributeDict": "dict",
    "lightning.pytorch.utilities.parsing.AttributeDict": "dict",
    "lightning_fabric.utilities.data.AttributeDict": "dict",
}


def load_restricted(path: Path) -> Any:
    """torch.load with weights_only=True, plus inert stand-ins for HARMLESS_GLOBALS; BadInput for anything else."""
    if not Path(path).is_file():
        raise BadInput(f"{path}: no such checkpoint or model file")
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as err:  # not a zip archive, truncated: torch raises several types
        raise BadInput(f"{path}: not a readable checkpoint ({_first_line(err)})") from None
    unknown = sorted(set(names) - set(HARMLESS_GLOBALS))
    if unknown:
        raise BadInput(f"{path}: not a readable checkpoint: refused, its pickle names code cmkt does not run: "
                       f"{', '.join(unknown[:5])}")
    stubs = [_stand_in(name) for name in names]
    try:
        with torch.serialization.safe_globals(stubs):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise BadInput(f"{path}: not a readable checkpoint ({_first_line(err)})") from None
    _check_sizes(payload, path)
    return payload


MAX_TENSOR_BYTES = 2**32  # 4 GiB: far above any weight of a speech-enhancement network (the paper preset's: 2 MiB)


def _check_sizes(payload: Any, path: Path) -> None:
    """Refuse, before anything reads it, a tensor that declares more elements than the file's bytes hold (a view
    with stride 0 over one value can declare 10^12 of them, and the first copy would allocate them all) or more
    than MAX_TENSOR_BYTES."""
    pending = [("", payload)]
    while pending:  # a loop, not recursion: a hostile file may nest containers deeper than Python's stack
        where, value = pending.pop()
        if isinstance(value, dict):
            pending += [(f"{where}.{key}", item) for key, item in value.items()]
        elif isinstance(value, (list, tuple)):
            pending += [(f"{where}[{index}]", item) for index, item in enumerate(value)]
        elif isinstance(value, torch.Tensor):
            declared, held = value.numel() * value.element_size(), value.untyped_storage().nbytes()
            if declared > held or declared > MAX_TENSOR_BYTES:
                limit = (f"the file holds {held:,} bytes for it" if declared > held else
                         f"more than the {MAX_TENSOR_BYTES:,} bytes cmkt reads for one tensor")
                raise BadInput(f"{path}: refused: its tensor {where.lstrip('.') or '(the whole file)'} declares "
                               f"{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}, {declared:,} bytes, "
                               f"{limit}")


def _stand_in(name: str) -> type:
    module, _, qualname = name.rpartition(".")
    namespace: dict[str, Any] = {"__module__": module}
    if HARMLESS_GLOBALS[name] == "dict":  # torch fills only plain dicts with the pickled items
        namespace["__new__"] = lambda cls, *args: {}
    return type(qualname, (), namespace)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:200] if text else ''}"
