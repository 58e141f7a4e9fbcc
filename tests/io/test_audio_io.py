"""WAV writing and reading: atomic files, the clipping guard, mono mixing and resampling."""
from __future__ import annotations

from pathlib import Path

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


def test_peak_normalize_known_values():
    from audiodiff.io.audio import peak_normalize

    audio = np.array([0.5, -2.0, 1.0], dtype=np.float32)
    out, clipped = peak_normalize(audio)
    target = 10 ** (-1 / 20)  # -1 dBFS = 0.891
    assert clipped is True and out.dtype == np.float32
    assert np.allclose(out, [0.25 * target, -target, 0.5 * target], rtol=1e-6)
    out, clipped = peak_normalize(np.array([3.0, 1.5]), peak_dbfs=-6.0)
    assert clipped and np.allclose(out, [10 ** (-6 / 20), 0.5 * 10 ** (-6 / 20)], rtol=1e-6)
    exactly_full = np.array([1.0, -1.0, 0.25], dtype=np.float32)
    out, clipped = peak_normalize(exactly_full)
    assert clipped is False and np.array_equal(out, exactly_full)  # full scale does not clip
    out, clipped = peak_normalize(np.zeros(0))
    assert clipped is False and out.size == 0 and out.dtype == np.float32
    for bad in (np.inf, -np.inf, np.nan):
        with pytest.raises(ValueError) as info:
            peak_normalize(np.array([0.0, bad]))
        assert str(info.value) == "audio holds NaN or infinite samples; refusing to write it"


def test_write_wav_writes_16_bit_pcm_and_refuses_non_mono(tmp_path):
    path = tmp_path / "a.wav"
    ramp = np.linspace(-0.5, 0.5, 1000).astype(np.float32)
    assert write_wav(path, ramp, 16000) is False
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.frames, info.subtype, info.format) == (16000, 1, 1000, "PCM_16", "WAV")
    back, _ = sf.read(path, dtype="int16")
    assert np.abs(back.astype(np.int32) - ramp * 32768).max() <= 1  # 16-bit PCM of the ramp
    with pytest.raises(ValueError) as info:
        write_wav(tmp_path / "s.wav", np.zeros((2, 10), dtype=np.float32), SR)
    assert str(info.value) == "expected mono audio [N], got shape [2, 10]"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_a_wav_write_that_fails_midway_leaves_the_old_file_intact(tmp_path, monkeypatch):
    """Inject a crash after part of the file is written: a non-atomic writer would leave it torn."""
    path = tmp_path / "a.wav"
    write_wav(path, np.zeros(100, dtype=np.float32), SR)
    before = path.read_bytes()

    def torn_write(file, data, samplerate, subtype=None, format=None):
        Path(file).write_bytes(b"RIFF half a wav")
        raise sf.LibsndfileError(0, "disk full")

    monkeypatch.setattr(sf, "write", torn_write)
    with pytest.raises(OSError) as info:
        write_wav(path, np.ones(100, dtype=np.float32) * 0.5, SR)
    assert str(info.value).startswith(f"{path}: cannot write WAV (")
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_read_audio_keeps_the_rate_unless_asked_and_resamples_a_tone_to_the_same_pitch(tmp_path):
    t = np.arange(48000) / 48000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    sf.write(tmp_path / "t.wav", tone, 48000, subtype="FLOAT")
    same, rate = read_audio(tmp_path / "t.wav", sample_rate=48000)
    assert rate == 48000 and np.array_equal(same, tone)
    down, rate = read_audio(tmp_path / "t.wav", sample_rate=16000)
    assert rate == 16000 and down.shape == (16000,) and down.dtype == np.float32 and isinstance(rate, int)
    spectrum = np.abs(np.fft.rfft(down[2000:-2000]))
    peak_hz = np.argmax(spectrum) * 16000 / len(down[2000:-2000])
    assert abs(peak_hz - 1000) < 2 and np.abs(down[2000:-2000]).max() == pytest.approx(0.5, abs=0.01)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"nope")
    with pytest.raises(ValueError) as info:
        read_audio(junk)
    assert str(info.value) == f"{junk}: not a readable audio file (Error opening {str(junk)!r}: Format not recognised.)"


def test_write_wav_honours_the_subtype_and_writes_wav_whatever_the_name(tmp_path):
    audio = np.linspace(-0.5, 0.5, 100).astype(np.float32)
    write_wav(tmp_path / "f.wav", audio, SR, subtype="FLOAT")
    assert sf.info(tmp_path / "f.wav").subtype == "FLOAT"
    back, _ = sf.read(tmp_path / "f.wav", dtype="float32")
    assert np.array_equal(back, audio)  # 32-bit float: exact
    write_wav(tmp_path / "clip.take1", audio, SR)  # the format comes from the call, not the name
    assert (sf.info(tmp_path / "clip.take1").format, sf.info(tmp_path / "clip.take1").subtype) == ("WAV", "PCM_16")
