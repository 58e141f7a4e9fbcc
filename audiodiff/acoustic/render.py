"""A piece's parts -> their latents, each part rendered alone (the acoustic level's entry point).

Every part is sketched by :mod:`audiodiff.acoustic.synth`, the sketch is encoded by the codec's
encoder, and the acoustic model refines the sketch latents into the instrument's latents; the
codec decodes each part and the piece is the sum of its parts (its stems). A part's noise seed is
derived from the piece's seed and the part's own content, never from its position in the file, so
reordering a file's tracks changes nothing (:func:`audiodiff.seeds.part_seed`). Everything here is
numpy: the codec and the acoustic model are those of either backend (:mod:`audiodiff.backends`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from audiodiff.acoustic.sampling import DEFAULT_START_SIGMA, LatentWriter, window_schedule
from audiodiff.acoustic.synth import synth_part
from audiodiff.music.performance import Part
from audiodiff.seeds import part_seed

if TYPE_CHECKING:
    from audiodiff.backends import Codec

ENCODER_MARGIN_FRAMES = 8  # sketch frames encoded past those the model sees: the encoder looks ahead


def sketch_latents(codec: Codec, parts: Sequence[Part], frames: int, version: int) -> np.ndarray:
    """Codec latents ``[P, D, frames]`` of the parts' sketches by sketch synth ``version`` (times in
    seconds from frame 0), each part encoded alone."""
    samples = frames * codec.hop_length
    wav = np.stack([synth_part(p, samples, codec.sample_rate, version) for p in parts]).astype(np.float32)[:, None]
    return np.concatenate([codec.encode(w[None]) for w in wav])[..., :frames]


def render_parts(acoustic: LatentWriter, codec: Codec, parts: Sequence[Part], seed: int, frames: int, *,
                 steps: int, guidance: float, sampler: str, start_sigma: float = DEFAULT_START_SIGMA,
                 prefix: np.ndarray | None = None, stream: int = 0) -> np.ndarray:
    """Float32 latents ``[P, D, frames]`` of ``parts`` (each alone), continuing ``prefix [P, D, K]`` when given.

    ``stream`` separates noise (continuations draw other noise than the first render)."""
    seeds = [part_seed(seed, p, stream) for p in parts]
    # The last window reaches past ``frames``: it sees the sketch there too (not silence), so a render
    # cut short is the start of the whole one and a clip's latents can be rendered again up to a seam.
    window, known = acoustic.config.window_frames, 0 if prefix is None else prefix.shape[-1]
    spans = window_schedule(frames, known, window, acoustic.config.context_frames)
    cover = max([frames, known] + [start + window for start, _ in spans])
    version = acoustic.config.sketch_version  # the sketches the model learned
    sketches = sketch_latents(codec, parts, cover + ENCODER_MARGIN_FRAMES, version)[..., :cover]
    return acoustic.generate(parts, sketches, seeds, steps=steps, guidance=guidance, sampler=sampler,
                             start_sigma=start_sigma, prefix=prefix)[..., :frames]


GATE_ATTACK_SECONDS = 0.01  # the gate opens this long before a note starts
GATE_RELEASE_SECONDS = 0.5  # and closes over this long after the part's sounding notes end


def note_gate(part: Part, num_samples: int, sample_rate: int) -> np.ndarray:
    """Gain ``[num_samples]`` in [0, 1]: 1 while a note of ``part`` sounds, falling to 0 over
    ``GATE_RELEASE_SECONDS`` after (a squared ramp, room for the instrument's release and reverb),
    0 where nothing has sounded for longer; a part is silent in its rests whatever the network makes."""
    rate = 1000  # control rate (Hz)
    steps = num_samples * rate // sample_rate + 2
    since = np.full(steps, np.inf)  # seconds since the last sounding note ended (0 while one sounds)
    for note in part.notes:
        on = max(0, int((note.start - GATE_ATTACK_SECONDS) * rate))
        off = min(steps, max(on + 1, int(np.ceil(note.end * rate))))
        if on >= steps:
            continue
        since[on:off] = 0.0
        tail = np.arange(off, min(steps, off + int(GATE_RELEASE_SECONDS * rate) + 1))
        since[tail] = np.minimum(since[tail], (tail - off + 1) / rate)
    control = np.clip(1.0 - since / GATE_RELEASE_SECONDS, 0.0, 1.0) ** 2
    control = np.convolve(control, np.ones(5) / 5, mode="same")  # 5 ms edges: no clicks
    t = np.arange(num_samples) * (rate / sample_rate)
    return np.interp(t, np.arange(steps), control).astype(np.float32)
