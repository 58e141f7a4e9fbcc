"""README claims about the command line that no other test exercised: --force overwrites, --keep-bars
parsing keeps exactly the named bars, --no-drums leaves the drums out."""
from __future__ import annotations

import pytest

from audiodiff.cli import main
from audiodiff.music.midi import load_midi


def plan(structure: str, out, *extra: str) -> int:
    return main(["plan", "G major, 110 bpm, 3/4", "-o", str(out), "--steps", "3", "--structure", structure, *extra])


def bar_notes(plan_, bar: int) -> list[tuple]:
    """Every note starting in ``bar`` (0-based), per track, relative to the bar's start."""
    size = plan_.meter.steps_per_bar
    return [(t.name, n.pitch, n.start - bar * size, n.duration) for t in plan_.tracks for n in t.notes
            if bar * size <= n.start < (bar + 1) * size]


def test_force_overwrites_and_without_it_the_file_is_kept(structure_ckpt, tmp_path, capsys):
    out = tmp_path / "p.mid"
    out.write_bytes(b"keep me")
    assert plan(structure_ckpt, out, "--bars", "2", "--seed", "1") == 2
    assert out.read_bytes() == b"keep me" and "pass --force" in capsys.readouterr().err
    assert plan(structure_ckpt, out, "--bars", "2", "--seed", "1", "--force") == 0
    first = out.read_bytes()
    assert first.startswith(b"MThd") and load_midi(out)[0].num_bars == 2
    assert plan(structure_ckpt, out, "--bars", "3", "--seed", "2", "--force") == 0
    assert out.read_bytes() != first and load_midi(out)[0].num_bars == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.mid"]  # no staged file left


def test_keep_bars_keeps_exactly_the_named_bars(structure_ckpt, tmp_path):
    """'1,3-4' keeps bars 1, 3 and 4 of the source note for note and chord for chord; bar 2 is new."""
    source_path, out = tmp_path / "source.mid", tmp_path / "inpainted.mid"
    assert plan(structure_ckpt, source_path, "--bars", "5", "--seed", "3") == 0
    assert main(["plan", "G major", "--from", str(source_path), "--keep-bars", "1,3-4", "-o", str(out),
                 "--seed", "4", "--steps", "3", "--structure", structure_ckpt]) == 0
    source, _ = load_midi(source_path)
    got, _ = load_midi(out)
    assert got.num_bars == 5 and (got.key, got.bpm, got.meter) == (source.key, source.bpm, source.meter)
    beats = got.meter.beats_per_bar
    for bar in (0, 2, 3):
        melody = [n for n in bar_notes(got, bar) if n[0] == "melody"]
        assert melody == [n for n in bar_notes(source, bar) if n[0] == "melody"], bar
        assert got.chords[bar * beats:(bar + 1) * beats] == source.chords[bar * beats:(bar + 1) * beats], bar
    changed = [bar for bar in (1, 4) if [n for n in bar_notes(got, bar) if n[0] == "melody"]
               != [n for n in bar_notes(source, bar) if n[0] == "melody"]]
    assert changed, "the bars not kept were regenerated"


@pytest.mark.parametrize("spec", ["x", "1-x", "0", "1,,2", "4-2"])
def test_bad_keep_bars_is_a_one_line_usage_error(structure_ckpt, tmp_path, capsys, spec):
    source_path = tmp_path / "source.mid"
    assert plan(structure_ckpt, source_path, "--bars", "4", "--seed", "3") == 0
    capsys.readouterr()
    out = tmp_path / "out.mid"
    assert main(["plan", "G major", "--from", str(source_path), "--keep-bars", spec, "-o", str(out),
                 "--steps", "3", "--structure", structure_ckpt]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "bar" in err, err
    assert not out.exists()


def test_no_drums_leaves_out_the_drum_track(structure_ckpt, tmp_path):
    with_drums, without = tmp_path / "a.mid", tmp_path / "b.mid"
    assert plan(structure_ckpt, with_drums, "--bars", "2", "--seed", "5") == 0
    assert plan(structure_ckpt, without, "--bars", "2", "--seed", "5", "--no-drums") == 0
    a, _ = load_midi(with_drums)
    b, _ = load_midi(without)
    assert any(t.is_drum and t.notes for t in a.tracks)
    assert not any(t.is_drum for t in b.tracks)
    assert [t.name for t in b.tracks] == [t.name for t in a.tracks if not t.is_drum]  # the band minus the drums
    assert b.melody.notes == a.melody.notes and b.chords == a.chords  # the structure model's part is the same
