"""WAV writing and reading: atomic files, the clipping guard, mono mixing and resampling."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiodiff.io.audio import PEAK_DBFS, read_audio, write_wav
from audiodiff.pipeline import fade_out

SR = 24000


def test_write_wav_is_atomic_and_normalises_only_what_would_clip(tmp_path):
    quiet = (0.5 * np.sin(np.linspace(0, 200, SR))).astype(np.float32)
    path = tmp_path / "q.wav"
    assert write_wav(path, quiet, SR) is False
    back, rate = sf.read(path, dtype="float32")
    assert rate == SR and np.abs(back - quiet).max() < 1e-4
    assert write_wav(path, 3 * quiet, SR) is True  # overwrites in place
    back, _ = sf.read(path, dtype="float32")
    assert np.abs(back).max() == pytest.approx(10 ** (PEAK_DBFS / 20), abs=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["q.wav"]
    with pytest.raises(ValueError, match="NaN"):
        write_wav(tmp_path / "n.wav", np.array([0.0, np.nan], dtype=np.float32), SR)
    assert not (tmp_path / "n.wav").exists() and len(list(tmp_path.iterdir())) == 1


def test_read_audio_mixes_to_mono_and_resamples(tmp_path):
    stereo = np.stack([np.full(4800, 0.2), np.full(4800, 0.4)], axis=1).astype(np.float32)
    sf.write(tmp_path / "s.flac", stereo, 48000)
    audio, rate = read_audio(tmp_path / "s.flac")
    assert rate == 48000 and audio.dtype == np.float32 and audio.shape == (4800,)
    assert np.allclose(audio, 0.3, atol=1e-3)
    audio, rate = read_audio(tmp_path / "s.flac", sample_rate=SR)
    assert rate == SR and audio.shape == (2400,) and np.allclose(audio[200:-200], 0.3, atol=1e-2)
    (tmp_path / "x.wav").write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a readable audio file"):
        read_audio(tmp_path / "x.wav")


def test_fade_out_ends_at_zero():
    audio = np.ones(SR, dtype=np.float32)
    faded = fade_out(audio, SR)
    assert faded[-1] == pytest.approx(0.0, abs=1e-7) and faded[: SR - 1200].min() == 1.0 and audio.min() == 1.0
