import numpy as np
import pytest

from audiodiff.corpus.harmonize import harmonize
from audiodiff.music.arrange import CLOSED_HAT, KICK, ArrangementStyle, arrange
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import SUPPORTED_METERS, Chord, Key, Meter


def melody_plan(meter) -> Plan:
    meter = Meter(*meter)
    bars = 4
    steps = bars * meter.steps_per_bar
    scale = Key(2, "minor").scale
    notes = [Note(62 + (scale[i % 7] - 2) % 12, i * meter.steps_per_beat, meter.steps_per_beat)
             for i in range(steps // meter.steps_per_beat)]
    beats = steps // meter.steps_per_beat
    return Plan(Key(2, "minor"), 100.0, meter, [Track("melody", 73, notes)], [None] * beats, steps)


@pytest.mark.parametrize("meter", SUPPORTED_METERS)
def test_harmonization_cadences_on_the_tonic(meter):
    plan = melody_plan(meter)
    chords = harmonize(plan, plan.meter.steps_per_bar)
    assert len(chords) == plan.num_beats
    assert chords[-1] == Chord(2, "min")
    assert {c.root for c in chords} <= set(Key(2, "minor").scale)


@pytest.mark.parametrize("meter", SUPPORTED_METERS)
@pytest.mark.parametrize("variant", [0, 1])
def test_arrangement_puts_bass_and_kick_on_the_downbeats(meter, variant):
    plan = melody_plan(meter)
    plan.chords = harmonize(plan, plan.meter.steps_per_bar)
    arranged = arrange(plan, ArrangementStyle(drums=True, variant=variant), np.random.default_rng(0))
    tracks = {t.name: t for t in arranged.tracks}
    assert set(tracks) == {"melody", "bass", "comping", "drums"} and tracks["drums"].is_drum
    bar = plan.meter.steps_per_bar
    for b in range(plan.num_bars):
        bass_on_downbeat = [n for n in tracks["bass"].notes if n.start == b * bar]
        assert len(bass_on_downbeat) == 1
        assert bass_on_downbeat[0].pitch % 12 == plan.chords[b * bar // plan.meter.steps_per_beat].root
        assert any(n.pitch == KICK and n.start == b * bar for n in tracks["drums"].notes)
    spb = plan.meter.steps_per_beat
    assert all(n.pitch % 12 == plan.chords[n.start // spb].root for n in tracks["bass"].notes)  # roots only
    comp_pcs = {n.pitch % 12 for n in tracks["comping"].notes}
    assert comp_pcs <= {pc for c in plan.chords for pc in c.pitch_classes}


def test_no_drums_and_silence_without_chords():
    plan = melody_plan((4, 4))
    arranged = arrange(plan, ArrangementStyle(drums=False))  # no chords at all
    names = [t.name for t in arranged.tracks]
    assert "drums" not in names
    assert all(not t.notes for t in arranged.tracks if t.name in ("bass", "comping"))


def test_hats_subdivide_the_beat_in_four_four():
    plan = melody_plan((4, 4))
    plan.chords = harmonize(plan, 8)
    drums = arrange(plan, ArrangementStyle(variant=0)).tracks[-1]
    hats = sorted(n.start for n in drums.notes if n.pitch == CLOSED_HAT and n.start < 16)
    assert hats == list(range(0, 16, 2))
