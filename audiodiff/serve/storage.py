"""The server's output folder: every clip as ``<id>.wav`` with its sidecar ``<id>.json``, plan ``<id>.mid``,
spectrogram ``<id>.png`` and uploaded MIDI ``<id>.melody.mid`` / ``<id>.source.mid``, side by side as the command
line writes them (``audiodiff extend DIR/<id>.wav`` works on them).

Names come from the server, never from a request: a clip id is ``YYYYMMDD-HHMMSS-xxxx`` (UTC time, 4 random hex
digits) and a file is picked from :data:`FILES` by kind, so no request can reach outside the folder. A clip is
complete once its sidecar exists (the command line's writer moves it into place last); the history lists those.
"""
from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

import numpy as np

CLIP_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")
FILES = {"wav": ".wav", "json": ".json", "midi": ".mid", "png": ".png", "melody": ".melody.mid",
         "source": ".source.mid"}
STEM = re.compile(r"stem-([a-z0-9_]{1,32})")  # kind of a stem file <id>.stem-<name>.wav
MEDIA_TYPES = {".wav": "audio/wav", ".json": "application/json", ".mid": "audio/midi", ".png": "image/png"}
MAX_HISTORY = 500
MIDI_MAGIC = b"MThd"
MAX_HZ = 8000.0  # the spectrogram's top, as in audiodiff.io.plot


class NotFound(LookupError):
    """No such clip or file."""


def check_midi_upload(data: bytes, limit: int) -> None:
    """Refuse an upload that is empty, larger than ``limit`` bytes or not a Standard MIDI File (ValueError);
    the content is then parsed by the command line's reader before any use."""
    if not data:
        raise ValueError("the file is empty; choose a MIDI file (.mid)")
    if len(data) > limit:
        raise ValueError(f"the file is {len(data) / 1024:.0f} KiB; at most {limit // 1024} KiB are accepted")
    if not data.startswith(MIDI_MAGIC):
        raise ValueError("not a MIDI file (it does not start with MThd); choose a Standard MIDI File (.mid)")


class Store:
    """The clips in one folder (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()

    def new_id(self) -> str:
        """A fresh clip id whose files do not exist yet."""
        while True:
            clip = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"
            if not any(self.root.glob(f"{clip}.*")):
                return clip

    def path(self, clip: str, kind: str) -> Path:
        """Where the file of ``kind`` (a key of :data:`FILES`, or ``stem-<name>``) of ``clip`` lives (NotFound for
        a malformed id or kind; the file need not exist)."""
        if not CLIP_ID.fullmatch(clip):
            raise NotFound(f"no clip {clip!r}")
        stem = STEM.fullmatch(kind)
        if stem:
            return self.root / f"{clip}.stem-{stem.group(1)}.wav"
        if kind not in FILES:
            raise NotFound(f"no file kind {kind!r}; kinds: {', '.join(FILES)}")
        return self.root / f"{clip}{FILES[kind]}"

    def existing(self, clip: str, kind: str) -> Path:
        """The file of ``kind`` of a complete clip (NotFound if it does not exist)."""
        path = self.path(clip, kind)
        if not self.path(clip, "json").is_file() or not path.is_file():
            raise NotFound(f"clip {clip} has no {kind} file")
        return path

    def sidecar(self, clip: str) -> dict:
        """The sidecar of a complete clip."""
        return json.loads(self.existing(clip, "json").read_text(encoding="utf-8"))

    def stems(self, clip: str) -> list[str]:
        """The stem kinds of a clip (``stem-<name>``), sorted."""
        return sorted(p.name[len(clip) + 1:-4] for p in self.root.glob(f"{clip}.stem-*.wav")
                      if STEM.fullmatch(p.name[len(clip) + 1:-4]))

    def clips(self) -> list[str]:
        """The complete clips, newest first (at most MAX_HISTORY)."""
        ids = [p.name[:-5] for p in self.root.glob("*.json") if CLIP_ID.fullmatch(p.name[:-5])]
        return sorted(ids, reverse=True)[:MAX_HISTORY]

    def remove(self, clip: str) -> None:
        """Delete every file of ``clip`` (a generation that was cancelled, or one that failed)."""
        self.path(clip, "json")  # checks the id
        for path in self.root.glob(f"{clip}.*"):
            path.unlink(missing_ok=True)

    def write_spectrogram(self, clip: str, audio: np.ndarray, sample_rate: int) -> None:
        """``<id>.png``: the audio's mel spectrogram from 0 Hz to MAX_HZ (mel scale, low pitches at the bottom),
        coloured like :func:`audiodiff.io.plot.save_plot`, one pixel per frame and mel band; the page draws the
        plan over it."""
        from matplotlib.image import imsave

        from audiodiff.io.atomic import atomic_path
        from audiodiff.io.plot import _mel, mel_spectrogram_db

        spec = mel_spectrogram_db(audio, sample_rate)
        rows = int(np.ceil(len(spec) * float(_mel(min(MAX_HZ, sample_rate / 2)) / _mel(sample_rate / 2))))
        with atomic_path(self.path(clip, "png")) as tmp:
            imsave(tmp, spec[:rows], cmap="magma", vmin=-80.0, vmax=0.0, origin="lower", format="png")
