import mido
import pytest

from audiodiff.cli import main


def meta(path, kind):
    return [m for m in mido.MidiFile(path).tracks[0] if m.type == kind]


@pytest.mark.parametrize("prompt,key,qpm,meter", [
    ("D minor, 96 bpm, 3/4, violin", "Dm", 96, (3, 4)),
    ("F# minor, 60 bpm, 6/8, flute", "F#m", 90, (6, 8)),
    ("Bb, 140 bpm, 2/4", "Bb", 140, (2, 4)),
])
def test_plan_command_writes_the_asked_key_tempo_and_meter(tmp_path, structure_ckpt, prompt, key, qpm, meter):
    out = tmp_path / "plan.mid"
    assert main(["plan", prompt, "-o", str(out), "--bars", "4", "--seed", "7", "--steps", "4",
                 "--structure", structure_ckpt]) == 0
    assert meta(out, "key_signature")[0].key == key
    assert mido.tempo2bpm(meta(out, "set_tempo")[0].tempo) == pytest.approx(qpm, abs=1e-3)
    ts = meta(out, "time_signature")[0]
    assert (ts.numerator, ts.denominator) == meter
    names = {m.name for t in mido.MidiFile(out).tracks for m in t if m.type == "track_name"}
    assert {"melody", "bass", "comping", "drums"} <= names
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(out))
    assert any(i.is_drum for i in pm.instruments) and sum(len(i.notes) for i in pm.instruments) > 10


def test_same_seed_same_file_other_seed_other_file(tmp_path, structure_ckpt):
    args = ["plan", "A minor, 100 bpm", "--bars", "4", "--steps", "4", "--structure", structure_ckpt]
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert main(args + ["-o", str(tmp_path / f"{name}.mid"), "--seed", seed]) == 0
    a, b, c = ((tmp_path / f"{n}.mid").read_bytes() for n in "abc")
    assert a == b and a != c


def test_plan_refuses_overwrite_and_bad_prompt(tmp_path, structure_ckpt, capsys):
    out = tmp_path / "p.mid"
    out.write_bytes(b"keep me")
    assert main(["plan", "C major", "-o", str(out), "--structure", structure_ckpt]) == 2
    assert out.read_bytes() == b"keep me"
    assert main(["plan", "H minor", "-o", str(tmp_path / "q.mid"), "--structure", structure_ckpt]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert not (tmp_path / "q.mid").exists()


def test_plan_from_midi_keeps_and_extends(tmp_path, structure_ckpt):
    from audiodiff.music.midi import load_midi

    first = tmp_path / "first.mid"
    assert main(["plan", "G major, 110 bpm, 4/4", "-o", str(first), "--bars", "4", "--seed", "3",
                 "--steps", "4", "--structure", structure_ckpt]) == 0
    longer = tmp_path / "longer.mid"
    assert main(["plan", "G major", "--from", str(first), "--extend", "2", "-o", str(longer), "--seed", "4",
                 "--steps", "4", "--structure", structure_ckpt]) == 0
    a, _ = load_midi(first)
    b, _ = load_midi(longer)
    assert b.num_bars == 6 and b.bpm == a.bpm
    melody_a = [(n.pitch, n.start) for n in a.tracks[0].notes]
    assert [(n.pitch, n.start) for n in b.tracks[0].notes if n.start < 64] == melody_a
