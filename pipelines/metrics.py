"""Intrusive speech-quality metrics, computed with the field's reference implementations.

PESQ (ITU-T P.862.2 wide-band and P.862.1 narrow-band) comes from the `pesq` package,
STOI and ESTOI from `pystoi`; SI-SDR follows Le Roux et al. (2019). tests/test_metrics.py
checks them against published values (shared/data/MANIFEST.md).
"""

from __future__ import annotations

import numpy as np
from pesq import pesq
from pystoi import stoi

from pipelines.errors import SkipItem

METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr")
METRIC_LABELS = {"pesq_wb": "PESQ-WB", "pesq_nb": "PESQ-NB", "stoi": "STOI", "estoi": "ESTOI", "si_sdr": "SI-SDR",
                 "dnsmos_sig": "DNSMOS-SIG", "dnsmos_bak": "DNSMOS-BAK", "dnsmos_ovrl": "DNSMOS-OVRL"}


SI_SDR_CEILING_DB = 100.0


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB (signals made zero-mean, the estimate projected onto the reference).

    A perfect estimate would give +inf; a residual floor 100 dB below the target caps it at
    100 dB so means and JSON stay finite (it moves real-world values by < 1e-9 relative).
    """
    reference = np.asarray(reference, dtype=np.float64) - np.mean(reference)
    estimate = np.asarray(estimate, dtype=np.float64) - np.mean(estimate)
    scale = np.dot(estimate, reference) / np.dot(reference, reference)
    target = scale * reference
    residual = estimate - target
    target_energy = np.dot(target, target)
    floor = target_energy * 10.0 ** (-SI_SDR_CEILING_DB / 10.0)
    return float(10.0 * np.log10((target_energy + floor) / (np.dot(residual, residual) + floor)))


def intrusive_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = 16_000) -> dict[str, float]:
    """All metrics of `estimate` against `reference` (same length, same rate, 16 kHz for PESQ wide-band).

    Silence cannot be scored (PESQ finds no utterance, SI-SDR divides by zero): `SkipItem`.
    """
    if len(reference) != len(estimate):
        raise ValueError(f"reference and estimate lengths differ ({len(reference)} vs {len(estimate)})")
    if not np.any(reference):
        raise SkipItem("clean reference is silent (all zeros): PESQ and SI-SDR are undefined")
    if not np.any(estimate):
        raise SkipItem("estimate is silent (all zeros): PESQ and SI-SDR are undefined")
    try:
        scores = {
            "pesq_wb": float(pesq(sample_rate, reference, estimate, "wb")),
            "pesq_nb": float(pesq(sample_rate, reference, estimate, "nb")),
        }
    except Exception as err:  # pesq raises its own error types for too-short or speechless signals
        raise SkipItem(f"PESQ could not score this pair ({type(err).__name__}: {err})") from None
    scores["stoi"] = float(stoi(reference, estimate, sample_rate, extended=False))
    scores["estoi"] = float(stoi(reference, estimate, sample_rate, extended=True))
    scores["si_sdr"] = si_sdr(reference, estimate)
    return scores
