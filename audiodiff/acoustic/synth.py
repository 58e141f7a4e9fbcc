"""A tiny deterministic synthesizer: the sketch of a part that the acoustic model refines.

The acoustic model does not have to find *where* the notes are from a piano roll alone: each part
is first played by this synth (numpy, no sample library), the sketch is encoded by the codec's
encoder, and the model turns those latents into the instrument's real sound. The sketch only
needs the right pitches, onsets, lengths and loudness and a rough family timbre, so every GM
family gets one recipe: a harmonic spectrum (tilt, odd/even balance) in a wavetable and an
envelope (attack, decay to a sustain level, release). Drums are shaped noise and pitch sweeps.

Everything is a pure function of the notes: the same part always gives the same samples.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiodiff.music.performance import Part

TABLE_SIZE = 2048
MAX_HARMONIC_HZ = 9000.0
LEVEL = 0.25  # peak of one note at velocity 127
# Sketch versions: a note's gain is LEVEL * (velocity / 127) ** VELOCITY_EXPONENTS[version].
# Version 2 follows the GM velocity curve that FluidSynth plays (40 log10(v / 127) dB: velocity 30
# sounds about 23 dB below 110) and gives synth pads a 40 ms attack; version 1 (exponent 1.5, pads
# 200 ms) is what models made before it learned.
VELOCITY_EXPONENTS = {1: 1.5, 2: 2.0}
SKETCH_VERSION = 2  # what new training data is sketched with; a model records the version it learned


@dataclass(frozen=True)
class Recipe:
    """Timbre of one GM family: harmonic amplitudes ``k ** -tilt`` (even ones times ``even``) and
    an envelope: ``attack`` and ``release`` in seconds, exponential decay with time constant
    ``decay`` seconds (0: none) towards the ``sustain`` level."""

    tilt: float
    even: float
    attack: float
    decay: float
    sustain: float
    release: float


# GM families (program // 8): piano, chromatic percussion, organ, guitar, bass, strings, ensemble,
# brass, reed, pipe, synth lead, synth pad, synth effects, ethnic, percussive, sound effects
FAMILY_RECIPES = (
    Recipe(1.6, 1.0, 0.004, 0.6, 0.0, 0.12),
    Recipe(2.6, 0.3, 0.002, 0.35, 0.0, 0.10),
    Recipe(1.0, 1.0, 0.012, 0.0, 1.0, 0.06),
    Recipe(1.5, 0.8, 0.003, 0.45, 0.0, 0.10),
    Recipe(1.9, 0.9, 0.005, 0.5, 0.15, 0.08),
    Recipe(1.0, 1.0, 0.060, 0.0, 1.0, 0.15),
    Recipe(1.2, 1.0, 0.080, 0.0, 1.0, 0.20),
    Recipe(0.9, 1.0, 0.030, 0.8, 0.7, 0.08),
    Recipe(1.1, 0.25, 0.020, 0.0, 1.0, 0.06),
    Recipe(3.0, 0.5, 0.030, 0.0, 1.0, 0.08),
    Recipe(0.8, 1.0, 0.008, 0.0, 1.0, 0.08),
    Recipe(1.5, 1.0, 0.040, 0.0, 1.0, 0.35),
    Recipe(1.2, 1.0, 0.050, 1.0, 0.5, 0.30),
    Recipe(1.5, 0.7, 0.003, 0.4, 0.0, 0.10),
    Recipe(2.2, 0.6, 0.001, 0.15, 0.0, 0.05),
    Recipe(1.0, 1.0, 0.010, 0.5, 0.3, 0.10),
)


# the families whose recipe was another in version 1: synth pads attacked over 200 ms
VERSION_1_RECIPES = {11: Recipe(1.5, 1.0, 0.200, 0.0, 1.0, 0.35)}


def recipe_for(program: int, version: int = SKETCH_VERSION) -> Recipe:
    """The recipe of a GM program (0..127) in sketch synth ``version``."""
    family = int(program) // 8
    if version == 1 and family in VERSION_1_RECIPES:
        return VERSION_1_RECIPES[family]
    return FAMILY_RECIPES[family]


def _wavetable(recipe: Recipe, f0: float) -> np.ndarray:
    """One period ``[TABLE_SIZE]`` of the recipe's spectrum at ``f0`` Hz, peak-normalised."""
    k = np.arange(1, max(2, int(MAX_HARMONIC_HZ // max(f0, 1.0))) + 1)
    amps = k.astype(np.float64) ** -recipe.tilt
    amps[1::2] *= recipe.even
    phase = np.arange(TABLE_SIZE) / TABLE_SIZE
    table = (amps[:, None] * np.sin(2 * np.pi * k[:, None] * phase[None])).sum(axis=0)
    return (table / np.abs(table).max()).astype(np.float32)


def _envelope(recipe: Recipe, held: int, total: int, sample_rate: int) -> np.ndarray:
    """Envelope ``[total]``: attack, decay towards sustain while held (``held`` samples), release."""
    t = np.arange(total) / sample_rate
    attack = np.minimum(1.0, t / max(recipe.attack, 1e-4))
    if recipe.decay > 0:
        body = recipe.sustain + (1 - recipe.sustain) * np.exp(-t / recipe.decay)
    else:
        body = np.ones_like(t)
    env = attack * body
    if total > held:
        level = env[held - 1] if held > 0 else 0.0
        env[held:] = level * np.exp(-(t[held:] - t[held]) / max(recipe.release / 5, 1e-3))
    return env.astype(np.float32)


def _pitched_note(pitch: int, length: int, total: int, gain: float, recipe: Recipe,
                  sample_rate: int) -> np.ndarray:
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    table = _wavetable(recipe, f0)
    index = (np.arange(total) * (f0 * TABLE_SIZE / sample_rate)).astype(np.int64) % TABLE_SIZE
    return table[index] * _envelope(recipe, length, total, sample_rate) * gain


def _gain(velocity: int, version: int) -> float:
    return LEVEL * (max(1, min(127, int(velocity))) / 127) ** VELOCITY_EXPONENTS[version]


def _noise(total: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(total).astype(np.float32)


def _drum_hit(pitch: int, gain: float, sample_rate: int) -> np.ndarray:
    """One GM drum hit (pitch 35..81) as shaped noise or a pitch sweep; ``[samples]``."""
    def decay(seconds: float, tau: float) -> tuple[np.ndarray, np.ndarray]:
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        return t, np.exp(-t / tau).astype(np.float32)

    if pitch in (35, 36):  # kick: 120 -> 50 Hz sweep
        t, env = decay(0.35, 0.08)
        freq = 50 + 70 * np.exp(-t / 0.03)
        wave = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate).astype(np.float32) * env
    elif pitch in (37, 38, 39, 40):  # snare: noise and a 190 Hz body
        t, env = decay(0.25, 0.05)
        wave = 0.6 * _noise(len(t), pitch) * env + 0.5 * np.sin(2 * np.pi * 190 * t).astype(np.float32) * env
    elif pitch in (42, 44, 46):  # hats: high-passed noise, open hat rings longer
        _, env = decay(0.4 if pitch == 46 else 0.1, 0.12 if pitch == 46 else 0.02)
        wave = np.diff(_noise(len(env) + 1, pitch)) * 0.5 * env
    elif pitch in (41, 43, 45, 47, 48, 50):  # toms: a pitch per drum
        t, env = decay(0.4, 0.12)
        tom_hz = 80 * 2 ** ((pitch - 41) / 12)
        wave = np.sin(2 * np.pi * tom_hz * t).astype(np.float32) * env
    elif pitch in (49, 51, 52, 53, 55, 57, 59):  # cymbals and ride
        _, env = decay(1.2, 0.35)
        wave = np.diff(_noise(len(env) + 1, pitch)) * 0.35 * env
    else:  # other percussion: short band of noise
        t, env = decay(0.15, 0.04)
        wave = _noise(len(t), pitch) * np.sin(2 * np.pi * (300 + 40 * (pitch % 12)) * t).astype(np.float32) * env
    return wave.astype(np.float32) * gain * 1.5


def synth_part(part: Part, num_samples: int, sample_rate: int = 24000, version: int = SKETCH_VERSION) -> np.ndarray:
    """The sketch of ``part`` as float32 mono ``[num_samples]`` at ``sample_rate`` Hz, as sketch
    synth ``version`` plays it (a key of :data:`VELOCITY_EXPONENTS`).

    Notes start at ``round(start * sample_rate)`` (a note that began before 0 sounds from 0, as
    if already playing); pitched notes ring for their recipe's release after their end; nothing
    is written past ``num_samples``.
    """
    if version not in VELOCITY_EXPONENTS:
        raise ValueError(f"unknown sketch synth version {version} (known: {', '.join(map(str, VELOCITY_EXPONENTS))})")
    out = np.zeros(num_samples, dtype=np.float32)
    for note in part.notes:
        on = int(round(note.start * sample_rate))
        if on >= num_samples:
            continue
        gain = _gain(note.velocity, version)
        if part.is_drum:
            wave = _drum_hit(note.pitch, gain, sample_rate)
        else:
            held = max(1, int(round((note.end - note.start) * sample_rate)))
            recipe = recipe_for(part.program, version)
            release = int(recipe.release * sample_rate)
            wave = _pitched_note(note.pitch, held, held + release, gain, recipe, sample_rate)
        if on < 0:
            wave, on = wave[-on:], 0
        end = min(num_samples, on + len(wave))
        out[on:end] += wave[: end - on]
    return out
