"""The notes to render: every note of every part at its real time in seconds.

A :class:`~audiodiff.music.plan.Plan` lives on a 16th-note grid at one tempo; what the acoustic
model and the training renderer play is a :class:`Performance`: parts (a GM program or the drum
kit) whose notes start and end at times in seconds. A plan becomes a performance through its tempo
(:meth:`Performance.from_plan`); a MIDI file's notes arrive in seconds through its whole tempo map,
so off-grid, expressive and tempo-changing music is played as written.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from audiodiff.music.plan import DRUM_CHANNEL, Plan
from audiodiff.music.theory import Key, parse_pitch_class


@dataclass(frozen=True)
class TimedNote:
    """One note: MIDI pitch, start and end in seconds, velocity 1..127."""

    pitch: int
    start: float
    end: float
    velocity: int = 90


@dataclass
class Part:
    """An instrument: a General MIDI program (0..127) or the drum kit, and its timed notes."""

    name: str
    program: int
    notes: list[TimedNote] = field(default_factory=list)
    is_drum: bool = False


@dataclass
class Performance:
    """Parts of timed notes lasting ``seconds`` (notes may ring past it); ``key`` when known."""

    tracks: list[Part]
    seconds: float
    key: Key | None = None

    @classmethod
    def from_plan(cls, plan: Plan) -> Performance:
        """The plan's notes at its tempo: a note at step s starts at ``s * seconds_per_step``."""
        tracks = [Part(t.name, t.program, [TimedNote(n.pitch, plan.step_to_seconds(n.start),
                                                     plan.step_to_seconds(n.end), n.velocity)
                                           for n in t.notes], t.is_drum)
                  for t in plan.tracks]
        return cls(tracks, plan.seconds, plan.key)

    def crop(self, start: float, seconds: float) -> Performance:
        """Notes sounding in ``[start, start + seconds)`` with times relative to ``start`` (notes
        that began earlier keep their negative start)."""
        end = start + seconds
        tracks = [replace(t, notes=[TimedNote(n.pitch, n.start - start, n.end - start, n.velocity)
                                    for n in t.notes if n.end > start and n.start < end])
                  for t in self.tracks]
        return Performance(tracks, seconds, self.key)

    @property
    def programs(self) -> list[int]:
        """GM programs of the pitched parts, in part order."""
        return [t.program for t in self.tracks if not t.is_drum]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (notes as [pitch, start, end, velocity], times rounded to 0.1 ms)."""
        return {"seconds": self.seconds, "key": self.key.name if self.key else None,
                "tracks": [{"name": t.name, "program": t.program, "is_drum": t.is_drum,
                            "notes": [[n.pitch, round(n.start, 4), round(n.end, 4), n.velocity] for n in t.notes]}
                           for t in self.tracks]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Performance:
        key = None
        if data.get("key"):
            tonic, mode = data["key"].rsplit(" ", 1)
            key = Key(parse_pitch_class(tonic), mode)
        return cls([Part(t["name"], int(t["program"]),
                         [TimedNote(int(p), float(s), float(e), int(v)) for p, s, e, v in t["notes"]],
                         bool(t["is_drum"])) for t in data["tracks"]], float(data["seconds"]), key)

    def to_midi(self, path: str | Path, ticks_per_beat: int = 480, bpm: float = 120.0) -> None:
        """Write a type-1 MIDI file: one track per part, times at ``bpm`` (default 120: one beat is
        half a second), drums on channel 10."""
        import mido

        ticks_per_second = ticks_per_beat * bpm / 60.0
        midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
        meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)])
        midi.tracks.append(meta)
        channels = iter(c for c in range(16) if c != DRUM_CHANNEL)
        for part in self.tracks:
            channel = DRUM_CHANNEL if part.is_drum else next(channels, 15)
            events: list[tuple[int, int, mido.Message]] = []
            for n in part.notes:
                on = max(int(round(max(n.start, 0.0) * ticks_per_second)), 0)
                off = max(int(round(n.end * ticks_per_second)), on + 1)
                events.append((on, 1, mido.Message("note_on", channel=channel, note=n.pitch, velocity=n.velocity)))
                events.append((off, 0, mido.Message("note_off", channel=channel, note=n.pitch, velocity=0)))
            events.sort(key=lambda e: (e[0], e[1]))
            track = mido.MidiTrack([mido.MetaMessage("track_name", name=part.name, time=0)])
            if not part.is_drum:
                track.append(mido.Message("program_change", channel=channel, program=part.program, time=0))
            now = 0
            for tick, _, message in events:
                track.append(message.copy(time=tick - now))
                now = tick
            midi.tracks.append(track)
        midi.save(str(path))
