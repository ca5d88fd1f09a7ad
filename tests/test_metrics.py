"""The metrics reproduce the published reference values listed in shared/data/MANIFEST.md."""

import numpy as np
import pytest
import soundfile as sf

from pipelines.errors import SkipItem
from pipelines.metrics import intrusive_metrics, si_sdr
from tests.conftest import shared, speech_like


def test_python_pesq_pair_matches_published_values():
    folder = shared("metric_refs/python_pesq")
    reference, rate = sf.read(folder / "speech.wav")
    degraded, _ = sf.read(folder / "speech_bab_0dB.wav")
    scores = intrusive_metrics(reference, degraded, rate)
    assert scores["pesq_wb"] == pytest.approx(1.0832337141036987, abs=1e-4)
    assert scores["pesq_nb"] == pytest.approx(1.6072081327438354, abs=1e-4)
    assert scores["stoi"] == pytest.approx(0.6739177, abs=5e-3)


@pytest.mark.parametrize("k, expected", [(0, 9.918769), (1, 9.55302)])
def test_si_sdr_matches_pb_bss_reference(k, expected):
    folder = shared("metric_refs/pb_reverb")
    reference, _ = sf.read(folder / f"speech_reverberation_early_{k}.wav")
    estimate, _ = sf.read(folder / f"speech_image_{k}.wav")
    assert si_sdr(reference[:, 0], estimate[:, 0]) == pytest.approx(expected, rel=1e-6)


def test_si_sdr_is_scale_invariant_and_tracks_noise():
    clean = speech_like(2.0).astype(np.float64)
    noise = np.random.default_rng(0).standard_normal(clean.size) * 0.01
    assert si_sdr(clean, 3.0 * (clean + noise)) == pytest.approx(si_sdr(clean, clean + noise), abs=1e-9)
    assert si_sdr(clean, clean + noise) > si_sdr(clean, clean + 10 * noise) + 15


def test_silence_is_skipped_not_scored():
    clean = speech_like(2.0)
    with pytest.raises(SkipItem, match="silent"):
        intrusive_metrics(np.zeros_like(clean), clean)
    with pytest.raises(SkipItem, match="silent"):
        intrusive_metrics(clean, np.zeros_like(clean))


def test_si_sdr_of_a_perfect_estimate_is_capped_finite():
    clean = speech_like(1.0)
    assert si_sdr(clean, clean) == pytest.approx(100.0, abs=0.01)
