"""Training audio: a plan rendered with FluidSynth and a General MIDI soundfont (data only).

FluidSynth makes training data and is never called to generate music.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from audiodiff.music.performance import Performance
from audiodiff.music.plan import DRUM_CHANNEL, TAIL_SECONDS, Plan

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
)


def find_soundfont(path: str | None = None) -> str:
    """The soundfont to use: ``path``, $AUDIODIFF_SOUNDFONT, or Debian's fluid-soundfont-gm."""
    for candidate in (path, os.environ.get("AUDIODIFF_SOUNDFONT"), *SOUNDFONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    raise FileNotFoundError(
        "no GM soundfont found: install Debian's fluid-soundfont-gm "
        "(apt-get install fluidsynth fluid-soundfont-gm) or pass --soundfont / set AUDIODIFF_SOUNDFONT")


class Renderer:
    """Renders plans with FluidSynth and one soundfont.

    Each render gets a fresh synthesizer (~0.15 s) so that no reverb tail or dither state carries
    over from the previous one: the same plan always gives the same samples.
    """

    def __init__(self, soundfont: str | None = None, sample_rate: int = 24000):
        self.sample_rate = sample_rate
        self.soundfont = find_soundfont(soundfont)

    def render(self, plan: Plan, tail_seconds: float = TAIL_SECONDS) -> np.ndarray:
        """Mono float32 audio [num_samples] of the whole plan plus a release tail."""
        return self.render_performance(Performance.from_plan(plan), tail_seconds)

    def render_performance(self, performance: Performance, tail_seconds: float = TAIL_SECONDS) -> np.ndarray:
        """Mono float32 audio [num_samples] of the performance's notes at their times (seconds)
        plus a release tail: ``round((performance.seconds + tail_seconds) * sample_rate)`` samples."""
        import fluidsynth

        synth = fluidsynth.Synth(gain=0.4, samplerate=float(self.sample_rate))
        try:
            sfid = synth.sfload(self.soundfont)
            if sfid < 0:
                raise RuntimeError(f"FluidSynth could not load the soundfont {self.soundfont}")
            return self._render(synth, sfid, performance, tail_seconds)
        finally:
            synth.delete()

    def _render(self, synth, sfid: int, performance: Performance, tail_seconds: float) -> np.ndarray:
        events: list[tuple[int, int, int, int, int]] = []  # (sample, order, channel, pitch, velocity)
        channel = 0
        for track in performance.tracks:
            if track.is_drum:
                ch = DRUM_CHANNEL
                synth.program_select(ch, sfid, 128, 0)
            else:
                ch = channel if channel < DRUM_CHANNEL else channel + 1
                ch = min(ch, 15)  # more than 15 pitched parts share the last channel
                channel += 1
                synth.program_select(ch, sfid, 0, track.program)
            for note in track.notes:
                on = int(round(max(note.start, 0) * self.sample_rate))
                off = int(round(note.end * self.sample_rate))
                events.append((on, 1, ch, note.pitch, note.velocity))
                events.append((max(off, on + 1), 0, ch, note.pitch, 0))
        events.sort()
        total = int(round((performance.seconds + tail_seconds) * self.sample_rate))
        chunks, now = [], 0
        for sample, _, ch, pitch, velocity in events:
            if sample > now:
                chunks.append(synth.get_samples(sample - now))
                now = sample
            if velocity:
                synth.noteon(ch, pitch, velocity)
            else:
                synth.noteoff(ch, pitch)
        if total > now:
            chunks.append(synth.get_samples(total - now))
        stereo = np.concatenate(chunks).astype(np.float32).reshape(-1, 2) / 32768.0
        return stereo.mean(axis=1)[:total]
