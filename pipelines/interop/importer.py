"""An upstream checkpoint as a cmkt model: config, weights and model card.

Lightning checkpoints of SGMSE+ or StoRM, and GTCRN's published ones (pipelines/interop/gtcrn.py).
Of the Lightning ones the weights are the EMA ones (`ema.shadow_params`, a list in `state_dict` order), which is
what upstream enhances with; a checkpoint without them falls back to `state_dict`, and the
card says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from pipelines.artifacts.checksums import file_checksum
from pipelines.errors import BadInput
from pipelines.interop import gtcrn, sgmse, storm
from pipelines.interop.hyperparameters import Unsupported

PROJECTS = (sgmse, storm)


def is_upstream(payload: Any) -> bool:
    """A checkpoint of a project cmkt imports (read by `reader.load_restricted`)."""
    return is_lightning(payload) or gtcrn.matches(payload)


def import_upstream(payload: Any, path: Path) -> dict[str, Any]:
    """{"config", "weights" (float64), "card"} of an upstream checkpoint."""
    return gtcrn.convert(payload, path) if gtcrn.matches(payload) else import_lightning(payload, path)


def is_lightning(payload: Any) -> bool:
    return isinstance(payload, dict) and "state_dict" in payload and "hyper_parameters" in payload


def import_lightning(payload: dict[str, Any], path: Path) -> dict[str, Any]:
    """{"config", "weights" (float64), "card"} of a Lightning checkpoint read by `reader.load_restricted`."""
    _check_layout(payload, path)
    state, averaged = _ema_state(payload, path)
    project = next((p for p in PROJECTS if p.matches(state)), None)
    if project is None:
        prefixes = sorted({k.split(".")[0] for k in state})
        raise BadInput(f"{path}: a Lightning checkpoint of neither SGMSE+ nor StoRM (networks: "
                       f"{', '.join(prefixes[:4])})")
    try:
        config, weights, sampling = project.convert(dict(payload["hyper_parameters"]), state)
    except Unsupported as err:
        raise BadInput(f"{path}: this {project.NAME} checkpoint cannot be imported: {err}") from None
    except (ValueError, TypeError, KeyError) as err:  # weights that do not fit, a shape NCSN++ cannot take
        raise BadInput(f"{path}: {project.NAME} checkpoint: {err}") from None
    card = {"imported_from": {"project": project.NAME, "file": Path(path).name, "sha256": file_checksum(path),
                              "global_step": payload.get("global_step"), "weights": "EMA" if averaged else "raw"},
            "sampling": sampling.to_dict()}
    return {"config": config.to_dict(), "weights": weights, "card": card}


def _check_layout(payload: dict[str, Any], path: Path) -> None:
    """The parts of a Lightning checkpoint the import reads, of the types Lightning writes (BadInput naming the part
    otherwise): `hyper_parameters` a dict, `state_dict` names -> tensors, `ema` a dict whose `shadow_params` is a list
    of tensors, `global_step` a count."""
    state, ema = payload["state_dict"], payload.get("ema")
    problems = {
        "hyper_parameters": not isinstance(payload["hyper_parameters"], dict),
        "state_dict": not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, Tensor)
                                                             for k, v in state.items()),
        "ema": ema is not None and not (isinstance(ema, dict) and (ema.get("shadow_params") is None or (
            isinstance(ema["shadow_params"], (list, tuple))
            and all(isinstance(v, Tensor) for v in ema["shadow_params"])))),
        "global_step": not (payload.get("global_step") is None or (isinstance(payload["global_step"], int)
                                                                   and 0 <= payload["global_step"] < 2**63)),
    }
    wrong = [part for part, bad in problems.items() if bad]
    if wrong:
        raise BadInput(f"{path}: not an SGMSE+ or StoRM checkpoint as Lightning writes one (its {', '.join(wrong)} "
                       f"{'is' if len(wrong) == 1 else 'are'} not of the expected type)")


def _ema_state(payload: dict[str, Any], path: Path) -> tuple[dict[str, Tensor], bool]:
    state = payload["state_dict"]
    shadow = (payload.get("ema") or {}).get("shadow_params")
    if shadow is None:
        return dict(state), False
    if len(shadow) != len(state) or any(s.shape != v.shape for s, v in zip(shadow, state.values())):
        raise BadInput(f"{path}: its EMA weights ({len(shadow)}) do not line up with its state_dict ({len(state)})")
    return dict(zip(state, shadow)), True

