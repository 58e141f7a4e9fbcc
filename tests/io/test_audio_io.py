"""WAV writing and reading, and the plan-faithfulness measures (no models)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiodiff.eval.faithfulness import chroma_agreement, onset_f1, plan_chroma, plan_onsets
from audiodiff.io.audio import PEAK_DBFS, read_audio, write_wav
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Chord, Key, Meter
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


def test_onset_matching_is_one_to_one_within_tolerance():
    ref = np.array([0.0, 0.5, 1.0, 1.5])
    assert onset_f1(ref, np.array([0.02, 0.04, 0.56, 1.02, 3.0])) == pytest.approx(2 * 2 / 9)  # 0.56 is 60 ms off
    assert onset_f1(ref, ref + 0.049) == 1.0 and onset_f1(ref, np.array([])) == 0.0 and onset_f1([], []) == 1.0
    assert onset_f1(ref, np.array([0.0, 0.5])) == pytest.approx(2 * 2 / 6)
    # closest pair first would match 0.07-0.04 and leave both others unmatched; the best matching pairs both
    assert onset_f1(np.array([0.0, 0.07]), np.array([0.04, 0.11])) == 1.0


def tone_plan() -> Plan:
    """C major triad tones one beat each at 120 bpm (0.5 s), melody on top, drums on the beat."""
    melody = Track("melody", 0, [Note(72, 0, 4), Note(76, 4, 4), Note(79, 8, 4), Note(72, 12, 4)])
    drums = Track("drums", 0, [Note(36, 2 * i, 1) for i in range(8)], is_drum=True)
    return Plan(Key(0, "major"), 120.0, Meter(4, 4), [melody, drums], [Chord(0, "maj")] * 4, 16)


def synth(plan: Plan, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    out = np.zeros_like(t)
    for note in plan.melody.notes:
        a, b = plan.step_to_seconds(note.start), plan.step_to_seconds(note.end)
        on = (t >= a) & (t < b)
        out[on] += 0.3 * np.sin(2 * np.pi * 440 * 2 ** ((note.pitch - 69) / 12) * t[on]) * np.exp(-4 * (t[on] - a))
    return out.astype(np.float32)


@pytest.mark.filterwarnings("ignore::UserWarning")  # librosa: a 2 s clip is short for the lowest CQT octave
def test_plan_onsets_and_chroma_of_a_synthetic_clip():
    plan = tone_plan()
    assert plan_onsets(plan, 2.0, melody_only=True).tolist() == [0.0, 0.5, 1.0, 1.5]
    assert plan_onsets(plan, 1.0).tolist() == [0.0, 0.25, 0.5, 0.75]  # drums too, only in the span
    roll = plan_chroma(plan, 10.0, 20)
    assert roll.shape == (12, 20) and roll[0, 0] > 0 and roll[4, 6] > 0 and roll[7].sum() > 0 and roll[1].sum() == 0
    audio = synth(plan, 2.0)
    right = chroma_agreement(audio, SR, plan)
    wrong = chroma_agreement(audio, SR, plan.transpose(6))
    assert right > 0.8 and right > wrong + 0.3
