"""plan/generate with --chords, --melody, --form, plan --from --keep: results and one-line errors."""
import re

import pytest

from audiodiff.cli import main
from audiodiff.music.midi import load_midi, save_midi
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Chord, Key, Meter


@pytest.fixture(scope="module")
def tune(tmp_path_factory):
    """A 3/4 tune in G major (4 bars, bar 3 empty) with a drum track."""
    notes = [Note(67 + (i % 3) * 2, 4 * i, 4, 80) for i in range(6)] + [Note(79, 36, 12, 80)]
    plan = Plan(Key(7, "major"), 90.0, Meter(3, 4),
                [Track("drums", 0, [Note(36, 0, 1)], is_drum=True), Track("tune", 73, notes)], [None] * 12, 48)
    path = tmp_path_factory.mktemp("tune") / "tune.mid"
    save_midi(plan, path)
    return path


def plan(ckpt, out, prompt, *extra) -> int:
    return main(["plan", prompt, "-o", str(out), "--seed", "5", "--steps", "4", "--structure", ckpt, *extra])


def test_chords_become_the_plans_chords(tmp_path, structure_ckpt):
    out = tmp_path / "c.mid"
    assert plan(structure_ckpt, out, "D minor, 96 bpm, 3/4", "--chords", "Dm | Gm A7") == 0
    chords = load_midi(out)[0].chords
    assert chords[:6] == [Chord(2, "min")] * 3 + [Chord(7, "min")] * 2 + [Chord(9, "7")]


def test_melody_takes_meter_tempo_and_key_from_the_file_and_is_kept(tmp_path, structure_ckpt, tune):
    out = tmp_path / "m.mid"
    assert plan(structure_ckpt, out, "", "--melody", str(tune)) == 0
    got, _ = load_midi(out)
    assert (got.meter, got.bpm, got.key) == (Meter(3, 4), 90.0, Key(7, "major"))
    given = load_midi(tune)[0].tracks[1].notes
    assert [n for n in got.tracks[0].notes if n.start // 12 in (0, 1, 3)] == given  # bars 3 and 5: new


def test_form_sets_the_length(tmp_path, structure_ckpt):
    out = tmp_path / "f.mid"
    assert plan(structure_ckpt, out, "A minor, 3/4", "--form", "AABA", "--bars-per-section", "2") == 0
    got, _ = load_midi(out)
    assert got.num_bars == 8 and got.chords[-1] == Chord(9, "min")


def test_keep_chords_of_some_bars(tmp_path, structure_ckpt):
    first, second = tmp_path / "a.mid", tmp_path / "b.mid"
    assert plan(structure_ckpt, first, "E minor, 4/4", "--bars", "4") == 0
    assert main(["plan", "", "--from", str(first), "--keep", "chords,drums", "--keep-bars", "1-2", "-o",
                 str(second), "--seed", "6", "--steps", "4", "--structure", structure_ckpt]) == 0
    a, b = load_midi(first)[0], load_midi(second)[0]
    assert b.chords[:8] == a.chords[:8]
    drums = [[n for n in p.tracks[-1].notes if n.start < 32] for p in (a, b)]
    assert drums[0] == drums[1]


@pytest.mark.parametrize("prompt, extra, message", [
    ("", ["--chords", "Dm | H7"], "unknown chord symbol 'H7'; accepted: "),
    ("3/4", ["--chords", "C F G C"], "has 4 chords; 3/4 has only 3 beats"),
    ("", ["--chords", "Dm | Gm | A7", "--form", "AABA", "--bars-per-section", "2"], "needs 8 .* or 4"),
    ("4/4", ["--melody", "TUNE"], "is in 3/4, the prompt asks for 4/4"),
    ("", ["--melody", "DRUMS"], "no pitched notes"),
    ("", ["--melody", "EMPTY"], "the MIDI file has no notes"),
    ("", ["--form", "AABA", "--bars-per-section", "40"], "form AABA with 40 bars per section is 160 bars; the "
                                                         "structure model writes at most 128"),
    ("", ["--melody", "TUNE", "--melody-track", "2"], "has 1 pitched track"),
    ("", ["--melody-track", "1"], "--melody-track needs --melody"),
    ("", ["--bars-per-section", "4"], "--bars-per-section needs --form"),
    ("", ["--form", "aaba"], "capital letters"),
    ("", ["--keep", "chords"], "need --from"),
    ("", ["--from", "TUNE", "--keep", "piano"], "--keep wants streams from melody, chords"),
    ("", ["--from", "TUNE", "--keep-bars", "9"], "--keep-bars: bar 9 is past the end of .* \\(4 bars\\)"),
    ("", ["--from", "TUNE", "--chords", "C"], "do not go with --from"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, structure_ckpt, tune, capsys, prompt, extra, message):
    extra = [{"TUNE": str(tune), **no_melody(tmp_path)}.get(x, x) for x in extra]
    out = tmp_path / "x.mid"
    assert plan(structure_ckpt, out, prompt, *extra) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert re.search(message, err), err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["drums.mid", "empty.mid"]


def no_melody(folder) -> dict[str, str]:
    """MIDI files without a melody: DRUMS (only a drum track), EMPTY (no notes at all)."""
    drums, empty = folder / "drums.mid", folder / "empty.mid"
    save_midi(Plan(Key(0, "major"), 100.0, Meter(4, 4), [Track("d", 0, [Note(36, 0, 1)], is_drum=True)],
                   [None] * 4, 16), drums)
    save_midi(Plan(Key(0, "major"), 100.0, Meter(4, 4), [Track("m", 0, [])], [None] * 4, 16), empty)
    return {"DRUMS": str(drums), "EMPTY": str(empty)}


@pytest.mark.parametrize("extra, message", [
    (["--chords", "Dm | H7"], "unknown chord symbol 'H7'; accepted: "),
    (["--chords", "Dm | Gm | A7", "--form", "AABA", "--bars-per-section", "2"], "needs 8 .* or 4"),
    (["--form", "AB", "--bars-per-section", "65"], "is 130 bars; the structure model writes at most 128"),
    (["--melody", "DRUMS"], "no pitched notes"),
    (["--melody", "TUNE", "--seconds", "2"], "is in 3/4, the prompt asks for 4/4"),
])
def test_generate_refuses_bad_material_in_one_line_and_writes_no_file(tmp_path, tiny_ckpts, tune, capsys, extra,
                                                                       message):
    extra = [{"TUNE": str(tune), **no_melody(tmp_path)}.get(x, x) for x in extra]
    models = [a for name in ("structure", "acoustic", "codec") for a in (f"--{name}", tiny_ckpts[name])]
    out = tmp_path / "x.wav"
    assert main(["generate", "4/4", "-o", str(out), "--plan-out", str(tmp_path / "x.mid"), *extra, *models]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drums.mid", "empty.mid"]  # no WAV, sidecar or MIDI


def test_material_in_another_key_warns_with_the_estimate(tmp_path, structure_ckpt, tune, capsys):
    out = tmp_path / "w.mid"
    assert plan(structure_ckpt, out, "E minor", "--chords", "Dm | Gm A7 | Dm") == 0
    assert "warning: --chords suggests D minor, the prompt asks for E minor; using E minor" in capsys.readouterr().err
    assert load_midi(out)[0].key == Key(4, "minor")
    assert plan(structure_ckpt, out, "D major", "--melody", str(tune), "--force") == 0
    assert "--melody suggests G major" in capsys.readouterr().err
