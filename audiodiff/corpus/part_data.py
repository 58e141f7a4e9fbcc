"""Per-part training data for the acoustic model: every part of an arrangement rendered alone.

For each arrangement (:func:`audiodiff.corpus.arrangements.random_arrangement`, training seed
stream) every part is rendered alone by FluidSynth (the target: what the instrument sounds like)
and by the acoustic level's own sketch synth (:mod:`audiodiff.acoustic.synth`, the conditioning),
and both are encoded by the codec's encoder. All parts of a piece get one gain, so the parts still
sum to the piece's mix and keep their real balance and dynamics (no per-part normalisation).

A shard of arrangements is one folder, written under a temporary name and renamed when complete::

    shard-NNNNN/target.npy   float16 [frames, D]: latents of the FluidSynth parts, back to back
    shard-NNNNN/sketch.npy   float16 [frames, D]: latents of the synth sketches, same frames
    shard-NNNNN/parts.json   codec fingerprint, sketch synth version, frame rate, and per part
                             its offset, frames, program, drum flag and notes
                             ([pitch, start, end, velocity], seconds)

When the sketch synth changes (:data:`audiodiff.acoustic.synth.SKETCH_VERSION`), :func:`resketch_shard`
rewrites a shard's sketches from its notes; the FluidSynth latents stay.

Arrangements play most parts around mezzo-forte, so half the parts of a training piece are played
softer (velocities scaled by :data:`SOFTER`): the model hears the whole velocity range, and learns
how quiet a soft note is.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from audiodiff.acoustic.synth import SKETCH_VERSION, synth_part
from audiodiff.corpus.arrangements import TRAIN_STREAM, random_arrangement
from audiodiff.io.atomic import atomic_path, write_text_atomic
from audiodiff.music.performance import Performance
from audiodiff.music.plan import TAIL_SECONDS

MIX_GAIN = 2.0  # FluidSynth's level at gain 0.4 times this puts a typical mix near -20 dBFS RMS
PEAK = 0.98
SEED_BASE = 50_000_000  # part-data arrangement seeds: disjoint from the mix corpus's
PIECE_SECONDS = (8.0, 14.0)  # short pieces: more pieces (programs, registers, styles) per CPU minute
SOFTER = (0.25, 1.0)  # a softened part's velocities are scaled by a factor log-uniform in this range


def shard_dir(root: str | os.PathLike, index: int) -> Path:
    return Path(root) / f"shard-{index:05d}"


def shard_seeds(index: int, size: int) -> list[int]:
    """Arrangement seeds (training stream) of shard ``index`` holding ``size`` arrangements."""
    return [SEED_BASE + index * size + i for i in range(size)]


def fluidsynth_parts(renderer, performance: Performance) -> list[np.ndarray]:
    """FluidSynth's render of each part alone, ``[samples]`` each, all as long as the piece plus its
    release tail, with one gain for the piece (``MIX_GAIN``; the mix's peak kept below ``PEAK``)."""
    total = int(round((performance.seconds + TAIL_SECONDS) * renderer.sample_rate))
    real = [renderer.render_performance(Performance([part], performance.seconds, performance.key))[:total]
            for part in performance.tracks]
    real = [np.pad(r, (0, total - len(r))) for r in real]
    peak = float(np.abs(np.sum(real, axis=0)).max()) * MIX_GAIN
    gain = MIX_GAIN * (PEAK / peak if peak > PEAK else 1.0)
    return [r * gain for r in real]


def render_each_part(renderer, performance: Performance) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each part alone as FluidSynth plays it (:func:`fluidsynth_parts`) and as the sketch synth
    plays it, ``[samples]`` each, all as long as the piece plus its release tail."""
    real = fluidsynth_parts(renderer, performance)
    return real, [synth_part(part, len(real[0]), renderer.sample_rate) for part in performance.tracks]


def arrangement_pieces(index: int, size: int) -> list[tuple[str, Performance]]:
    """The ``(name, performance)`` pieces of arrangement shard ``index``: short training-stream
    arrangements (:data:`PIECE_SECONDS`), half their parts softened (:func:`vary_dynamics`)."""
    return [(f"arrangement {seed}", vary_dynamics(random_arrangement(seed, TRAIN_STREAM, *PIECE_SECONDS), seed))
            for seed in shard_seeds(index, size)]


def vary_dynamics(performance: Performance, seed: int) -> Performance:
    """``performance`` with each part, by a coin flip, played softer: its velocities times a factor
    drawn log-uniformly from :data:`SOFTER` (at least 1); a pure function of ``seed``."""
    rng = np.random.default_rng([seed, 7])
    tracks = []
    for part in performance.tracks:
        soft, factor = rng.random() < 0.5, float(np.exp(rng.uniform(*np.log(SOFTER))))
        if soft:
            part = replace(part, notes=[replace(n, velocity=max(1, round(n.velocity * factor))) for n in part.notes])
        tracks.append(part)
    return replace(performance, tracks=tracks)


def midi_pieces(paths: list[Path], max_seconds: float = 30.0) -> list[tuple[str, Performance]]:
    """Pieces of a user's MIDI files, played as written, cut into spans of at most ``max_seconds``
    (a note sounding across a cut belongs to the span it starts in); files that cannot be read
    are skipped, so one broken file does not stop a corpus."""
    from audiodiff.music.midi import read_midi

    pieces = []
    for path in paths:
        try:
            performance = read_midi(path).performance()
        except (OSError, ValueError):
            continue
        start = 0.0
        while start < performance.seconds:
            span = performance.crop(start, min(max_seconds, performance.seconds - start))
            span.tracks = [replace(t, notes=[n for n in t.notes if n.start >= 0]) for t in span.tracks]
            if any(t.notes for t in span.tracks):
                pieces.append((f"{path.name} at {start:g} s", span))
            start += max_seconds
    return pieces


def build_shard(root: str | os.PathLike, index: int, pieces: list[tuple[str, Performance]], renderer,
                codec) -> Path:
    """Render, sketch and encode ``pieces`` (name, performance) as shard ``index`` of ``root``
    (skipped when that shard is there already); returns the shard folder."""
    import torch

    from audiodiff.acoustic.data import codec_fingerprint

    final = shard_dir(root, index)
    if (final / "parts.json").is_file():
        return final
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    targets, sketches, parts = [], [], []
    offset = 0
    hop = codec.hop_length
    for name, performance in pieces:
        real, sketch = render_each_part(renderer, performance)
        for part, r, s in zip(performance.tracks, real, sketch):
            if not part.notes:
                continue
            wav = torch.from_numpy(np.stack([r, s]))[:, None]
            with torch.no_grad():
                latents = codec.encode(wav).float().numpy()  # [2, D, ceil(samples / hop)]
            frames = int(np.ceil(len(r) / hop))
            targets.append(latents[0, :, :frames].T.astype(np.float16))
            sketches.append(latents[1, :, :frames].T.astype(np.float16))
            parts.append({"piece": name, "name": part.name, "program": part.program, "is_drum": part.is_drum,
                          "offset": offset, "frames": frames,
                          "notes": [[n.pitch, round(n.start, 4), round(n.end, 4), n.velocity] for n in part.notes]})
            offset += frames
    empty = np.zeros((0, codec.latent_dim), np.float16)
    np.save(tmp / "target.npy", np.concatenate(targets) if targets else empty)
    np.save(tmp / "sketch.npy", np.concatenate(sketches) if sketches else empty)
    meta: dict[str, Any] = {"codec": codec_fingerprint(codec), "sketch": SKETCH_VERSION, "frame_rate": codec.frame_rate,
                            "latent_dim": codec.latent_dim, "sample_rate": renderer.sample_rate, "parts": parts}
    (tmp / "parts.json").write_text(json.dumps(meta))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def resketch_shard(shard: str | os.PathLike, codec) -> bool:
    """Rewrite the sketch latents of ``shard`` from its notes with today's sketch synth (the
    FluidSynth latents are kept); returns False when they are current already. The new sketches
    replace the old ones by a rename, and parts.json names their version only after that, so a
    killed run leaves a shard that is re-sketched again, never a mixed one."""
    import torch

    from audiodiff.acoustic.data import codec_fingerprint, shard_part

    folder = Path(shard)
    meta = json.loads((folder / "parts.json").read_text())
    if meta.get("sketch", 1) == SKETCH_VERSION:
        return False
    if meta["codec"] != codec_fingerprint(codec):
        raise ValueError(f"{folder} holds latents of another codec ({meta['codec']}): rebuild it with this codec")
    sketch = np.zeros((sum(row["frames"] for row in meta["parts"]), codec.latent_dim), np.float16)
    for row in meta["parts"]:
        samples = row["frames"] * codec.hop_length
        wav = torch.from_numpy(synth_part(shard_part(row), samples, codec.sample_rate))[None, None]
        with torch.no_grad():
            latents = codec.encode(wav).float().numpy()[0]  # [D, frames]
        sketch[row["offset"]:row["offset"] + row["frames"]] = latents[:, :row["frames"]].T
    with atomic_path(folder / "sketch.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, sketch)
    meta["sketch"] = SKETCH_VERSION
    write_text_atomic(folder / "parts.json", json.dumps(meta))
    return True


def write_part_audio(root: str | os.PathLike, index: int, pieces: list[tuple[str, Performance]], renderer,
                     split: str = "train") -> list[dict]:
    """The FluidSynth parts of ``pieces`` as 16-bit FLAC files under ``root/audio/<split>/`` (a codec
    corpus: the decoder learns the sound of single parts, what it decodes in the pipeline); returns
    the manifest rows (``id, audio, sample_rate, num_samples, seconds``) for ``<split>.jsonl``."""
    from audiodiff.corpus.items import write_flac

    rows = []
    sr = renderer.sample_rate
    for p, (_, performance) in enumerate(pieces):
        real = fluidsynth_parts(renderer, performance)
        for k, (part, audio) in enumerate(zip(performance.tracks, real)):
            if not part.notes:
                continue
            name = f"s{index:05d}_{p:02d}_{k}"
            path = Path("audio") / split / f"{name}.flac"
            write_flac(Path(root) / path, np.clip(audio, -1, 1), sr)
            rows.append({"id": name, "audio": str(path), "sample_rate": sr, "num_samples": len(audio),
                         "seconds": round(len(audio) / sr, 4)})
    return rows
