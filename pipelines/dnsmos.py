"""DNSMOS P.835: predicted speech (SIG), background (BAK) and overall (OVRL) opinion scores, no reference needed.

Real recordings have no clean reference, so PESQ and friends cannot score them; DNSMOS
(Reddy et al., ICASSP 2022) predicts what listeners would rate. The ONNX model Microsoft
released ships inside the `speechmos` wheel (MIT): it is found on disk and run here with
`onnxruntime`, so nothing is downloaded and speechmos's own imports (librosa, requests)
are not needed. The scoring follows the DNS Challenge's `dnsmos_local.py`: 9.01 s windows
hopped by 1 s (shorter clips repeated to fill one), the raw outputs mapped through the
published polynomials and averaged. A clip shorter than `MIN_SECONDS` is refused (`SkipItem`, as PESQ
refuses one under 0.25 s): repeated many times to fill the window it would be rated as the
loop or buzz it becomes, not as speech. onnxruntime is imported on first use, so the CLI
starts without it.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from pipelines.errors import BadInput, SkipItem

DNSMOS_METRICS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
RATE = 16_000
WINDOW = int(9.01 * RATE)
MIN_SECONDS = 1.0  # one hop of the windows: a shorter clip fills its window with ten or more copies of itself
# raw network output -> MOS, per score (dnsmos_local.py, non-personalised model)
POLYNOMIALS = {
    "dnsmos_sig": np.poly1d([-0.08397278, 1.22083953, 0.0052439]),
    "dnsmos_bak": np.poly1d([-0.13166888, 1.60915514, -0.39604546]),
    "dnsmos_ovrl": np.poly1d([-0.06766283, 1.11546468, 0.04602535]),
}


def model_file() -> Path:
    """The P.835 model inside the installed speechmos package (found, never imported)."""
    spec = find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise BadInput("DNSMOS needs the speechmos package (it holds the model): pip install speechmos==0.0.1.1")
    path = Path(next(iter(spec.submodule_search_locations))) / "dnsmos_models" / "sig_bak_ovr.onnx"
    if not path.is_file():
        raise BadInput(f"the DNSMOS model {path} is missing: reinstall speechmos==0.0.1.1")
    return path


@lru_cache(maxsize=1)
def _session():
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # score runs files in parallel with --jobs, one thread each
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model_file()), options, providers=["CPUExecutionProvider"])


def dnsmos(samples: np.ndarray) -> dict[str, float]:
    """SIG, BAK and OVRL of 16 kHz mono float audio (the mean over 9 s windows); silence: `SkipItem`."""
    audio = np.asarray(samples, dtype=np.float32)
    if not np.any(audio):
        raise SkipItem("audio is silent (all zeros): DNSMOS is undefined")
    if len(audio) < MIN_SECONDS * RATE:
        raise SkipItem(f"audio is {len(audio) / RATE:.3f} s long: DNSMOS needs at least {MIN_SECONDS:g} s (a shorter "
                       f"clip, repeated to fill its 9.01 s window, is rated as a loop, not as speech)")
    while len(audio) < WINDOW:
        audio = np.concatenate([audio, audio])
    hops = int(np.floor(len(audio) / RATE) - WINDOW / RATE) + 1
    windows = [audio[k * RATE:k * RATE + WINDOW] for k in range(hops) if k * RATE + WINDOW <= len(audio)]
    session = _session()
    raw = np.concatenate([session.run(None, {"input_1": window[None]})[0] for window in windows]).astype(np.float64)
    return {name: float(np.mean(POLYNOMIALS[name](raw[:, k]))) for k, name in enumerate(DNSMOS_METRICS)}
