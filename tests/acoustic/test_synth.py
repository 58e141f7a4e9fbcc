"""The sketch synth: a pure function of the notes that puts each note's energy at its time, pitch
and loudness (what the acoustic model refines), drums at their onsets, nothing past the end."""
from __future__ import annotations

import numpy as np
import pytest

from audiodiff.acoustic.synth import recipe_for, synth_part
from audiodiff.music.performance import Part, TimedNote

SR = 24000


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def span(start: float, end: float) -> slice:
    return slice(int(round(start * SR)), int(round(end * SR)))


def test_the_same_part_always_gives_the_same_samples():
    part = Part("piano", 0, [TimedNote(60, 0.1, 0.6, 90), TimedNote(64, 0.3, 0.9, 70)])
    drums = Part("drums", 0, [TimedNote(36, 0.0, 0.1, 100), TimedNote(38, 0.5, 0.6, 90), TimedNote(42, 0.25, 0.3, 60)],
                 is_drum=True)
    for p in (part, drums):
        a, b = synth_part(p, SR, SR), synth_part(p, SR, SR)
        assert a.dtype == np.float32 and a.shape == (SR,) and np.array_equal(a, b) and a.any()


@pytest.mark.parametrize("program, pitch", [(16, 69), (0, 57), (40, 76), (33, 40), (73, 84)])
def test_a_note_sounds_in_its_time_span_at_its_pitch(program, pitch):
    start, end = 0.5, 1.0
    part = Part("p", program, [TimedNote(pitch, start, end, 100)])
    out = synth_part(part, 2 * SR, SR)
    release = recipe_for(program).release
    assert not out[:span(0, start).stop].any()  # silence before the note
    assert not out[span(end + release + 0.01, 2.0)].any()  # and after its release
    held = out[span(start, end)]
    assert rms(held) > 100 * rms(out[span(end + release, 2.0)]) and rms(held) > 1e-3
    # the strongest frequency of the held note is its fundamental (Hann window, 2 Hz bins)
    spectrum = np.abs(np.fft.rfft(held * np.hanning(len(held))))
    peak = np.fft.rfftfreq(len(held), 1 / SR)[np.argmax(spectrum)]
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    assert abs(peak - f0) < 0.03 * f0


def test_a_rest_between_notes_is_silent():
    organ = 16  # sustains fully, short release
    part = Part("organ", organ, [TimedNote(60, 0.0, 0.4, 90), TimedNote(67, 1.0, 1.4, 90)])
    out = synth_part(part, 2 * SR, SR)
    rest = out[span(0.4 + recipe_for(organ).release + 0.005, 1.0)]
    assert len(rest) > 0.4 * SR and not rest.any()
    assert out[span(0.0, 0.4)].any() and out[span(1.0, 1.4)].any()


def test_louder_velocity_makes_a_louder_note():
    def level(velocity: int) -> float:
        return rms(synth_part(Part("p", 0, [TimedNote(60, 0.0, 0.5, velocity)]), SR, SR))
    soft, loud = level(30), level(110)
    assert soft > 0 and loud > 2 * soft


def test_sketch_versions_differ_in_their_velocity_curve():
    def level_db(velocity: int, version: int) -> float:
        return 20 * np.log10(rms(synth_part(Part("p", 0, [TimedNote(60, 0.0, 0.5, velocity)]), SR, SR, version)))
    # version 2: the GM curve, 40 log10(110 / 30) = 22.6 dB; version 1: 30 log10(110 / 30) = 16.9 dB
    assert level_db(110, 2) - level_db(30, 2) == pytest.approx(22.6, abs=0.1)
    assert level_db(110, 1) - level_db(30, 1) == pytest.approx(16.9, abs=0.1)
    assert level_db(127, 1) == pytest.approx(level_db(127, 2))
    # and in their synth pads' attack (200 ms in version 1, 40 ms in version 2)
    pad = Part("pad", 89, [TimedNote(60, 0.0, 1.0, 100)])
    for version, attack in ((1, 0.2), (2, 0.04)):
        assert recipe_for(89, version).attack == attack
        envelope = np.abs(synth_part(pad, SR, SR, version))
        peak = envelope[: int(0.5 * SR)].max()
        first = np.argmax(envelope > 0.9 * peak) / SR  # where the attack is nearly done
        assert 0.8 * attack < first < 1.2 * attack
    assert recipe_for(0, 1) == recipe_for(0, 2)
    with pytest.raises(ValueError, match="unknown sketch synth version 3"):
        synth_part(Part("p", 0, []), SR, SR, 3)


def test_drums_sound_at_their_onsets():
    onsets = {36: 0.25, 38: 0.75, 42: 1.25, 49: 1.5, 45: 0.5, 76: 1.0}
    part = Part("drums", 0, [TimedNote(p, t, t + 0.1, 100) for p, t in onsets.items()], is_drum=True)
    out = synth_part(part, 3 * SR, SR)
    assert not out[:span(0, 0.25).stop].any()
    for pitch, t in onsets.items():
        hit = rms(out[span(t, t + 0.02)])
        alone = synth_part(Part("d", 0, [TimedNote(pitch, t, t + 0.1, 100)], is_drum=True), 3 * SR, SR)
        assert hit > 1e-3, pitch
        assert not alone[:span(0, t).stop].any() and rms(alone[span(t, t + 0.02)]) > 1e-3, pitch
    # a drum part does not ring as a pitched note would: its samples are the hits' and nothing else
    assert np.allclose(out, sum(synth_part(Part("d", 0, [TimedNote(p, t, t + 0.1, 100)], is_drum=True), 3 * SR, SR)
                                for p, t in onsets.items()), atol=1e-6)


def test_nothing_is_written_past_num_samples():
    part = Part("strings", 48, [TimedNote(60, 0.2, 3.0, 90), TimedNote(64, 1.5, 2.0, 90)])
    short, long = synth_part(part, SR // 2, SR), synth_part(part, 4 * SR, SR)
    assert short.shape == (SR // 2,) and np.array_equal(short, long[: SR // 2])
    late = Part("late", 0, [TimedNote(60, 1.0, 1.5, 90)])
    assert not synth_part(late, SR, SR).any()  # starts at the end: nothing
    drums = Part("drums", 0, [TimedNote(49, 0.9, 1.0, 100)], is_drum=True)  # a cymbal rings past the end
    assert np.array_equal(synth_part(drums, SR, SR), synth_part(drums, 2 * SR, SR)[:SR])


@pytest.mark.parametrize("is_drum, pitch", [(False, 62), (True, 49)])
def test_a_note_that_began_before_zero_sounds_from_zero_as_if_already_playing(is_drum, pitch):
    early = Part("p", 0, [TimedNote(pitch, -0.5, 0.3, 90)], is_drum=is_drum)
    later = Part("p", 0, [TimedNote(pitch, 0.0, 0.8, 90)], is_drum=is_drum)
    out = synth_part(early, SR, SR)
    assert np.array_equal(out, synth_part(later, SR + SR // 2, SR)[SR // 2:])
    assert np.abs(out[:240]).max() > 0.1 * np.abs(synth_part(later, SR, SR)).max()  # no new attack at 0
