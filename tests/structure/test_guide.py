"""Chords, melody and form as kept tokens (untrained tiny model: the kept parts must hold anyway)."""
import pytest
import torch

from audiodiff.music.chords import parse_progression
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.prompt import Prompt
from audiodiff.music.theory import Chord, Key, Meter
from audiodiff.structure.compose import compose, stream_track
from audiodiff.structure.guide import Guide, check_guide, guide_bars, guide_key, settle_key
from audiodiff.structure.model import StructureModel
from audiodiff.structure.net import StructureNet, StructureNetConfig

D_MINOR, METER = Key(2, "minor"), Meter(3, 4)


@pytest.fixture(scope="module")
def model() -> StructureModel:
    torch.manual_seed(0)
    return StructureModel(StructureNet(StructureNetConfig.preset("tiny")))


def prompt(seed=5000, seconds=5.0) -> Prompt:
    return Prompt(key=D_MINOR, bpm=96, meter=METER, program=40, seconds=seconds, seed=seed)


def plan_with(model, guide, **kw) -> Plan:
    return compose(model, [prompt(**kw)], steps=4, guides=[guide])[0]


def test_given_chords_are_the_plans_chords_and_the_arranger_plays_them(model):
    plan = plan_with(model, Guide(chords=parse_progression("Dm | Gm A7")))
    assert plan.num_bars == 4  # 5 s at 96 bpm in 3/4: the two bars repeat
    dm, gm, a7 = Chord(2, "min"), Chord(7, "min"), Chord(9, "7")
    assert plan.chords == ([dm] * 3 + [gm, gm, a7]) * 2
    bass = stream_track(plan, "bass").notes
    assert {n.pitch % 12 for n in bass if n.start < 12} == {2}  # bar 1: the root of Dm
    assert plan.melody.program == 40 and plan.melody.notes


def test_a_longer_progression_sets_the_length(model):
    plan = plan_with(model, Guide(chords=parse_progression(" | ".join(["Dm"] * 7))))
    assert plan.num_bars == 7 and len(plan.chords) == 21


def test_given_melody_is_kept_exactly_and_empty_bars_are_filled(model):
    melody = [Note(50 + i, 12 * (i // 3) + 4 * (i % 3), 4, 70 + i) for i in range(6)]  # bars 1-2, low D
    melody.append(Note(86, 36, 12, 100))  # bar 4 (above the token range: must not fold)
    plan = plan_with(model, Guide(melody=melody), seed=5001)
    assert [n for n in plan.melody.notes if n.start // 12 in (0, 1, 3)] == melody
    assert plan.num_bars == 4


def test_form_repeats_sections_and_ends_on_the_tonic(model):
    guide = Guide(chords=parse_progression("Dm | Gm A7 | F | C"), form="AABA", bars_per_section=2)
    plan = plan_with(model, guide, seed=5002)
    assert plan.num_bars == 8 and guide_bars(guide, METER) == 8
    section = 2 * METER.steps_per_bar

    def notes(i, last_bar=True):
        end = section if last_bar else section - METER.steps_per_bar
        return [(n.pitch, n.start - i * section, n.duration) for n in plan.melody.notes
                if i * section <= n.start < i * section + end]
    assert notes(0) == notes(1) or notes(0, False) == notes(1, False)
    assert notes(0, False) == notes(3, False)
    assert plan.chords[:6] == plan.chords[6:12] == plan.chords[18:24]
    final = [n for n in plan.melody.notes if n.start >= 7 * METER.steps_per_bar]
    assert plan.chords[-1].root == 2 or plan.chords[-1] == Chord(9, "7")  # given chords win
    assert final[-1].pitch % 12 == 2


def test_form_without_chords_ends_on_the_tonic_chord(model):
    plan = plan_with(model, Guide(form="AB", bars_per_section=2), seed=5003)
    assert plan.num_bars == 4 and plan.chords[-3:] == [Chord(2, "min")] * 3


@pytest.mark.parametrize("guide, message", [
    (Guide(chords=parse_progression("Dm | Gm | A7"), form="AABA", bars_per_section=2), "needs 8 .* or 4"),
    (Guide(melody=[Note(62, 0, 200)], form="AB", bars_per_section=2), "holds 4"),
])
def test_material_that_does_not_fit_the_form_is_refused(guide, message):
    with pytest.raises(ValueError, match=message):
        guide_bars(guide, METER)
    with pytest.raises(ValueError, match=message):
        check_guide(guide, METER)


@pytest.mark.parametrize("guide, message", [
    (Guide(form="AABA", bars_per_section=33), "form AABA with 33 bars per section is 132 bars; the structure model "
                                              "writes at most 128"),
    (Guide(chords=parse_progression(" | ".join(["C"] * 129))), "the chords are 129 bars"),
    (Guide(melody=[Note(60, 16 * 130, 4)]), "the melody is 131 bars"),
    (Guide(chords=parse_progression("C F G C7 F")), "has 5 chords; 4/4 has only 4 beats"),
])
def test_check_guide_refuses_what_the_model_cannot_write(guide, message):
    with pytest.raises(ValueError, match=message):
        check_guide(guide, Meter(4, 4))
    assert check_guide(Guide(form="AABA", bars_per_section=32), Meter(4, 4)) == 128  # the longest there is


@pytest.mark.parametrize("kwargs, message", [
    ({"melody": []}, "no pitched notes"), ({"form": "aaba"}, "capital letters"),
    ({"form": "AB", "bars_per_section": 0}, ">= 1"),
])
def test_bad_guides_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Guide(**kwargs)


def test_settle_key_takes_the_chords_key_unless_one_is_given():
    chords, e_minor = Guide(chords=parse_progression("Dm | Gm A7 | Dm")), Key(4, "minor")
    assert settle_key(chords, e_minor, key_given=True) == (e_minor, D_MINOR)  # the given key; warn with D minor
    assert settle_key(chords, D_MINOR, key_given=True) == (D_MINOR, None)
    assert settle_key(chords, Key(0, "major"), key_given=False) == (D_MINOR, None)
    with_melody = Guide(chords=chords.chords, melody=[Note(64, 0, 4)])
    assert settle_key(with_melody, e_minor, key_given=False) == (e_minor, None)  # the melody file's key stays


def test_guide_key_reads_the_material():
    assert guide_key(Guide(chords=parse_progression("Dm | Gm A7 | Dm"))) == D_MINOR
    scale = [Note(p, 4 * i, 4) for i, p in enumerate([67, 69, 71, 72, 74, 72, 71, 67, 62, 67])]
    assert guide_key(Guide(melody=scale)) == Key(7, "major")


def test_keep_streams_of_a_source_plan(model):
    source = compose(model, [prompt(seed=5004)], steps=4)[0]
    keep = {"chords": frozenset({0, 1}), "bass": frozenset({0, 1}), "melody": frozenset({2})}
    plan = compose(model, [prompt(seed=5005)], steps=4, source=source, keep=keep)[0]
    assert plan.chords[:6] == source.chords[:6]
    bar = METER.steps_per_bar
    assert [n for n in stream_track(plan, "bass").notes if n.start < 2 * bar] == \
        [n for n in stream_track(source, "bass").notes if n.start < 2 * bar]
    assert [n for n in plan.melody.notes if 2 * bar <= n.start < 3 * bar] == \
        [n for n in source.melody.notes if 2 * bar <= n.start < 3 * bar]
    with pytest.raises(ValueError, match="unknown streams"):
        compose(model, [prompt()], steps=4, source=source, keep={"piano": frozenset({0})})
    no_bass = Plan(D_MINOR, 96, METER, [Track("melody", 0, [Note(62, 0, 4)])], [None] * 12, 48)
    with pytest.raises(ValueError, match="no bass track"):
        compose(model, [prompt()], steps=4, source=no_bass, keep={"bass": frozenset({0})})


def test_form_promises_name_what_given_chords_break():
    from audiodiff.structure.guide import form_promises

    c_major, meter = Key(0, "major"), Meter(4, 4)
    keeps = Guide(chords=parse_progression("C | G | C | G | F | C"), form="AAB", bars_per_section=2)
    assert form_promises(keeps, c_major, meter) == []
    breaks = Guide(chords=parse_progression("C | G | Am | G | F | G"), form="AAB", bars_per_section=2)
    lines = form_promises(breaks, c_major, meter)
    assert lines[0].startswith("bar 3 (a repeat of section A) differs")  # bar 4 leads on to B: free to differ
    assert lines[1].startswith("the chords end on G, not on the tonic chord C")


def test_the_melody_files_key_is_the_one_it_suggests():
    melody = [Note(p, 4 * i, 4) for i, p in enumerate([69, 72, 76, 72, 71, 69])]
    assert guide_key(Guide(melody=melody, melody_key=Key(9, "minor"))) == Key(9, "minor")
    assert settle_key(Guide(melody=melody, melody_key=Key(9, "minor")), Key(2, "major"), True) == (
        Key(2, "major"), Key(9, "minor"))


def test_material_sets_the_length_only_when_it_lasts_the_prompts_seconds():
    from audiodiff.structure.guide import guided_bars, length_note

    chords = Guide(chords=parse_progression("Dm | Gm A7 | Dm | A7"))  # 4 bars of 3/4 at 96 bpm: 7.5 s
    assert guided_bars(prompt(seconds=5.0), chords) == 4
    assert length_note(prompt(seconds=5.0), chords).startswith("the chords set the length: 4 bars, 7.5 s at 96 bpm")
    assert guided_bars(prompt(seconds=20.0), chords) is None and length_note(prompt(seconds=20.0), chords) is None
    assert length_note(prompt(seconds=7.5), chords) is None
