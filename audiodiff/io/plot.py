"""A picture of a result: the plan as a piano roll drawn over the audio's mel spectrogram.

The spectrogram's vertical axis is mel (HTK) frequency; every pitched note is a bar at its
fundamental frequency (half a semitone either side), coloured by track, so one can see at a
glance whether the audio plays what the plan asks (its harmonics sit above the bar). Drum hits
are ticks along the bottom. matplotlib (its Agg canvas, not pyplot) is imported only when a plot
is made.
"""
from __future__ import annotations

import os

import numpy as np

from audiodiff.music.plan import Plan

N_FFT, N_MELS, MAX_HZ = 2048, 128, 8000.0
HZ_TICKS = (50, 100, 200, 500, 1000, 2000, 4000, 8000)


def _mel(hz):
    """HTK mel of a frequency (the scale of :func:`audiodiff.eval.codec_metrics.log_mel`)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _pitch_hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def mel_spectrogram_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel magnitude ``[N_MELS, frames]`` in dB (max 0) from 0 Hz to Nyquist, hop ``N_FFT // 4``."""
    import torch

    from audiodiff.eval.codec_metrics import log_mel

    wav = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
    mel = 20.0 * log_mel(wav, sample_rate, N_FFT, N_MELS)[0].numpy()  # 20 log10 |X|
    return np.maximum(mel - mel.max(), -80.0)


def save_plot(path: str | os.PathLike, plan: Plan, audio: np.ndarray, sample_rate: int,
              title: str | None = None) -> None:
    """Write a PNG of ``plan`` over the mel spectrogram of mono ``audio [N]`` (``sample_rate`` Hz),
    atomically."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    from audiodiff.io.atomic import atomic_path
    from audiodiff.music.instruments import program_name

    seconds = len(audio) / sample_rate
    spec = mel_spectrogram_db(audio, sample_rate)
    top = float(_mel(sample_rate / 2))
    fig = Figure(figsize=(max(8.0, min(24.0, seconds * 0.6)), 5.0), dpi=100)
    FigureCanvasAgg(fig)  # the Agg canvas, without touching pyplot's global backend
    ax = fig.add_subplot()
    ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", extent=(0.0, seconds, 0.0, top),
              interpolation="nearest")
    colours = matplotlib.colormaps["tab10"].colors
    handles = []
    low = float(_mel(30.0))
    for i, track in enumerate(plan.tracks):
        colour = colours[i % len(colours)]
        label = f"{track.name} (drums)" if track.is_drum else f"{track.name} ({program_name(track.program)})"
        handles.append(Patch(facecolor=colour, edgecolor=colour, label=label))
        for note in track.notes:
            t0 = max(plan.step_to_seconds(note.start), 0.0)
            if t0 >= seconds:
                continue
            if track.is_drum:
                ax.plot([t0, t0], [0.0, low], color=colour, linewidth=1.0)
                continue
            t1 = min(plan.step_to_seconds(note.end), seconds)
            y0, y1 = _mel(_pitch_hz(note.pitch - 0.5)), _mel(_pitch_hz(note.pitch + 0.5))
            ax.add_patch(Rectangle((t0, y0), t1 - t0, y1 - y0, facecolor=colour, edgecolor="white",
                                   linewidth=0.3, alpha=0.75))
    bar_seconds = plan.meter.steps_per_bar * plan.seconds_per_step
    for bar in np.arange(bar_seconds, seconds, bar_seconds):
        ax.axvline(bar, color="white", alpha=0.25, linewidth=0.6)
    ticks = [hz for hz in HZ_TICKS if hz <= min(MAX_HZ, sample_rate / 2)]
    ax.set_yticks(_mel(ticks), [f"{hz / 1000:g}k" if hz >= 1000 else str(hz) for hz in ticks])
    ax.set_ylim(0.0, min(top, float(_mel(MAX_HZ))))
    ax.set_xlim(0.0, seconds)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz, mel scale)")
    ax.set_title(title or f"{plan.key.name}, {plan.bpm:g} bpm, {plan.meter}: plan over mel spectrogram")
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
