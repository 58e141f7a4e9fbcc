"""The Opus baseline of the codec benchmarks: a round trip through ffmpeg's libopus encoder.

Encoding is ``ffmpeg -c:a libopus -b:a <kbps>k -ar <rate> -ac 1`` (20 ms frames, VBR: ffmpeg's
defaults) into an Ogg file, decoded back to mono float WAV at the input's rate. libopus has a
floor (about 5-6 kbps at 20 ms frames): lower requests give the same stream, so the measured rate
is returned beside the audio. Needs ``ffmpeg`` and ``ffprobe`` built with libopus on the PATH (or
given); raises RuntimeError with ffmpeg's message when a step fails.
"""
from __future__ import annotations

import hashlib
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class OpusRoundTrip:
    """Decoded audio ``[M]`` (float32, input's rate; M may differ from the input's length by a few
    samples), the rate in kbps of the whole file and of the Opus packets alone, and a hash of the
    packet sizes (equal hashes: libopus made the same stream)."""

    audio: np.ndarray
    file_kbps: float
    payload_kbps: float
    stream: str


def _run(tool: str, args: list[str]) -> str:
    proc = subprocess.run([tool, *args], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{tool} {shlex.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def opus_round_trip(audio: np.ndarray, sample_rate: int, kbps: float, ffmpeg: str = "ffmpeg",
                    ffprobe: str = "ffprobe") -> OpusRoundTrip:
    """Code mono ``audio [N]`` at ``sample_rate`` Hz with Opus at ``kbps`` and decode it back."""
    import soundfile as sf

    quiet = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-threads", "1"]
    with tempfile.TemporaryDirectory(prefix="opus_") as tmp:
        src, enc, dec = Path(tmp) / "in.wav", Path(tmp) / "out.opus", Path(tmp) / "dec.wav"
        sf.write(src, np.asarray(audio, dtype=np.float32), sample_rate, subtype="FLOAT")
        _run(ffmpeg, [*quiet, "-i", str(src), "-c:a", "libopus", "-b:a", f"{kbps:g}k", "-ar", str(sample_rate),
                      "-ac", "1", str(enc)])
        _run(ffmpeg, [*quiet, "-i", str(enc), "-ar", str(sample_rate), "-ac", "1", "-c:a", "pcm_f32le", str(dec)])
        out, rate = sf.read(dec, dtype="float32", always_2d=True)
        if rate != sample_rate:
            raise RuntimeError(f"ffmpeg decoded Opus at {rate} Hz, asked for {sample_rate} Hz")
        sizes = _run(ffprobe, ["-v", "error", "-select_streams", "a:0", "-show_entries", "packet=size",
                               "-of", "csv=p=0", str(enc)])
        packets = [int(line.split(",")[0]) for line in sizes.split() if line.strip()]
        seconds = len(audio) / sample_rate
        return OpusRoundTrip(out.mean(axis=1), enc.stat().st_size * 8 / seconds / 1000,
                             sum(packets) * 8 / seconds / 1000, hashlib.sha256(str(packets).encode()).hexdigest())
