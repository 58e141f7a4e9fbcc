"""Batch input rows and output directory without models: fields, seeds, file errors, resume checks."""
from __future__ import annotations

import hashlib
import json

import pytest

from audiodiff.batch import BatchError
from audiodiff.batch.directory import SUBDIRS, clean_row, is_finished, prepare_dir, row_paths
from audiodiff.batch.rows import make_row, one_line, read_rows, row_request
from audiodiff.music.prompt import Prompt
from audiodiff.music.theory import Chord, Key, Meter

# Golden seeds, computed once outside the code under test with the formula the README states,
# sha256("batch|<row index>|<prompt text without seed>"), first 8 bytes (little-endian) mod 2**31:
#   printf '%s' 'batch|3|G major, 140 bpm, 2/4, acoustic grand piano, 1 s' | sha256sum  -> cf6caa8e411862b7...
#   python3 -c "print(int.from_bytes(bytes.fromhex('cf6caa8e411862b7'), 'little') % 2**31)"  -> 246049999
GOLDEN_SEEDS = {
    (3, "G major, 140 bpm, 2/4, acoustic grand piano, 1 s"): 246049999,
    (0, "C major, 100 bpm, 4/4, acoustic grand piano, 10 s"): 1314994773,
    (1, "C major, 100 bpm, 4/4, acoustic grand piano, 10 s"): 1490176475,
}


def documented_seed(index: int, text: str) -> int:
    """The README's formula, written here independently of audiodiff."""
    digest = hashlib.sha256(f"batch|{index}|{text}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % 2**31


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_documented_formula_reproduces_the_golden_seeds():
    assert {k: documented_seed(*k) for k in GOLDEN_SEEDS} == GOLDEN_SEEDS


def test_a_row_without_a_seed_gets_the_documented_seed(tmp_path):
    text = 'prompt\n"C major"\n"C major"\nA minor\n"G major, 140 bpm, 2/4, 1 s"\n'
    rows = read_rows(write(tmp_path, "rows.csv", text))
    assert [r.prompt.seed for r in rows] == [1314994773, 1490176475,
                                             documented_seed(2, "A minor, 100 bpm, 4/4, acoustic grand piano, 10 s"),
                                             246049999]
    assert rows[0].prompt == Prompt(seed=1314994773)


def test_identical_rows_still_differ_and_a_given_seed_wins(tmp_path):
    rows = read_rows(write(tmp_path, "rows.jsonl", '{"prompt": "D minor, 1 s"}\n' * 3 +
                           '{"prompt": "D minor, 1 s, seed 5"}\n{"prompt": "D minor, seed 5", "seed": 9}\n'))
    seeds = [r.prompt.seed for r in rows]
    assert len(set(seeds[:3])) == 3 and all(0 <= s < 2**31 for s in seeds[:3])
    assert seeds[3:] == [5, 9]  # the prompt's seed, then the column overriding the prompt's


def test_a_derived_seed_ignores_the_seedless_fields_order_and_spelling(tmp_path):
    """The seed hashes the canonical prompt text: the same prompt spelt two ways gets the same seed."""
    rows = read_rows(write(tmp_path, "rows.jsonl", '{"prompt": "Dm, 3/4, 96 bpm, violin"}\n'
                           '{"key": "D minor", "bpm": 96, "meter": "3/4", "instrument": "violin"}\n'))
    text = "D minor, 96 bpm, 3/4, violin, 10 s"
    assert rows[0].prompt.seed == documented_seed(0, text) and rows[1].prompt.seed == documented_seed(1, text)


def row_prompt(index: int, data: dict) -> Prompt:
    return row_request(index, data)[0]


def test_fields_build_the_prompt():
    prompt = row_prompt(0, {"key": " F# minor ", "bpm": "60.5", "meter": "6 / 8", "instrument": "flute",
                            "seconds": "1.5", "seed": "12"})
    assert prompt == Prompt(key=Key(6, "minor"), bpm=60.5, meter=Meter(6, 8), program=73, seconds=1.5, seed=12)
    assert row_prompt(0, {"key": "Bb", "instrument": 41, "seed": 0}).program == 40  # GM numbers are 1-based
    assert row_prompt(0, {"key": "Bb", "instrument": "41", "seed": 0}).program == 40
    assert row_prompt(0, {"bpm": 90, "seed": 1}) == Prompt(bpm=90, seed=1)
    assert row_prompt(0, {"prompt": "A minor, 2 s", "seconds": 3, "seed": 4}) == Prompt(
        key=Key(9, "minor"), seconds=3, seed=4)
    # empty cells are absent, so a prompt with empty field columns is fine
    empty_fields = {"prompt": "E major", "key": "", "bpm": None, "seed": 2}
    assert row_prompt(0, empty_fields) == Prompt(key=Key(4, "major"), seed=2)


@pytest.mark.parametrize("data, message", [
    ({"prompt": "C major", "tempo": 90}, "unknown column(s) 'tempo'; allowed: prompt, key, bpm"),
    ({}, "the row has neither 'prompt' nor any of key, bpm, meter, instrument"),
    ({"seed": 3}, "the row has neither"),
    ({"prompt": "C major", "key": "D", "meter": "3/4"}, "give either 'prompt' or its fields (key, bpm, meter, "
                                                        "instrument), not both (this row has prompt and key, meter)"),
    ({"prompt": 7}, "prompt must be text, got 7"),
    ({"key": 5}, "key must be text, got 5"),
    ({"key": "H"}, "key 'H' is not a key like"),
    ({"key": "violin"}, "key 'violin' is not a key like"),
    ({"key": "D minor, 90 bpm"}, "key 'D minor, 90 bpm' is not a key"),
    ({"key": "C", "bpm": "fast"}, "bpm must be a number, got 'fast'"),
    ({"key": "C", "bpm": True}, "bpm must be a number, got True"),
    ({"key": "C", "bpm": [90]}, "bpm must be a number, got [90]"),
    ({"key": "C", "bpm": "nan"}, "bpm must be a finite number, got 'nan'"),
    ({"key": "C", "bpm": "inf"}, "bpm must be a finite number"),
    ({"key": "C", "bpm": 500}, "tempo 500 bpm out of range"),
    ({"key": "C", "meter": 3}, "meter must be text, got 3"),
    ({"prompt": "C", "seed": 1.5}, "seed must be a whole number, got 1.5"),
    ({"prompt": "C", "seed": True}, "seed must be a whole number, got True"),
    ({"prompt": "C", "seed": "1e3"}, "seed must be a whole number, got '1e3'"),
    ({"prompt": "C", "seed": "X5"}, "seed must be a whole number, got 'X5'"),
    ({"prompt": "   "}, "the row has neither 'prompt' nor any of key, bpm, meter, instrument"),
    ({"prompt": "C", "a": 1, "b": 2}, "unknown column(s) 'a', 'b'; allowed: prompt, key, bpm, meter, instrument, seed, "
                                      "seconds, chords, form, bars_per_section"),
    ({"prompt": "C", "seed": -3}, "seed must be an int 0..4294967295, got -3"),
    ({"prompt": "C", "seed": "-3"}, "got -3"),
    ({"prompt": "C", "seconds": "long"}, "seconds must be a number, got 'long'"),
    ({"key": "C", "instrument": "kazoo"}, "unknown instrument 'kazoo'"),
    ({"key": "C", "instrument": 200}, "program 200"),
    ({"key": "C", "instrument": 1.5}, "instrument must be text, got 1.5"),
])
def test_bad_fields_are_refused_with_a_message_naming_them(data, message):
    with pytest.raises(ValueError) as info:
        row_prompt(0, data)
    assert message in str(info.value)


def test_make_row_keeps_the_input_and_turns_errors_into_one_line():
    row = make_row(12, "line 14", {"prompt": "C major", "seed": 1})
    assert (row.index, row.id, row.where, row.input, row.error) == (12, "000012", "line 14",
                                                                     {"prompt": "C major", "seed": 1}, None)
    assert row.prompt == Prompt(seed=1)
    bad = make_row(3, "line 4", ["C major"])
    assert bad.prompt is None and bad.input == {"value": ["C major"]}
    assert bad.error == ("a row must be a JSON object with the columns prompt, key, bpm, meter, instrument, "
                         "seed, seconds, chords, form, bars_per_section, got ['C major']")
    assert make_row(0, "x", {"key": "C", "bpm": 500}).error.startswith("tempo 500 bpm out of range")
    assert one_line("a\n  b\tc \n") == "a b c"


# -- chords, form, bars_per_section: as generate's --chords, --form, --bars-per-section -----------------
D, G, A = 2, 7, 9  # pitch classes


def test_chords_and_form_columns_build_the_guide():
    prompt, guide, warning = row_request(0, {"prompt": "D minor, 3/4", "chords": " Dm | Gm A7 ", "seed": 1})
    assert prompt == Prompt(key=Key(D, "minor"), meter=Meter(3, 4), seed=1) and warning is None
    assert guide.chords == [[Chord(D, "min")], [Chord(G, "min"), Chord(A, "7")]]
    assert guide.form is None and guide.melody is None
    _, guide, _ = row_request(0, {"key": "A minor", "form": "AABA", "bars_per_section": "2", "seed": 1})
    assert (guide.form, guide.bars_per_section, guide.chords) == ("AABA", 2, None)
    assert row_request(0, {"key": "A minor", "form": "ABAC", "seed": 1})[1].bars_per_section == 8  # --form's default
    assert row_request(0, {"prompt": "C major", "seed": 1})[1] is None


def test_chords_without_a_key_set_it_and_the_seed_hashes_that_prompt():
    """i - iv - V7 - i of A minor: the row is in A minor; its seed is the README's formula on that text."""
    prompt, _, warning = row_request(4, {"chords": "Am | Dm | E7 | Am"})
    assert prompt.key == Key(A, "minor") and warning is None
    assert prompt.seed == documented_seed(4, "A minor, 100 bpm, 4/4, acoustic grand piano, 10 s")
    assert row_request(0, {"prompt": "violin, 3/4", "chords": "Am | Dm | E7 | Am"})[0].key == Key(A, "minor")


def test_chords_that_disagree_with_the_rows_key_warn_and_the_rows_key_is_used():
    prompt, _, warning = row_request(0, {"key": "E minor", "chords": "Dm | Gm A7 | Dm", "seed": 1})
    assert prompt.key == Key(4, "minor")
    assert warning == "the chords suggest D minor, the row asks for E minor; using E minor"
    assert row_request(0, {"prompt": "E minor", "chords": "Dm | Gm A7 | Dm", "seed": 1})[2] == warning


@pytest.mark.parametrize("data, message", [
    ({"prompt": "D minor", "chords": "Dm | H7"}, "unknown chord symbol 'H7'; accepted: root A-G"),
    ({"prompt": "D minor", "chords": "Dm | | A7"}, "bar 2 of the chords is empty"),
    ({"prompt": "3/4", "chords": "C F G C"}, "has 4 chords; 3/4 has only 3 beats per bar"),
    ({"chords": "Dm | Gm | A7", "form": "AABA", "bars_per_section": 2}, "needs 8 (the whole piece) or 4"),
    ({"prompt": "C", "bars_per_section": 4}, "bars_per_section needs form"),
    ({"prompt": "C", "form": "aaba"}, "capital letters A-Z like AABA, got 'aaba'"),
    ({"prompt": "C", "form": "AB", "bars_per_section": "two"}, "bars_per_section must be a whole number, got 'two'"),
    ({"prompt": "C", "form": "AB", "bars_per_section": 0}, "bars-per-section must be a whole number >= 1, got 0"),
    ({"prompt": "C", "chords": ["C", "G"]}, "chords must be text, got ['C', 'G']"),
])
def test_bad_chords_and_form_are_refused_with_one_line(data, message):
    row = make_row(0, "line 2", data)
    assert row.prompt is None and row.guide is None and message in row.error and "\n" not in row.error


@pytest.mark.parametrize("data, message", [
    ({"prompt": "C", "bars_per_section": 4}, "bars_per_section needs form"),
    ({"prompt": "C", "form": 4}, "form must be text, got 4"),
    ({"key": "C", "form": ["A", "B"]}, "form must be text, got ['A', 'B']"),
])
def test_form_errors_are_exactly_these_lines(data, message):
    assert make_row(0, "line 2", data).error == message


def test_a_form_alone_is_enough_for_a_row():
    prompt, guide, warning = row_request(0, {"form": "ABA", "bars_per_section": 2, "seed": 3})
    assert (guide.form, guide.bars_per_section, guide.chords) == ("ABA", 2, None)
    assert prompt == Prompt(seed=3) and warning is None


def test_a_bad_chord_symbol_gives_the_same_line_as_generate_chords(structure_ckpt, tmp_path, capsys):
    from audiodiff.cli import main

    out = tmp_path / "x.mid"
    assert main(["plan", "D minor", "--chords", "Dm | Gm H7", "-o", str(out), "--structure", structure_ckpt]) == 2
    assert make_row(0, "line 2", {"prompt": "D minor", "chords": "Dm | Gm H7"}).error == \
        capsys.readouterr().err.removeprefix("error: ").rstrip("\n")


def test_chords_and_form_columns_in_csv_and_jsonl_files(tmp_path):
    csv_rows = read_rows(write(tmp_path, "rows.csv", 'chords,bpm,form,bars_per_section\n"Am | Dm | E7 | Am",90,,\n'
                               '"C | H7",90,,\n"C | G",,AB,1\n'))
    assert csv_rows[0].prompt.key == Key(A, "minor") and csv_rows[0].prompt.bpm == 90
    assert csv_rows[1].error.startswith("unknown chord symbol 'H7'; accepted: ") and csv_rows[1].where == "line 3"
    assert (csv_rows[2].guide.form, csv_rows[2].guide.bars_per_section) == ("AB", 1)
    jsonl_rows = read_rows(write(tmp_path, "rows.jsonl", '{"prompt": "D minor", "chords": "Dm | Gm A7"}\n'))
    assert jsonl_rows[0].guide.chords == [[Chord(D, "min")], [Chord(G, "min"), Chord(A, "7")]]


def test_csv_rows_keep_their_line_numbers_and_skip_blank_lines(tmp_path):
    path = write(tmp_path, "rows.csv", ' Prompt , Seed\n"C major",1\n\n , \n"D minor, 2 s",2,extra\n"E major",x\n')
    rows = read_rows(path)
    assert [(r.index, r.id, r.where) for r in rows] == [(0, "000000", "line 2"), (1, "000001", "line 5"),
                                                        (2, "000002", "line 6")]
    assert rows[0].prompt == Prompt(seed=1) and rows[0].error is None
    assert rows[1].error == "3 cells, the header has 2" and rows[1].input == {"cells": ["D minor, 2 s", "2", "extra"]}
    assert rows[2].error == "seed must be a whole number, got 'x'"


def test_jsonl_rows_keep_their_line_numbers(tmp_path):
    path = write(tmp_path, "rows.JSONL", '\ufeff{"prompt": "C major", "seed": 1}\n\n{bad json\n  \n[1]\n')
    rows = read_rows(path)
    assert [(r.index, r.where) for r in rows] == [(0, "line 1"), (1, "line 3"), (2, "line 5")]
    assert rows[0].prompt == Prompt(seed=1)
    assert rows[1].error.startswith("not JSON (") and "at column 2)" in rows[1].error
    assert rows[1].input == {"line": "{bad json"} and rows[1].id == "000001"
    assert rows[2].error.startswith("a row must be a JSON object")


@pytest.mark.parametrize("name, content, message", [
    ("rows.txt", "prompt\nC\n", "want a .csv or .jsonl file of prompts, got '.txt'"),
    ("rows", "prompt\nC\n", "got 'no extension'"),
    ("empty.csv", "", "empty file (want a header line with the columns prompt, key, bpm, meter, instrument, seed, "
                      "seconds, chords, form, bars_per_section)"),
    ("blank.csv", " , \n", "empty file"),
    ("empty.jsonl", "\n \n", "no rows"),
    ("header.csv", "prompt,seed\n", "no rows"),
    ("cols.csv", "prompt,tempo,x\nC,1,2\n", "unknown column(s) 'tempo', 'x'; allowed: prompt, key, bpm, meter, "
                                            "instrument, seed, seconds, chords, form, bars_per_section"),
    ("twice.csv", "prompt,Prompt\nC,D\n", "a column is named twice"),
    ("seed.csv", "seed,seconds\n1,2\n", "needs a 'prompt' column or at least one of key, bpm, meter, instrument, "
                                        "chords, form"),
    ("nul.jsonl", '{"prompt": "C"}\x00\n', "holds NUL bytes"),
    ("huge.csv", "prompt\n" + "x" * 200_000 + "\n", "line 2: bad CSV (field larger than field limit"),
])
def test_file_level_problems_raise_batch_errors(tmp_path, name, content, message):
    path = write(tmp_path, name, content)
    with pytest.raises(BatchError) as info:
        read_rows(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_unreadable_files_raise_batch_errors(tmp_path):
    with pytest.raises(BatchError, match="no such file"):
        read_rows(tmp_path / "absent.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(BatchError, match="is a directory"):
        read_rows(tmp_path / "dir.csv")
    (tmp_path / "latin.csv").write_bytes("prompt\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(BatchError, match=r"not UTF-8 text \(invalid continuation byte at byte 10\)"):
        read_rows(tmp_path / "latin.csv")


# -- the output directory: what --resume accepts --------------------------------------------------
FINGERPRINT = {"format": 1, "rows": 2, "steps": 8, "checkpoints": {"structure": "aa", "acoustic": "bb", "codec": "cc"}}


def test_a_new_directory_is_created_with_its_settings(tmp_path):
    out = tmp_path / "out"
    prepare_dir(out, FINGERPRINT, resume=False)
    assert json.loads((out / "batch.json").read_text()) == FINGERPRINT
    assert sorted(p.name for p in out.iterdir()) == sorted(["batch.json", *SUBDIRS])
    prepare_dir(out, FINGERPRINT, resume=True)  # resuming the same batch is fine


def test_resume_refuses_other_checkpoints_and_settings(tmp_path):
    out = tmp_path / "out"
    prepare_dir(out, FINGERPRINT, resume=False)
    other = {**FINGERPRINT, "checkpoints": {**FINGERPRINT["checkpoints"], "codec": "dd"}, "steps": 4}
    with pytest.raises(BatchError, match=r"holds a batch made with other settings \(checkpoints, steps differ\)"):
        prepare_dir(out, other, resume=True)
    with pytest.raises(BatchError, match="already holds a batch; pass --resume"):
        prepare_dir(out, FINGERPRINT, resume=False)
    (out / "batch.json").write_text("{torn")
    with pytest.raises(BatchError, match="batch.json: unreadable"):
        prepare_dir(out, FINGERPRINT, resume=True)


def test_foreign_or_impossible_directories_are_refused(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "thesis.tex").write_text("x")
    with pytest.raises(BatchError, match="is not empty and holds no batch"):
        prepare_dir(tmp_path / "full", FINGERPRINT, resume=True)
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["thesis.tex"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(BatchError, match="exists and is not a directory"):
        prepare_dir(tmp_path / "file", FINGERPRINT, resume=False)
    with pytest.raises(BatchError, match="does not exist"):
        prepare_dir(tmp_path / "no" / "out", FINGERPRINT, resume=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_dir(empty, FINGERPRINT, resume=False)  # an empty directory is fine
    assert (empty / "batch.json").exists()


def test_other_ranks_wait_for_rank_0_and_create_nothing(tmp_path, monkeypatch):
    import audiodiff.batch.directory as directory

    out = tmp_path / "out"
    prepare_dir(out, FINGERPRINT, resume=False)
    for sub in SUBDIRS:
        (out / sub).rmdir()
    prepare_dir(out, FINGERPRINT, resume=False, rank=1)  # not refused as "already holds a batch"
    assert sorted(p.name for p in out.iterdir()) == ["batch.json"]
    clock = iter([0.0, 1000.0])
    monkeypatch.setattr(directory.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(directory.time, "sleep", lambda s: None)
    with pytest.raises(BatchError, match="rank 2: .* did not appear; did rank 0 fail"):
        prepare_dir(tmp_path / "never", FINGERPRINT, resume=False, rank=2)


def test_a_row_is_finished_by_its_record_and_cleaning_keeps_finished_files(tmp_path):
    out = tmp_path / "out"
    prepare_dir(out, FINGERPRINT, resume=False)
    row, other = make_row(7, "line 8", {"prompt": "C"}), make_row(17, "line 18", {"prompt": "C"})
    paths = row_paths(out, row.id)
    assert paths == {"audio": out / "audio" / "000007.wav", "midi": out / "midi" / "000007.mid",
                     "annotations": out / "annotations" / "000007.json", "record": out / "records" / "000007.json",
                     "error": out / "errors" / "000007.json", "stems": out / "stems" / "000007"}
    stale = [out / sub / f".000007.{name}.123.abcd.tmp" for sub, name in
             (("audio", "wav"), ("midi", "mid"), ("annotations", "json"), ("records", "json"))]
    kept = [paths["audio"], out / "audio" / ".000017.wav.1.ab.tmp.wav"]
    for path in [*stale, *kept, paths["error"]]:
        path.write_text("x")
    assert not is_finished(out, row)
    clean_row(out, row)
    assert not any(p.exists() for p in [*stale, paths["error"]]) and all(p.exists() for p in kept)
    paths["record"].write_text("{}")
    assert is_finished(out, row) and not is_finished(out, other)


def test_batch_json_is_the_fingerprint_with_one_space_indents(tmp_path):
    out = tmp_path / "out"
    prepare_dir(out, {"rows": 2, "checkpoints": {"codec": "cc"}}, resume=False)
    assert (out / "batch.json").read_text() == '{\n "rows": 2,\n "checkpoints": {\n  "codec": "cc"\n }\n}\n'


def test_resume_messages_name_every_difference(tmp_path):
    out = tmp_path / "out"
    prepare_dir(out, FINGERPRINT, resume=False)
    with pytest.raises(BatchError) as info:
        prepare_dir(out, {**FINGERPRINT, "drums": False}, resume=True)  # a key the old batch does not have
    assert str(info.value) == f"{out} holds a batch made with other settings (drums differ); use a new directory"
    (out / "batch.json").write_text("{torn")
    with pytest.raises(BatchError) as info:
        prepare_dir(out, FINGERPRINT, resume=True)
    assert str(info.value) == (f"{out / 'batch.json'}: unreadable "
                               "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))")


def test_a_directory_that_cannot_be_created_is_a_batch_error(tmp_path, monkeypatch):
    from pathlib import Path

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(BatchError) as info:
        prepare_dir(tmp_path / "out", FINGERPRINT, resume=False)
    assert str(info.value) == f"cannot create {tmp_path / 'out'} (Permission denied)"


@pytest.mark.parametrize("waited, fails", [(600.0, False), (600.5, True)])
def test_other_ranks_wait_up_to_ten_minutes_polling_every_half_second(tmp_path, monkeypatch, waited, fails):
    import audiodiff.batch.directory as directory

    out = tmp_path / "out"
    prepare_dir(out, FINGERPRINT, resume=False)
    settings = (out / "batch.json").read_text()
    (out / "batch.json").unlink()
    clock = iter([1000.0, 1000.0 + waited])
    sleeps = []

    def sleep(seconds):  # rank 0 writes batch.json while rank 1 sleeps
        sleeps.append(seconds)
        (out / "batch.json").write_text(settings)

    monkeypatch.setattr(directory.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(directory.time, "sleep", sleep)
    if fails:
        with pytest.raises(BatchError, match="rank 1: .* did not appear"):
            prepare_dir(out, FINGERPRINT, resume=False, rank=1)
    else:
        prepare_dir(out, FINGERPRINT, resume=False, rank=1)
        assert sleeps == [0.5]


def test_cleaning_a_row_with_nothing_to_clean_is_fine(tmp_path):
    out = tmp_path / "out"
    prepare_dir(out, FINGERPRINT, resume=False)
    clean_row(out, make_row(0, "line 1", {"prompt": "C"}))
    assert sorted(p.name for p in out.iterdir()) == sorted(["batch.json", *SUBDIRS])
