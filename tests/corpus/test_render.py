import numpy as np
import pytest

from audiodiff.corpus.render import Renderer
from audiodiff.music.plan import TAIL_SECONDS, Note, Plan, Track
from audiodiff.music.theory import Key, Meter

SR = 24000


@pytest.fixture(scope="module")
def renderer():
    return Renderer(sample_rate=SR)


def test_render_places_a_flute_a4_at_its_time(renderer):
    # 120 bpm 4/4: a step is 0.125 s; the note sounds from 0.5 s to 1.5 s.
    plan = Plan(Key(9, "major"), 120.0, Meter(4, 4), [Track("melody", 73, [Note(69, 4, 8, 100)])], [None] * 4, 16)
    audio = renderer.render(plan)
    assert audio.shape == (int(round((plan.seconds + TAIL_SECONDS) * SR)),)
    assert audio.dtype == np.float32
    before, during = audio[: int(0.45 * SR)], audio[int(0.7 * SR): int(1.4 * SR)]
    assert np.sqrt(np.mean(before ** 2)) < 1e-4
    assert np.sqrt(np.mean(during ** 2)) > 1e-2
    spectrum = np.abs(np.fft.rfft(during * np.hanning(len(during))))
    peak_hz = np.argmax(spectrum) * SR / len(during)
    assert abs(peak_hz - 440.0) < 5.0


def test_drum_track_sounds(renderer):
    plan = Plan(Key(0, "major"), 120.0, Meter(4, 4), [Track("drums", 0, [Note(38, 0, 1, 110)], is_drum=True)],
                [None] * 4, 16)
    audio = renderer.render(plan)
    assert np.abs(audio[: SR // 4]).max() > 0.01


def test_render_is_deterministic(renderer):
    plan = Plan(Key(0, "major"), 100.0, Meter(3, 4),
                [Track("melody", 40, [Note(60 + i, 4 * i, 4) for i in range(6)])], [None] * 6, 24)
    assert np.array_equal(renderer.render(plan), renderer.render(plan))
