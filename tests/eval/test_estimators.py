
import numpy as np
import pytest

from audiodiff.eval.estimators import (
    adherence,
    estimate_audio_key,
    estimate_audio_tempo,
    key_from_chroma,
    summarize,
    tempo_bin,
    weighted_key_score,
)
from audiodiff.music.theory import Key, estimate_key

SR = 22050


def tone(freq: float, seconds: float, harmonics: int = 6) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, harmonics + 1))


def test_key_of_a_harmonic_rich_cadence_is_the_tonic_not_the_dominant():
    # I - IV - V - I in D major with sawtooth-like tones (strong third harmonics)
    chords = [(62, 66, 69), (67, 71, 74), (69, 73, 76), (62, 66, 69)]
    audio = np.concatenate([sum(tone(440 * 2 ** ((p - 69) / 12), 1.0) for p in c) for c in chords])
    assert estimate_audio_key(audio.astype(np.float32), SR) == Key(2, "major")


def test_key_from_chroma_takes_the_fifth_leak_out_of_each_pitch_class_a_fifth_up():
    # I - IV - vi - V7 I of D major by duration (bars): D F# A 1.5, G B D 1, B D F# 1, A C# E G 0.5
    chroma = np.zeros(12)
    for pitch_classes, bars in (((2, 6, 9), 1.5), ((7, 11, 2), 1.0), ((11, 2, 6), 1.0), ((9, 1, 4, 7), 0.5)):
        chroma[list(pitch_classes)] += bars
    assert key_from_chroma(chroma, 0.0) == estimate_key(chroma) == Key(2, "major")
    corrected = chroma.copy()
    for pc in range(12):  # pitch class pc loses 0.3 of the one a fifth below it: D loses G's, A loses D's
        corrected[pc] -= 0.3 * chroma[(pc - 7) % 12]
    assert corrected[2] == pytest.approx(3.5 - 0.3 * 1.5) and corrected[9] == pytest.approx(2.0 - 0.3 * 3.5)
    assert key_from_chroma(chroma, 0.3) == estimate_key(corrected)


def test_tempo_of_a_click_track():
    audio = np.zeros(SR * 8, dtype=np.float32)
    for beat in np.arange(0, 8, 60 / 120):
        i = int(beat * SR)
        audio[i:i + 200] = np.hanning(200)
    assert estimate_audio_tempo(audio, SR) == pytest.approx(120, rel=0.04)


def test_adherence_criteria():
    d = Key(2, "minor")
    a = adherence(d, 100.0, d.relative, 103.0)
    assert (a.key_exact, a.key_relative, a.tempo_within, a.tempo_bin) == (False, True, True, True)
    b = adherence(d, 100.0, d, 200.0)
    assert (b.key_exact, b.tempo_within, b.tempo_bin, b.tempo_bin_near) == (True, False, False, False)
    assert summarize([a, b])["key_exact"] == 0.5
    assert (a.key_weighted, b.key_weighted) == (0.3, 1.0) and summarize([a, b])["key_weighted"] == 0.65
    assert [tempo_bin(x) for x in (30, 40, 65, 100, 220)] == [0, 1, 2, 4, 8]


def test_weighted_key_score_follows_mirex():
    d_minor = Key(2, "minor")
    assert weighted_key_score(d_minor, Key(9, "minor")) == 0.5  # a fifth up, same mode
    assert weighted_key_score(d_minor, Key(2, "major")) == 0.2  # parallel
    assert weighted_key_score(Key(5, "major"), d_minor) == 0.3  # relative minor of F major
    assert weighted_key_score(d_minor, Key(7, "minor")) == 0.0  # a fifth down is not scored
    assert weighted_key_score(Key(10, "major"), Key(10, "major")) == 1.0


def test_adherence_on_hand_made_cases():
    """Known answers at the documented boundaries: 4 % tempo tolerance, bin edges 40, 60, 70, 90, 110,
    140, 160, 210 (a tempo on an edge belongs to the bin above), the relative key counted only by key_relative."""
    d = Key(2, "minor")
    f_major, d_major = Key(5, "major"), Key(2, "major")
    cases = [  # label bpm, estimate key, estimate bpm -> exact, relative, within 4 %, same bin, near bin
        (100.0, d, 104.0, (True, True, True, True, True)),
        (100.0, d, 96.0, (True, True, True, True, True)),
        (100.0, d, 104.5, (True, True, False, True, True)),
        (100.0, f_major, 95.5, (False, True, False, True, True)),
        (100.0, d_major, 120.0, (False, False, False, False, True)),  # bins 4 and 5
        (100.0, d, 150.0, (True, True, False, False, False)),  # bins 4 and 6
        (61.0, d, 59.0, (True, True, True, False, True)),  # either side of the 60 edge
        (200.0, d, 100.0, (True, True, False, False, False)),  # the octave error
    ]
    for label_bpm, est_key, est_bpm, expected in cases:
        a = adherence(d, label_bpm, est_key, est_bpm)
        got = (a.key_exact, a.key_relative, a.tempo_within, a.tempo_bin, a.tempo_bin_near)
        assert got == expected, (label_bpm, est_key, est_bpm)
    assert [tempo_bin(x) for x in (39.9, 40, 59.9, 60, 69, 70, 90, 109.9, 110, 140, 160, 209, 210)] == [
        0, 1, 1, 2, 2, 3, 4, 4, 5, 6, 7, 7, 8]
    results = [adherence(d, 100, d, 100), adherence(d, 100, f_major, 100), adherence(d, 100, d_major, 200)]
    assert summarize(results) == {"key_exact": pytest.approx(1 / 3), "key_relative": pytest.approx(2 / 3),
                                  "tempo_within": pytest.approx(2 / 3), "tempo_bin": pytest.approx(2 / 3),
                                  "tempo_bin_near": pytest.approx(2 / 3),
                                  # MIREX weights: exact 1, relative 0.3, parallel 0.2
                                  "key_weighted": pytest.approx((1 + 0.3 + 0.2) / 3)}
    assert summarize([]) == {}
