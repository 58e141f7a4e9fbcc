"""Audio files: write WAV atomically (:mod:`audiodiff.io.atomic`, with a clipping guard), read any
audio file as mono float32."""
from __future__ import annotations

import os

import numpy as np

from audiodiff.io.atomic import atomic_path

PEAK_DBFS = -1.0  # where audio that would clip is normalised to
WAV_SUBTYPE = "PCM_16"


def peak_normalize(audio: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> tuple[np.ndarray, bool]:
    """``(audio, clipped)``: audio whose peak exceeds full scale (|x| > 1) is scaled so its peak
    sits at ``peak_dbfs``; quieter audio is returned unchanged. ``clipped`` says it would have
    clipped. Raises ValueError for NaN or infinite samples."""
    audio = np.asarray(audio, dtype=np.float32)
    if not np.isfinite(audio).all():
        raise ValueError("audio holds NaN or infinite samples; refusing to write it")
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak <= 1.0:
        return audio, False
    return (audio * np.float32(10 ** (peak_dbfs / 20) / peak)).astype(np.float32), True


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, subtype: str = WAV_SUBTYPE,
              file_format: str = "WAV") -> bool:
    """Write mono ``audio [N]`` (float, full scale 1.0) as a WAV file (or ``file_format="FLAC"``) atomically.

    Audio that would clip is peak-normalised to ``PEAK_DBFS`` (-1 dBFS) first; returns True when
    that happened so the caller can warn. The same input always gives the same bytes.
    """
    import soundfile as sf

    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio [N], got shape {list(audio.shape)}")
    audio, clipped = peak_normalize(audio)
    with atomic_path(path) as tmp:
        try:
            sf.write(tmp, audio, int(sample_rate), subtype=subtype, format=file_format)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise OSError(f"{path}: cannot write {file_format} ({exc})") from None
    return clipped


def read_audio(path: str | os.PathLike, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read any soundfile-readable audio as mono float32 ``[N]`` (channels averaged).

    Returns ``(audio, rate)``; with ``sample_rate`` given the audio is resampled to it (and
    ``rate == sample_rate``). Raises ValueError with a one-line message for unreadable files.
    """
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, OSError) as err:
        raise ValueError(f"{path}: not a readable audio file ({' '.join(str(err).split())})") from None
    audio = data.mean(axis=1).astype(np.float32)
    if sample_rate is not None and sample_rate != rate:
        import torch
        from torchaudio.functional import resample

        audio = resample(torch.from_numpy(audio), int(rate), int(sample_rate)).numpy().astype(np.float32)
        rate = sample_rate
    return audio, int(rate)
