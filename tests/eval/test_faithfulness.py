"""Plan faithfulness of a performance (notes in seconds): the same roll as its plan's."""
import numpy as np

from audiodiff.eval.faithfulness import performance_chroma, plan_chroma
from audiodiff.music.performance import Part, Performance, TimedNote
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Key, Meter


def test_performance_chroma_equals_its_plans_and_leaves_out_drums_and_notes_outside():
    plan = Plan(Key(0, "major"), 120.0, Meter(4, 4),
                [Track("melody", 0, [Note(72, 0, 4, 127), Note(76, 4, 4, 64), Note(79, 8, 4)]),
                 Track("bass", 33, [Note(36, 0, 16, 100)]),
                 Track("drums", 0, [Note(42, 2 * i, 1) for i in range(8)], is_drum=True)], [None] * 4, 16)
    perf = Performance.from_plan(plan)
    assert np.allclose(performance_chroma(perf, 10.0, 20), plan_chroma(plan, 10.0, 20))
    early = Performance([Part("x", 0, [TimedNote(61, -1.0, -0.5), TimedNote(62, 5.0, 6.0)])], 2.0)
    assert performance_chroma(early, 10.0, 20).sum() == 0
