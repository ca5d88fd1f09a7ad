"""STFT front end: exact round trip, shapes, compression law, frame padding."""

from __future__ import annotations

import pytest
import torch

from pipelines.spectral import SpecTransform, crop_frames, pad_frames


@pytest.mark.parametrize("hop_length", [128, 160])
@pytest.mark.parametrize("num_samples", [16000, 16001, 12345, 777])
def test_round_trip_restores_waveform(hop_length: int, num_samples: int) -> None:
    transform = SpecTransform(hop_length=hop_length)
    wave = torch.randn(2, num_samples, generator=torch.Generator().manual_seed(num_samples)) * 0.3
    restored = transform.to_wave(transform.to_spec(wave), num_samples)
    assert restored.shape == wave.shape
    assert (restored - wave).abs().max().item() < 1e-5


@pytest.mark.parametrize("hop_length", [128, 160])
def test_spectrogram_shape(hop_length: int) -> None:
    transform = SpecTransform(hop_length=hop_length)
    spec = transform.to_spec(torch.randn(3, 16000))
    assert spec.shape == (3, 1, 256, transform.num_frames(16000))
    assert spec.shape[-1] == 16000 // hop_length + 1
    assert spec.is_complex()


def test_window_is_periodic_hann_of_n_fft() -> None:
    window = SpecTransform().window(torch.zeros(1))
    assert window.shape == (510,)
    n = torch.arange(510, dtype=torch.float64)
    assert torch.allclose(window.double(), 0.5 - 0.5 * torch.cos(2 * torch.pi * n / 510), atol=1e-6)


def test_compression_law_and_inverse() -> None:
    transform = SpecTransform(alpha=0.5, beta=0.15)
    c = torch.randn(4, 100, dtype=torch.complex64) * 3
    c[0, 0] = 0
    compressed = transform.compress(c)
    assert torch.allclose(compressed.abs(), 0.15 * c.abs().sqrt(), atol=1e-6)
    nonzero = c.abs() > 1e-3
    assert torch.allclose(torch.angle(compressed)[nonzero], torch.angle(c)[nonzero], atol=1e-5)
    restored = transform.decompress(compressed)
    assert torch.isfinite(torch.view_as_real(restored)).all()
    assert torch.allclose(restored, c, atol=1e-5)


def test_unit_compression_is_plain_stft() -> None:
    transform = SpecTransform(alpha=1.0, beta=1.0)
    wave = torch.randn(1, 4000)
    assert torch.allclose(transform.to_spec(wave)[:, 0], transform.stft(wave), atol=1e-5)


def test_silence_maps_to_zero_without_nans() -> None:
    transform = SpecTransform()
    spec = transform.to_spec(torch.zeros(1, 3000))
    assert torch.count_nonzero(spec) == 0
    assert torch.count_nonzero(transform.to_wave(spec, 3000)) == 0


def test_pad_and_crop_frames() -> None:
    spec = torch.randn(2, 1, 256, 37, dtype=torch.complex64)
    padded, frames = pad_frames(spec, 64)
    assert padded.shape == (2, 1, 256, 64) and frames == 37
    assert torch.count_nonzero(padded[..., 37:]) == 0
    assert torch.equal(crop_frames(padded, frames), spec)
    same, frames = pad_frames(padded, 64)
    assert same is padded and frames == 64
