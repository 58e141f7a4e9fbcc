"""Objective audio quality metrics for codec benchmarks: SI-SDR, multi-resolution mel distance, alignment.

All functions take mono waveforms as numpy arrays or torch tensors of shape ``[N]`` or ``[B, N]``
(``[B, 1, N]`` is accepted too: every leading axis is a batch axis), float samples in [-1, 1].
They compute in float64 (SI-SDR, alignment) or float32 (mel distance) on the CPU and never
modify their inputs.

- :func:`si_sdr`: scale-invariant signal-to-distortion ratio in dB (higher is better).
- :func:`mel_distance`: mean absolute difference of log10 mel magnitude spectrograms over
  several STFT resolutions (lower is better; 0 for identical audio).
- :func:`align`: trims/pads an estimate to the reference length and compensates a constant
  integer-sample delay found by cross-correlation (for codecs such as Opus).
"""
from __future__ import annotations

import functools

import numpy as np
import torch

MEL_N_FFTS = (512, 1024, 2048)
MEL_BANDS = 80
MEL_CLAMP = 1e-5


def _as_float64(x) -> np.ndarray:
    """numpy float64 copy-free view of an array or tensor (tensors are detached and moved to CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _pair(reference, estimate) -> tuple[np.ndarray, np.ndarray]:
    ref, est = _as_float64(reference), _as_float64(estimate)
    if ref.shape != est.shape:
        raise ValueError(f"reference {list(ref.shape)} and estimate {list(est.shape)} must have the same shape")
    if ref.ndim == 0 or ref.shape[-1] == 0:
        raise ValueError(f"expected waveforms [..., N] with N > 0, got shape {list(ref.shape)}")
    return ref, est


def si_sdr(reference, estimate, eps: float = 1e-12):
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019, "SDR - half-baked or well done?").

    Both signals are made zero-mean, then ``target = a * ref`` with ``a = <est, ref> / ||ref||^2`` and
    ``SI-SDR = 10 log10(||target||^2 / ||est - target||^2)``. Multiplying ``estimate`` by any
    non-zero factor leaves the score unchanged; for an estimate ``ref + noise`` with the noise
    uncorrelated with ``ref`` it is close to the SNR. It is sensitive to time shifts (a 1-sample
    delay of bright music costs many dB), so align codec outputs first (:func:`align`).

    ``reference``, ``estimate``: ``[..., N]`` waveforms of equal shape. Returns a float for 1-D
    inputs, else a float64 array of the leading shape. A (near-)silent reference, whose SI-SDR is
    undefined, gives NaN; identical signals give a very large finite value (about
    ``10 log10(||ref||^2 / eps)``).
    """
    ref, est = _pair(reference, estimate)
    ref = ref - ref.mean(axis=-1, keepdims=True)
    est = est - est.mean(axis=-1, keepdims=True)
    ref_energy = np.sum(ref * ref, axis=-1)
    alpha = np.sum(est * ref, axis=-1) / np.maximum(ref_energy, eps)
    target = alpha[..., None] * ref
    noise = est - target
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 10 * np.log10((np.sum(target * target, axis=-1) + eps) / (np.sum(noise * noise, axis=-1) + eps))
    value = np.where(ref_energy > eps * ref.shape[-1], value, np.nan)
    return float(value) if value.ndim == 0 else value


@functools.lru_cache(maxsize=16)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """Triangular HTK mel filters ``[n_fft // 2 + 1, M]`` over 0..sample_rate/2, empty filters dropped."""
    from torchaudio.functional import melscale_fbanks

    fb = melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate, norm=None, mel_scale="htk")
    return fb[:, fb.sum(dim=0) > 0].contiguous()


def log_mel(wav: torch.Tensor, sample_rate: int, n_fft: int, n_mels: int = MEL_BANDS,
            clamp: float = MEL_CLAMP) -> torch.Tensor:
    """``log10(max(mel magnitude, clamp))`` of ``wav [B, N]`` -> ``[B, M, frames]`` (M <= n_mels).

    Hann window of ``n_fft`` samples, hop ``n_fft // 4``, centred frames with reflect padding,
    STFT magnitude (power 1) projected on ``n_mels`` triangular HTK mel filters from 0 Hz to
    Nyquist. A filter that covers no FFT bin (possible with many bands and a short FFT; none at
    24 kHz with 80 bands and 512+ points) is dropped instead of contributing constant zeros.
    """
    window = torch.hann_window(n_fft, dtype=wav.dtype, device=wav.device)
    if wav.shape[-1] <= n_fft // 2:  # reflect padding needs more samples than the pad
        wav = torch.nn.functional.pad(wav, (0, n_fft // 2 + 1 - wav.shape[-1]))
    spec = torch.stft(wav, n_fft, hop_length=n_fft // 4, window=window, center=True,
                      pad_mode="reflect", return_complex=True).abs()
    fb = _mel_filters(sample_rate, n_fft, n_mels).to(dtype=wav.dtype, device=wav.device)
    mel = torch.einsum("bft,fm->bmt", spec, fb)
    return mel.clamp_min(clamp).log10()


def mel_distance(reference, estimate, sample_rate: int, n_ffts: tuple[int, ...] = MEL_N_FFTS,
                 n_mels: int = MEL_BANDS, clamp: float = MEL_CLAMP) -> float:
    """Multi-resolution log-mel distance between two waveforms (lower is better, 0 when identical).

    For each STFT size in ``n_ffts`` (default 512, 1024, 2048 points = 21, 43, 85 ms at 24 kHz;
    hop a quarter of that) the mean over bands, frames and batch of
    ``|log10 max(mel_ref, clamp) - log10 max(mel_est, clamp)|`` (see :func:`log_mel`: Hann window,
    magnitude spectrogram, ``n_mels`` HTK mel bands up to Nyquist); the result is the mean over
    the resolutions. Units: decades of mel magnitude, so 0.05 is an average level error of
    about 1 dB (x 20 for dB). The clamp of 1e-5 (-100 dB re full scale) stops errors in
    near-silent bands from dominating.

    ``reference``, ``estimate``: ``[..., N]`` waveforms of equal shape; ``sample_rate`` in Hz.
    Returns one float averaged over every leading (batch) axis.
    """
    ref, est = _pair(reference, estimate)
    ref_t = torch.from_numpy(ref.reshape(-1, ref.shape[-1])).float()
    est_t = torch.from_numpy(est.reshape(-1, est.shape[-1])).float()
    total = 0.0
    with torch.no_grad():
        for n_fft in n_ffts:
            a = log_mel(ref_t, sample_rate, n_fft, n_mels, clamp)
            b = log_mel(est_t, sample_rate, n_fft, n_mels, clamp)
            total += (a - b).abs().mean().item()
    return total / len(n_ffts)


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Trim ``x [..., N]`` at the end, or zero-pad it there, to ``[..., length]``."""
    x = np.asarray(x)
    if x.shape[-1] >= length:
        return x[..., :length]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])]
    return np.pad(x, pad)


def _sliding_sums(x: np.ndarray, width: int) -> np.ndarray:
    """Sums of ``x`` over every run of ``width`` consecutive samples (``len(x) - width + 1`` values)."""
    c = np.concatenate([[0.0], np.cumsum(x)])
    return c[width:] - c[:-width]


def cross_correlation(reference, estimate, max_lag: int = 480, segment: int | None = None) -> np.ndarray:
    """Normalised cross-correlation ``[2 * max_lag + 1]`` of one window pair (1-D), lags ``-max_lag..max_lag``.

    Element ``i`` is the correlation coefficient (of the zero-mean signals, in [-1, 1]) between
    the reference and the estimate's samples ``lag = i - max_lag`` later (zeros beyond the
    estimate's ends). A peak at a positive lag means the estimate is late. Over the whole window
    (``segment=None``) the peak is (up to the means) the shift that maximises SI-SDR, which is
    ``10 log10(rho^2 / (1 - rho^2))`` of this coefficient. With ``segment`` only that many samples
    of the reference with the most energy (searched with hop ``segment // 4``) are used. All
    zeros when the reference (segment) is silent. Computed with FFTs: milliseconds for 8 s.
    """
    ref, est = _as_float64(reference).reshape(-1), _as_float64(estimate).reshape(-1)
    ref, est = ref - ref.mean(), est - est.mean()
    n = len(ref)
    length = n if segment is None else max(1, min(segment, n))
    hop = max(1, length // 4)
    start = int(np.argmax(_sliding_sums(ref * ref, length)[::hop])) * hop
    seg = ref[start:start + length]
    seg_energy = float(np.dot(seg, seg))
    if seg_energy <= 1e-12:
        return np.zeros(2 * max_lag + 1)
    # the estimate around the segment, covering every lag, zero outside the signal
    lo, hi = start - max_lag, start + length + max_lag
    window = np.zeros(hi - lo)
    a, b = max(lo, 0), min(hi, len(est))
    if b > a:
        window[a - lo:b - lo] = est[a:b]
    size = 1 << (len(window) + length - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(window, size) * np.conj(np.fft.rfft(seg, size)), size)[:2 * max_lag + 1]
    energies = _sliding_sums(window * window, length)[:2 * max_lag + 1]
    return corr / np.sqrt(seg_energy * np.maximum(energies, 1e-12))


def _window_pairs(reference, estimate) -> list[tuple[np.ndarray, np.ndarray]]:
    if isinstance(reference, (list, tuple)) or isinstance(estimate, (list, tuple)):
        if len(reference) != len(estimate) or not len(reference):
            raise ValueError(f"expected equally many (>0) references and estimates, "
                             f"got {len(reference)} and {len(estimate)}")
        return list(zip(reference, estimate))
    ref, est = _as_float64(reference), _as_float64(estimate)
    if ref.ndim == 2 and est.ndim == 2:
        return list(zip(ref, est))
    return [(ref.reshape(-1), est.reshape(-1))]


def estimate_delay(reference, estimate, max_lag: int = 480, segment: int | None = None, min_corr: float = 0.2) -> int:
    """Constant delay in whole samples of ``estimate`` behind ``reference``, by cross-correlation; 0 if unclear.

    ``reference``, ``estimate``: one window pair (1-D ``[N]``), or several: lists of 1-D windows
    (lengths may differ between pairs) or ``[B, N]`` arrays. The normalised correlation curves of
    :func:`cross_correlation` (whole windows, or the loudest ``segment`` samples of each
    reference; lags within ``+-max_lag``, default 20 ms at 24 kHz) are averaged over the pairs and
    the lag of the peak is returned: ``d > 0`` means ``estimate[t + d] ~ reference[t]``. Averaging
    over windows estimates one delay for a codec setting, robust to windows where the codec is
    poor; on whole windows it is about the shift that maximises mean SI-SDR. When the averaged coefficient at
    the peak is below ``min_corr`` (no reliable peak: unrelated or silent audio) it returns 0
    rather than a random lag.
    """
    pairs = _window_pairs(reference, estimate)
    curve = np.mean([cross_correlation(r, e, max_lag, segment) for r, e in pairs], axis=0)
    best = int(np.argmax(curve))
    return best - max_lag if curve[best] >= min_corr else 0


def shift(estimate, delay: int, length: int) -> np.ndarray:
    """Undo a delay: drop the first ``delay`` samples (or prepend ``-delay`` zeros), then fit to ``length``."""
    est = _as_float64(estimate).reshape(-1)
    if delay > 0:
        est = est[delay:]
    elif delay < 0:
        est = np.concatenate([np.zeros(-delay), est])
    return fit_length(est, length)


def align(reference, estimate, delay: int | None = None, max_lag: int = 480, segment: int | None = None,
          min_corr: float = 0.2) -> tuple[np.ndarray, int]:
    """``estimate`` (1-D) shifted by its delay behind ``reference`` and fitted to the reference length.

    Returns ``(aligned float64 [N_ref], delay)``. ``delay`` is the given one (e.g. a codec's
    constant delay from :func:`estimate_delay` over many windows) or, when None, estimated from
    this pair alone. Positive: the estimate was late, its first ``delay`` samples are dropped;
    negative: zeros are prepended. Then it is trimmed or zero-padded at the end to ``N_ref``.
    Only whole-sample delays are compensated (docs/benchmarks.md: what Opus needs).
    """
    ref = _as_float64(reference).reshape(-1)
    if delay is None:
        delay = estimate_delay(ref, estimate, max_lag, segment, min_corr)
    return shift(estimate, delay, len(ref)), int(delay)
