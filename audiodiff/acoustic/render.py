"""A piece's parts -> their latents, each part rendered alone (the acoustic level's entry point).

Every part is sketched by :mod:`audiodiff.acoustic.synth`, the sketch is encoded by the codec's
encoder, and the acoustic model refines the sketch latents into the instrument's latents; the
codec decodes each part and the piece is the sum of its parts (its stems). A part's noise seed is
derived from the piece's seed and the part's own content, never from its position in the file, so
reordering a file's tracks changes nothing (:func:`audiodiff.seeds.part_seed`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from audiodiff.acoustic.model import DEFAULT_START_SIGMA, AcousticModel, window_schedule
from audiodiff.acoustic.synth import synth_part
from audiodiff.codec.model import Codec
from audiodiff.music.performance import Part
from audiodiff.seeds import part_seed

ENCODER_MARGIN_FRAMES = 8  # sketch frames encoded past those the model sees: the encoder looks ahead


@torch.no_grad()
def sketch_latents(codec: Codec, parts: Sequence[Part], frames: int) -> torch.Tensor:
    """Codec latents ``[P, D, frames]`` of the parts' sketches (times in seconds from frame 0)."""
    samples = frames * codec.hop_length
    wav = torch.from_numpy(np.stack([synth_part(p, samples, codec.sample_rate) for p in parts]))[:, None]
    device = codec.latent_scale.device
    return torch.cat([codec.encode(w[None].to(device)) for w in wav])[..., :frames]


def render_parts(acoustic: AcousticModel, codec: Codec, parts: Sequence[Part], seed: int, frames: int, *,
                 steps: int, guidance: float, sampler: str, start_sigma: float = DEFAULT_START_SIGMA,
                 prefix: torch.Tensor | None = None, stream: int = 0) -> torch.Tensor:
    """Latents ``[P, D, frames]`` of ``parts`` (each alone), continuing ``prefix [P, D, K]`` when given.

    ``stream`` separates noise (continuations draw other noise than the first render)."""
    seeds = [part_seed(seed, p, stream) for p in parts]
    # The last window reaches past ``frames``: it sees the sketch there too (not silence), so a render
    # cut short is the start of the whole one and a clip's latents can be rendered again up to a seam.
    window, known = acoustic.config.window_frames, 0 if prefix is None else prefix.shape[-1]
    spans = window_schedule(frames, known, window, acoustic.config.context_frames)
    cover = max([frames, known] + [start + window for start, _ in spans])
    sketches = sketch_latents(codec, parts, cover + ENCODER_MARGIN_FRAMES)[..., :cover]
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
