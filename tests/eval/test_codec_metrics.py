"""Audio metrics: SI-SDR, multi-resolution mel distance and delay alignment on synthetic signals."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiodiff.eval.codec_metrics import align, cross_correlation, estimate_delay, fit_length, mel_distance, si_sdr

SR = 24000


def music_like(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A few decaying harmonic notes plus a little noise: broadband, non-periodic, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    out = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.25):
        f0 = rng.uniform(110, 880)
        env = np.where(t >= start, np.exp(-(t - start) * 6), 0.0)
        for h in range(1, 6):
            out += env * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h
    out += 0.01 * rng.standard_normal(len(t))
    return 0.5 * out / np.abs(out).max()


def with_noise(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    """``x`` plus white noise scaled to the given SNR relative to the zero-mean ``x``."""
    noise = np.random.default_rng(seed).standard_normal(len(x))
    signal = x - x.mean()
    noise *= np.sqrt(np.sum(signal ** 2) / np.sum(noise ** 2) / 10 ** (snr_db / 10))
    return x + noise


def test_si_sdr_identical_is_very_high():
    x = music_like()
    assert si_sdr(x, x) > 60
    assert si_sdr(torch.from_numpy(x).float(), torch.from_numpy(x).float()) > 60


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0, 30.0])
def test_si_sdr_matches_known_snr(snr):
    x = music_like()
    assert si_sdr(x, with_noise(x, snr)) == pytest.approx(snr, abs=0.5)


def test_si_sdr_is_scale_and_offset_invariant():
    x = music_like()
    y = with_noise(x, 15.0)
    base = si_sdr(x, y)
    assert si_sdr(x, 3 * y) == pytest.approx(base, abs=1e-9)
    assert si_sdr(x, 0.01 * y + 0.2) == pytest.approx(base, abs=1e-6)  # zero-mean: a DC offset is ignored


def test_si_sdr_batches_and_silence():
    x = np.stack([music_like(seed=0), music_like(seed=1)])
    y = np.stack([with_noise(x[0], 10.0), with_noise(x[1], 20.0)])
    scores = si_sdr(x, y)
    assert scores.shape == (2,)
    assert scores == pytest.approx([10.0, 20.0], abs=0.5)
    assert si_sdr(x[:, None, :], y[:, None, :]).shape == (2, 1)  # [B, 1, N] keeps the leading axes
    assert np.isnan(si_sdr(np.zeros(1000), np.ones(1000)))  # undefined for a silent reference
    with pytest.raises(ValueError, match="same shape"):
        si_sdr(x[0], x[0][:-1])


def test_mel_distance_zero_for_identical_and_grows_with_noise():
    x = music_like()
    assert mel_distance(x, x, SR) == 0.0
    distances = [mel_distance(x, with_noise(x, snr), SR) for snr in (40.0, 20.0, 0.0)]
    assert 0 < distances[0] < distances[1] < distances[2]
    # tensors and batches are accepted; the batch mean of equal-length items is the item mean
    xt = torch.from_numpy(np.stack([x, x])).float()
    yt = torch.from_numpy(np.stack([x, with_noise(x, 0.0)])).float()
    assert mel_distance(xt, yt, SR) == pytest.approx(distances[2] / 2, rel=1e-3)


def test_mel_distance_is_symmetric_and_handles_short_audio():
    x, y = music_like(), with_noise(music_like(), 10.0)
    assert mel_distance(x, y, SR) == pytest.approx(mel_distance(y, x, SR), rel=1e-6)
    assert mel_distance(x[:300], y[:300], SR) > 0  # shorter than the largest FFT


@pytest.mark.parametrize("delay", [0, 1, 3, 37, 300, -5, -120])
def test_align_recovers_known_integer_delay(delay):
    x = music_like(seconds=2.0)
    if delay >= 0:
        late = np.concatenate([np.zeros(delay), x])[: len(x)]
    else:
        late = np.concatenate([x[-delay:], np.zeros(-delay)])
    noisy = with_noise(late, 20.0)
    aligned, found = align(x, noisy)
    assert found == delay
    assert len(aligned) == len(x)
    assert si_sdr(x, aligned) > si_sdr(x, noisy) or delay == 0
    assert si_sdr(x[500:-500], aligned[500:-500]) == pytest.approx(20.0, abs=1.0)


def test_constant_delay_over_windows_and_given_delay():
    refs = [music_like(seconds=1.0, seed=s) for s in range(4)]
    ests = [with_noise(np.concatenate([np.zeros(3), r])[: len(r) + 10], 5.0, seed=s) for s, r in enumerate(refs)]
    assert estimate_delay(refs, ests) == 3
    aligned, delay = align(refs[0], ests[0], delay=3)  # a given delay is used as is
    assert delay == 3 and len(aligned) == len(refs[0])
    np.testing.assert_allclose(aligned, fit_length(ests[0][3:], len(refs[0])))


def test_alignment_ignores_unrelated_audio():
    x = music_like(seed=0)
    noise = np.random.default_rng(5).standard_normal(len(x))
    assert estimate_delay(x, noise) == 0  # no reliable peak: no shift
    assert estimate_delay(np.zeros(1000), x[:1000]) == 0
    curve = cross_correlation(x, x, max_lag=10)
    assert curve.shape == (21,) and curve.argmax() == 10 and curve.max() == pytest.approx(1.0)


def test_fit_length_trims_and_pads():
    x = np.arange(5.0)
    np.testing.assert_array_equal(fit_length(x, 3), [0, 1, 2])
    np.testing.assert_array_equal(fit_length(x, 7), [0, 1, 2, 3, 4, 0, 0])
