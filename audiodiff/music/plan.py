"""The plan: the musical contract between the levels (key, tempo, meter, tracks of notes, chords).

Time is counted in 16th-note grid steps from the first bar line; step 0 is the start of bar 0.
A pickup (anacrusis) sits at the end of bar 0, so bar lines are always at multiples of
``meter.steps_per_bar``. Window plans cut from a longer piece may hold notes with a negative
start: they began before the window and still sound in it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from audiodiff.music.theory import Chord, Key, Meter, parse_pitch_class

DRUM_CHANNEL = 9
TAIL_SECONDS = 1.0  # audio after a plan's last step: the notes' release and reverb


@dataclass(frozen=True)
class Note:
    """One note: MIDI pitch, start and duration in 16th steps, velocity 1..127."""

    pitch: int
    start: int
    duration: int
    velocity: int = 90

    @property
    def end(self) -> int:
        return self.start + self.duration


@dataclass
class Track:
    """An instrument part: a General MIDI program (0..127) or the drum kit, and its notes."""

    name: str
    program: int
    notes: list[Note] = field(default_factory=list)
    is_drum: bool = False


@dataclass
class Plan:
    """A piece: key, tempo in beats per minute of the meter's beat, meter, tracks, chord per beat.

    ``chords[i]`` is the chord sounding on beat i (None where there is no harmony);
    ``num_steps`` is the length of the piece in 16th steps.
    """

    key: Key
    bpm: float
    meter: Meter
    tracks: list[Track]
    chords: list[Chord | None]
    num_steps: int

    def __post_init__(self) -> None:
        if not self.bpm > 0:
            raise ValueError(f"bpm must be positive, got {self.bpm}")

    # -- time arithmetic -------------------------------------------------------------------
    @property
    def seconds_per_step(self) -> float:
        return 60.0 / self.bpm / self.meter.steps_per_beat

    @property
    def seconds(self) -> float:
        return self.num_steps * self.seconds_per_step

    @property
    def num_bars(self) -> int:
        return -(-self.num_steps // self.meter.steps_per_bar)

    @property
    def num_beats(self) -> int:
        return -(-self.num_steps // self.meter.steps_per_beat)

    def step_to_seconds(self, step: float) -> float:
        return step * self.seconds_per_step

    def step_to_frame(self, step: float, fps: float) -> int:
        """Frame index of a grid step: round(beat * 60 / bpm * fps)."""
        beat = step / self.meter.steps_per_beat
        return int(round(beat * 60.0 / self.bpm * fps))

    @property
    def melody(self) -> Track | None:
        """The first non-drum track (by convention the melody)."""
        return next((t for t in self.tracks if not t.is_drum), None)

    @property
    def programs(self) -> list[int]:
        """GM programs of the pitched tracks, in track order."""
        return [t.program for t in self.tracks if not t.is_drum]

    # -- editing -------------------------------------------------------------------------
    def transpose(self, semitones: int) -> "Plan":
        """The same plan in another key (drums untouched)."""
        tracks = [
            t if t.is_drum else replace(t, notes=[replace(n, pitch=n.pitch + semitones) for n in t.notes])
            for t in self.tracks
        ]
        chords = [c.transpose(semitones) if c else None for c in self.chords]
        return replace(self, key=self.key.transpose(semitones), tracks=tracks, chords=chords)

    def crop(self, start_step: int, num_steps: int) -> "Plan":
        """The plan of steps [start_step, start_step + num_steps), times relative to start_step.

        Notes sounding at start_step keep their true (negative) start; notes starting at or after
        the end are dropped. ``start_step`` must be on a beat so chords stay per beat.
        """
        spb = self.meter.steps_per_beat
        if start_step % spb:
            raise ValueError(f"crop must start on a beat (multiple of {spb} steps), got {start_step}")
        end = start_step + num_steps
        tracks = [
            replace(t, notes=[replace(n, start=n.start - start_step) for n in t.notes
                              if n.end > start_step and n.start < end])
            for t in self.tracks
        ]
        first_beat = start_step // spb
        chords = self.chords[first_beat: first_beat + -(-num_steps // spb)]
        return replace(self, tracks=tracks, chords=chords, num_steps=num_steps)

    # -- features ------------------------------------------------------------------------
    def piano_roll(self, fps: float, num_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Frame-rate piano rolls aligned by tempo.

        Returns (active, onset), each float32 [num_tracks, 128, num_frames]: active is the note's
        velocity/127 while it sounds, onset is 1 on the frame where it starts (drum tracks mark
        their hits as onsets of duration one step). Notes are clipped to [0, num_frames).
        """
        if num_frames is None:
            num_frames = self.step_to_frame(self.num_steps, fps)
        active = np.zeros((len(self.tracks), 128, num_frames), dtype=np.float32)
        onset = np.zeros_like(active)
        for i, track in enumerate(self.tracks):
            for note in track.notes:
                a = self.step_to_frame(note.start, fps)
                b = max(self.step_to_frame(note.end, fps), a + 1)
                lo, hi = max(a, 0), min(b, num_frames)
                if lo < hi:
                    active[i, note.pitch, lo:hi] = note.velocity / 127.0
                if 0 <= a < num_frames:
                    onset[i, note.pitch, a] = 1.0
        return active, onset

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (notes as [pitch, start, duration, velocity] lists)."""
        return {
            "key": self.key.name,
            "bpm": self.bpm,
            "meter": self.meter.name,
            "num_steps": self.num_steps,
            "chords": [c.symbol_in(self.key) if c else None for c in self.chords],
            "tracks": [
                {"name": t.name, "program": t.program, "is_drum": t.is_drum,
                 "notes": [[n.pitch, n.start, n.duration, n.velocity] for n in t.notes]}
                for t in self.tracks
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Plan":
        tonic, mode = data["key"].rsplit(" ", 1)

        return cls(
            key=Key(parse_pitch_class(tonic), mode),
            bpm=float(data["bpm"]),
            meter=Meter.parse(data["meter"]),
            num_steps=int(data["num_steps"]),
            chords=[Chord.parse(c) if c else None for c in data["chords"]],
            tracks=[
                Track(t["name"], int(t["program"]), [Note(*map(int, n)) for n in t["notes"]],
                      bool(t["is_drum"]))
                for t in data["tracks"]
            ],
        )
