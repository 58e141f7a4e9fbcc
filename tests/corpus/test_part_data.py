"""Per-part training data: every part rendered alone with one gain per piece (the parts sum to the
mix), shards written atomically and skipped when complete, and the crops the acoustic model trains on."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import small_soundfont, tiny_arrangement

from audiodiff.acoustic.data import PartWindows, codec_fingerprint, complete_shards, shard_part
from audiodiff.acoustic.features import DRUM_PROGRAM, NUM_FEATURES, part_program, part_rolls
from audiodiff.acoustic.synth import synth_part
from audiodiff.codec.model import load_codec
from audiodiff.corpus import part_data
from audiodiff.corpus.render import Renderer
from audiodiff.music.performance import Performance
from audiodiff.music.plan import TAIL_SECONDS


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(small_soundfont())


def test_parts_share_one_gain_and_sum_to_the_mix(renderer, monkeypatch):
    performance = tiny_arrangement(1)
    raw: list[np.ndarray] = []
    render = renderer.render_performance

    def recording(p: Performance, *args, **kwargs) -> np.ndarray:
        raw.append(render(p, *args, **kwargs))
        return raw[-1]
    monkeypatch.setattr(renderer, "render_performance", recording)
    real, sketches = part_data.render_each_part(renderer, performance)
    total = int(round((performance.seconds + TAIL_SECONDS) * renderer.sample_rate))
    assert len(real) == len(sketches) == len(raw) == len(performance.tracks) == 3
    assert all(len(r) == len(s) == total for r, s in zip(real, sketches))
    # each part was rendered alone and scaled by the same gain
    gains = [float(np.dot(r, a[:total]) / np.dot(a[:total], a[:total])) for r, a in zip(real, raw)]
    assert all(rms(a) > 1e-4 for a in raw)
    assert np.allclose(gains, gains[0], rtol=1e-6) and 0 < gains[0] <= part_data.MIX_GAIN
    assert all(np.allclose(r, gains[0] * a[:total], atol=1e-6) for r, a in zip(real, raw))
    assert np.abs(np.sum(real, axis=0)).max() <= part_data.PEAK + 1e-6
    # ... so the parts sum to the whole piece rendered at once with that gain (up to FluidSynth's
    # 16-bit output and reverb rounding)
    monkeypatch.undo()
    whole = gains[0] * renderer.render_performance(performance)[:total]
    mix = np.sum(real, axis=0)
    assert rms(mix - whole) < 0.01 * rms(whole)
    # the sketches are the synth's, part by part
    assert all(np.array_equal(s, synth_part(p, total, renderer.sample_rate))
               for s, p in zip(sketches, performance.tracks))


def test_a_loud_piece_is_turned_down_as_a_whole(renderer, monkeypatch):
    """When the mix would clip, every part is scaled by the same smaller gain (no per-part normalisation)."""
    performance = tiny_arrangement(2)
    levels = [3.0, 1.0, 0.5]  # stand-in renders: part i is a constant level

    def fake(p: Performance, *args, **kwargs) -> np.ndarray:
        i = [t.name for t in performance.tracks].index(p.tracks[0].name)
        return np.full(int(round((p.seconds + TAIL_SECONDS) * renderer.sample_rate)), levels[i], np.float32)
    monkeypatch.setattr(renderer, "render_performance", fake)
    real, _ = part_data.render_each_part(renderer, performance)
    gains = [float(r[0]) / level for r, level in zip(real, levels)]
    assert np.allclose(gains, gains[0]) and gains[0] < part_data.MIX_GAIN
    assert np.isclose(np.abs(np.sum(real, axis=0)).max(), part_data.PEAK, rtol=1e-5)


def test_a_shard_holds_each_part_alone_in_latents(part_shards, tiny_ckpts, renderer):
    (shard,) = complete_shards(part_shards)
    assert shard.name == "shard-00000" and not list(part_shards.glob("*.tmp"))
    meta = json.loads((shard / "parts.json").read_text())
    codec = load_codec(tiny_ckpts["codec"]).eval()
    target, sketch = np.load(shard / "target.npy"), np.load(shard / "sketch.npy")
    assert meta["codec"] == codec_fingerprint(codec) and meta["frame_rate"] == codec.frame_rate
    assert target.dtype == sketch.dtype == np.float16 and target.shape == sketch.shape
    seeds = part_data.shard_seeds(0, 2)
    performances = [tiny_arrangement(s) for s in seeds]
    rows = meta["parts"]
    assert [(r["piece"], r["name"]) for r in rows] == [(f"arrangement {s}", t.name) for s, p in zip(seeds, performances)
                                                       for t in p.tracks]
    assert [r["offset"] for r in rows] == np.cumsum([0] + [r["frames"] for r in rows[:-1]]).tolist()
    assert target.shape == (sum(r["frames"] for r in rows), codec.latent_dim)
    frames = int(np.ceil((1.5 + TAIL_SECONDS) * renderer.sample_rate / codec.hop_length))
    assert all(r["frames"] == frames for r in rows)
    notes = rows[1]["notes"]
    assert notes == [[n.pitch, round(n.start, 4), round(n.end, 4), n.velocity] for n in performances[0].tracks[1].notes]
    assert rows[2]["is_drum"] and not rows[0]["is_drum"] and rows[0]["program"] == performances[0].tracks[0].program
    # the rows of a part are the codec's latents of that part rendered alone (target) and sketched (sketch)
    real, sketches = part_data.render_each_part(renderer, performances[1])
    row = rows[4]
    with torch.no_grad():
        expected = codec.encode(torch.from_numpy(np.stack([real[1], sketches[1]]))[:, None]).numpy()[..., :frames]
    got = np.stack([target, sketch])[:, row["offset"]: row["offset"] + frames].transpose(0, 2, 1).astype(np.float32)
    assert np.allclose(got, expected, atol=2e-3 * max(1.0, np.abs(expected).max()))
    # (target and sketch not swapped: each is nearer its own encoding than the other's)
    assert np.abs(got[0] - expected[0]).mean() < np.abs(got[0] - expected[1]).mean()
    assert np.abs(got[1] - expected[1]).mean() < np.abs(got[1] - expected[0]).mean()


def test_a_complete_shard_is_skipped_and_an_interrupted_one_left_unfinished(part_shards, tiny_ckpts, tmp_path,
                                                                            monkeypatch, renderer):
    codec = load_codec(tiny_ckpts["codec"]).eval()
    shard = part_shards / "shard-00000"
    before = {f.name: f.stat().st_mtime_ns for f in shard.iterdir()}

    def fail(*args, **kwargs):
        raise AssertionError("a complete shard should be skipped")
    monkeypatch.setattr(part_data, "render_each_part", fail)
    assert part_data.build_shard(part_shards, 0, part_data.arrangement_pieces(0, 2), renderer, codec) == shard
    assert {f.name: f.stat().st_mtime_ns for f in shard.iterdir()} == before
    monkeypatch.undo()

    # killed half-way (here: the codec fails on the second part): nothing looks complete
    monkeypatch.setattr(part_data, "random_arrangement", tiny_arrangement)
    calls = []
    encode = codec.encode

    def dies(wav):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return encode(wav)
    monkeypatch.setattr(codec, "encode", dies)
    with pytest.raises(KeyboardInterrupt):
        part_data.build_shard(tmp_path, 3, part_data.arrangement_pieces(3, 1), renderer, codec)
    assert not (tmp_path / "shard-00003").exists() and complete_shards(tmp_path) == []
    # a leftover that holds every file (killed between writing parts.json and the rename) is no shard either
    leftover = tmp_path / "shard-00003.tmp"
    for name in ("target.npy", "sketch.npy", "parts.json"):
        shutil.copy(shard / name, leftover / name)
    assert complete_shards(tmp_path) == []
    monkeypatch.setattr(codec, "encode", encode)
    # the rerun starts afresh and completes
    built = part_data.build_shard(tmp_path, 3, part_data.arrangement_pieces(3, 1), renderer, codec)
    assert built == tmp_path / "shard-00003" and complete_shards(tmp_path) == [built] and not leftover.exists()
    assert len(json.loads((built / "parts.json").read_text())["parts"]) == 3


# -- crops -------------------------------------------------------------------------------------
def windows(root, sha: str, **kw) -> PartWindows:
    return PartWindows(root, sha, **{"window_frames": 32, "context_frames": 8, "context_dropout": 0.3, "seed": 1, **kw})


def test_crops_align_latents_sketch_and_notes_of_one_part(part_shards, tiny_ckpts):
    sha = codec_fingerprint(load_codec(tiny_ckpts["codec"]))
    data = windows(part_shards, sha)
    shard = part_shards / "shard-00000"
    meta = json.loads((shard / "parts.json").read_text())
    target, sketch = np.load(shard / "target.npy"), np.load(shard / "sketch.npy")
    assert len(data) == len(meta["parts"]) == 6
    for index in (0, 2, 4):
        item, row = data[index], meta["parts"][index]
        assert item["latents"].shape == item["sketch"].shape == (16, 32)
        assert item["rolls"].shape == (NUM_FEATURES, 32) and 0 <= int(item["context_frames"]) <= 8
        assert int(item["programs"]) == (DRUM_PROGRAM if row["is_drum"] else row["program"])
        # the crop's start: where its latents sit in the part's rows; sketch and notes come from the same start
        part = target[row["offset"]: row["offset"] + row["frames"]].astype(np.float32)
        starts = [s for s in range(row["frames"] - 31) if np.array_equal(part[s: s + 32].T, item["latents"].numpy())]
        assert len(starts) == 1
        start = starts[0]
        at = row["offset"] + start
        assert np.array_equal(sketch[at: at + 32].T.astype(np.float32), item["sketch"].numpy())
        assert part_program(shard_part(row)) == int(item["programs"])
        assert np.array_equal(item["rolls"].numpy(), part_rolls(shard_part(row), meta["frame_rate"], 32, start / 75.0))


def test_crops_are_a_function_of_seed_epoch_and_index(part_shards, tiny_ckpts):
    sha = codec_fingerprint(load_codec(tiny_ckpts["codec"]))
    a, b = windows(part_shards, sha), windows(part_shards, sha)
    for i in range(len(a)):
        assert all(torch.equal(a[i][k], b[i][k]) for k in a[i])
    a.set_epoch(1)
    moved = [not torch.equal(a[i]["latents"], b[i]["latents"]) or int(a[i]["context_frames"]) != int(
        b[i]["context_frames"]) for i in range(len(a))]
    assert any(moved)
    b.set_epoch(1)
    assert all(torch.equal(a[i]["latents"], b[i]["latents"]) for i in range(len(a)))
    other = windows(part_shards, sha, seed=2)
    assert any(not torch.equal(other[i]["latents"], b[i]["latents"]) for i in range(len(b)))
    assert all(int(windows(part_shards, sha, context_dropout=1.0)[i]["context_frames"]) == 0 for i in range(6))
    assert all(int(windows(part_shards, sha, context_dropout=0.0)[i]["context_frames"]) >= 1 for i in range(6))


def test_the_dataset_takes_in_shards_completed_later(part_shards, tiny_ckpts, tmp_path):
    sha = codec_fingerprint(load_codec(tiny_ckpts["codec"]))
    root = tmp_path / "growing"
    shutil.copytree(part_shards / "shard-00000", root / "shard-00000")
    data = windows(root, sha)
    first = [data[i]["latents"] for i in range(len(data))]
    shutil.copytree(part_shards / "shard-00000", root / "shard-00001.tmp")  # still being written
    data.set_epoch(0)
    assert len(data) == 6
    (root / "shard-00001.tmp").rename(root / "shard-00001")
    data.set_epoch(0)
    assert len(data) == 12 and [s.name for s in data.shards] == ["shard-00000", "shard-00001"]
    assert all(torch.equal(first[i], data[i]["latents"]) for i in range(6))  # the known items stay put
    assert data[11]["latents"].shape == (16, 32)
    # several roots: each one's shards
    assert len(windows([root, part_shards], sha)) == 18


def test_shards_of_another_codec_are_refused_in_one_line(part_shards, tiny_ckpts, tmp_path):
    sha = codec_fingerprint(load_codec(tiny_ckpts["codec"]))
    root = tmp_path / "mixed"
    shutil.copytree(part_shards / "shard-00000", root / "shard-00000")
    data = windows(root, sha)
    foreign = root / "shard-00001"
    shutil.copytree(part_shards / "shard-00000", foreign)
    meta = json.loads((foreign / "parts.json").read_text())
    meta["codec"] = "0123456789abcdef"
    (foreign / "parts.json").write_text(json.dumps(meta))
    for make in (lambda: windows(root, sha), lambda: data.set_epoch(1)):
        with pytest.raises(ValueError, match="another codec") as err:
            make()
        assert "\n" not in str(err.value) and "shard-00001" in str(err.value) and "0123456789abcdef" in str(err.value)
    with pytest.raises(FileNotFoundError, match="no part-data shards"):
        windows(tmp_path / "empty", sha)
    with pytest.raises(ValueError, match="window_frames"):
        windows(part_shards, sha, window_frames=1000)


def test_build_shard_with_the_recipe(tiny_ckpts, tmp_path, monkeypatch):
    """recipes/prepare_part_data.py builds the shards asked for and skips them when run again."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))
    try:
        import prepare_part_data
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(part_data, "random_arrangement", tiny_arrangement)
    monkeypatch.setattr("audiodiff.corpus.render.find_soundfont", lambda path=None: small_soundfont())
    out = tmp_path / "parts"
    monkeypatch.setattr(sys, "argv", ["prepare_part_data.py", "--out", str(out), "--shards", "1:2", "--shard-size", "1",
                                      "--codec", tiny_ckpts["codec"]])
    assert prepare_part_data.main() == 0
    assert [s.name for s in complete_shards(out)] == ["shard-00001"]
    meta = json.loads((out / "shard-00001" / "parts.json").read_text())
    assert {r["piece"] for r in meta["parts"]} == {f"arrangement {s}" for s in part_data.shard_seeds(1, 1)}
    monkeypatch.setattr(sys, "argv", ["prepare_part_data.py", "--out", str(out), "--shards", "2:1"])
    assert prepare_part_data.main() == 2


# -- dynamics and re-sketching -------------------------------------------------------------------
def test_half_the_parts_of_training_pieces_are_played_softer():
    pieces = [part_data.vary_dynamics(tiny_arrangement(seed), seed) for seed in range(40)]
    assert [p.tracks for p in pieces[:3]] == [part_data.vary_dynamics(tiny_arrangement(s), s).tracks for s in range(3)]
    ratios = []
    for seed, piece in enumerate(pieces):
        for before, after in zip(tiny_arrangement(seed).tracks, piece.tracks):
            assert [(n.pitch, n.start, n.end) for n in after.notes] == [(n.pitch, n.start, n.end) for n in before.notes]
            ratio = np.array([a.velocity / b.velocity for a, b in zip(after.notes, before.notes)])
            assert np.all(ratio <= 1) and all(1 <= n.velocity <= 127 for n in after.notes)
            ratios.append(float(np.median(ratio)))
    softened = np.array(ratios) < 0.99
    assert 0.3 < softened.mean() < 0.7  # a coin flip per part
    low = part_data.SOFTER[0]
    assert min(ratios) >= low - 0.05 and min(ratios) < 0.5  # the range reaches well below mezzo-forte


def test_shards_of_an_older_sketch_synth_are_refused_until_resketched(part_shards, tiny_ckpts, tmp_path):
    codec = load_codec(tiny_ckpts["codec"]).eval()
    sha = codec_fingerprint(codec)
    root = tmp_path / "old"
    shutil.copytree(part_shards / "shard-00000", root / "shard-00000")
    shard = root / "shard-00000"
    meta = json.loads((shard / "parts.json").read_text())
    assert meta["sketch"] == part_data.SKETCH_VERSION
    current = np.load(shard / "sketch.npy").astype(np.float32)
    target = np.load(shard / "target.npy")
    del meta["sketch"]  # a shard made before sketches had versions (version 1)
    (shard / "parts.json").write_text(json.dumps(meta))
    np.save(shard / "sketch.npy", np.zeros_like(current, dtype=np.float16))
    with pytest.raises(ValueError, match="--resketch") as err:
        windows(root, sha)
    assert "\n" not in str(err.value) and "version 1" in str(err.value)

    assert part_data.resketch_shard(shard, codec) is True
    assert json.loads((shard / "parts.json").read_text())["sketch"] == part_data.SKETCH_VERSION
    # the sketches are today's again (notes are stored to 0.1 ms, so the waveform may shift a few samples)
    again = np.load(shard / "sketch.npy").astype(np.float32)
    assert again.shape == current.shape and np.abs(again - current).mean() < 0.1 * np.abs(current).mean()
    assert np.array_equal(np.load(shard / "target.npy"), target)
    assert len(windows(root, sha)) == 6
    assert part_data.resketch_shard(shard, codec) is False  # current: nothing to do


def test_the_recipe_resketches_old_shards(part_shards, tiny_ckpts, tmp_path, monkeypatch, capsys):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))
    try:
        import prepare_part_data
    finally:
        sys.path.pop(0)
    out = tmp_path / "parts"
    shutil.copytree(part_shards / "shard-00000", out / "shard-00000")
    meta = json.loads((out / "shard-00000" / "parts.json").read_text())
    meta["sketch"] = 1
    (out / "shard-00000" / "parts.json").write_text(json.dumps(meta))
    monkeypatch.setattr(sys, "argv", ["prepare_part_data.py", "--out", str(out), "--resketch",
                                      "--codec", tiny_ckpts["codec"]])
    assert prepare_part_data.main() == 0
    assert "1 of 1 shards re-sketched" in capsys.readouterr().out
    assert json.loads((out / "shard-00000" / "parts.json").read_text())["sketch"] == part_data.SKETCH_VERSION
    monkeypatch.setattr(sys, "argv", ["prepare_part_data.py", "--out", str(tmp_path / "none"), "--resketch"])
    assert prepare_part_data.main() == 2
