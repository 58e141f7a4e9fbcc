import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from audiodiff.diffusion.masked import MASK_ID, sample
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import ALL_KEYS, SUPPORTED_METERS, Chord, Key, Meter
from audiodiff.structure.data import example, trim_batch
from audiodiff.structure.model import PlanRequest, StructureModel
from audiodiff.structure.net import StructureNet, StructureNetConfig
from audiodiff.structure.tokens import plan_to_tokens, tokens_to_plan


@st.composite
def grid_plans(draw):
    key = draw(st.sampled_from(ALL_KEYS))
    meter = Meter(*draw(st.sampled_from(SUPPORTED_METERS)))
    bars = draw(st.integers(1, 6))
    steps = bars * meter.steps_per_bar
    notes, t = [], draw(st.integers(0, 3))
    while t < steps:
        duration = draw(st.integers(1, 8))
        if draw(st.booleans()):
            pitch = 54 + (key.tonic - 6) % 12 + draw(st.integers(-12, 24))
            notes.append(Note(pitch, t, min(duration, steps - t)))
        t += duration
    chord = st.builds(Chord, st.integers(0, 11), st.sampled_from(["maj", "min", "dim", "7"]))
    chords = [draw(st.one_of(st.none(), chord)) for _ in range(bars * meter.beats_per_bar)]
    return Plan(key, 100.0, meter, [Track("melody", 0, notes)], chords, steps)


@settings(max_examples=80, deadline=None)
@given(plan=grid_plans())
def test_tokens_round_trip_monophonic_plans(plan):
    back = tokens_to_plan(plan_to_tokens(plan), plan.bpm)
    assert back.melody.notes == plan.melody.notes
    assert back.chords == plan.chords and back.key == plan.key and back.num_steps == plan.num_steps


def test_tokens_are_relative_to_the_tonic():
    plan = Plan(Key(0, "major"), 100.0, Meter(4, 4), [Track("m", 0, [Note(60, 0, 4), Note(67, 4, 4)])],
                [Chord(0, "maj")] * 4, 16)
    c, g = plan_to_tokens(plan), plan_to_tokens(plan.transpose(2))
    assert np.array_equal(c.melody, g.melody) and np.array_equal(c.chords, g.chords)


def tiny_net(seed=0) -> StructureNet:
    torch.manual_seed(seed)
    return StructureNet(StructureNetConfig.preset("tiny"))


def test_tiny_model_loss_falls_within_a_few_steps():
    from audiodiff.structure.task import StructureTask, StructureTrainingConfig

    plan = Plan(Key(7, "major"), 100.0, Meter(3, 4),
                [Track("m", 0, [Note(55 + (i * 5) % 12, 3 * i, 3) for i in range(32)])],
                [Chord(7, "maj"), Chord(2, "maj")] * 12, 96)
    batch = torch.utils.data.default_collate(
        [example(plan_to_tokens(plan), 0, 8, True, 7, 100.0, 8) for _ in range(8)])
    config = StructureTrainingConfig(net=StructureNetConfig.preset("tiny"))
    task = StructureTask.__new__(StructureTask)
    task.config = config
    net = tiny_net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    torch.manual_seed(0)
    losses = []
    for step in range(20):
        loss, _ = task.loss(net, batch, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


def test_trim_batch_cuts_to_the_longest_item():
    plan = Plan(Key(0, "major"), 100.0, Meter(4, 4), [Track("m", 0, [Note(60, 0, 4)])], [None] * 8, 32)
    short = example(plan_to_tokens(plan), 0, 1, True, 0, 100.0, 4)
    long = example(plan_to_tokens(plan), 0, 2, True, 0, 100.0, 4)
    b = trim_batch(torch.utils.data.default_collate([short, long]))
    assert b["melody"].shape == (2, 8, 6) and b["chords"].shape == (2, 8)
    assert b["valid"].tolist() == [[True] * 4 + [False] * 4, [True] * 8]
    assert (b["melody"][:, :, 4:] == 0).all()  # unused slots of x/4 beats are PAD


def test_inpainting_keeps_the_kept_bars_exactly():
    model = StructureModel(tiny_net())
    source = Plan(Key(2, "minor"), 90.0, Meter(4, 4),
                  [Track("m", 0, [Note(62 + i % 5, 4 * i, 4) for i in range(16)])],
                  [Chord(2, "min")] * 8 + [Chord(9, "7")] * 8, 64)
    keep = frozenset({0, 2})
    plan = model.generate([PlanRequest(Key(2, "minor"), Meter(4, 4), 90.0, 6, seed=3, source=source, keep_bars=keep)],
                          steps=4)[0]
    assert plan.num_bars == 6  # two bars more than the source: a continuation
    for bar in keep:
        window = (bar * 16, bar * 16 + 16)
        src = [n for n in source.melody.notes if window[0] <= n.start < window[1]]
        got = [n for n in plan.melody.notes if window[0] <= n.start < window[1]]
        assert [(n.pitch, n.start) for n in got] == [(n.pitch, n.start) for n in src]
        assert plan.chords[bar * 4: bar * 4 + 4] == source.chords[bar * 4: bar * 4 + 4]


def test_generation_is_reproducible_and_independent_of_the_batch():
    model = StructureModel(tiny_net())
    a = PlanRequest(Key(9, "minor"), Meter(6, 8), 120.0, 4, seed=11)
    b = PlanRequest(Key(9, "minor"), Meter(6, 8), 120.0, 4, seed=12)
    alone = model.generate([a], steps=6)[0]
    together = model.generate([b, a], steps=6)
    assert together[1] == alone
    assert together[0] != alone
    assert alone.key == Key(9, "minor") and alone.meter == Meter(6, 8) and alone.num_steps == 48


def test_sampler_reaches_a_known_distribution():
    """A denoiser that always predicts token 5 with certainty: every free position becomes 5."""
    def denoise(tokens, guided):
        logits = torch.full((*tokens[0].shape, 8), -30.0)
        logits[..., 5] = 0.0
        return [logits]

    start = torch.tensor([[3, 3, 3, 3]])
    keep = torch.tensor([[True, False, False, True]])
    out = sample(denoise, [start], [keep], steps=3, guidance=2.0, temperature=1.0,
                 generators=[torch.Generator().manual_seed(0)])[0]
    assert out.tolist() == [[3, 5, 5, 3]]
    assert MASK_ID not in out


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="bars"):
        PlanRequest(Key(0, "major"), Meter(4, 4), 100.0, 0, seed=0)


def test_checkpoint_round_trip_and_wrong_kind(tmp_path):
    from audiodiff.io.checkpoint import CheckpointError, save_checkpoint

    model = StructureModel(tiny_net(), {"steps": 3})
    path = model.save(tmp_path / "s.safetensors")
    loaded = StructureModel.load(path)
    assert loaded.metadata["steps"] == 3
    original = model.net.state_dict()
    for name, tensor in loaded.net.state_dict().items():  # stored as float16
        assert torch.allclose(tensor, original[name], rtol=1e-3, atol=1e-4), name
    save_checkpoint(tmp_path / "c.safetensors", {"w": torch.zeros(1)}, kind="codec", config={})
    with pytest.raises(CheckpointError, match="expected a 'structure' model"):
        StructureModel.load(tmp_path / "c.safetensors")


def test_checkpoint_with_mismatched_weights_gives_a_checkpoint_error(tmp_path):
    from audiodiff.io.checkpoint import CheckpointError, save_checkpoint

    net = tiny_net()
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("chord_head")}
    save_checkpoint(tmp_path / "s.safetensors", state, kind="structure", config={"net": net.config.to_dict()})
    with pytest.raises(CheckpointError, match="do not match"):
        StructureModel.load(tmp_path / "s.safetensors")


def test_long_plans_are_written_window_by_window_and_keep_kept_bars():
    model = StructureModel(tiny_net(), {"recipe": {"max_bars": 4}})
    source = Plan(Key(0, "major"), 100.0, Meter(3, 4), [Track("m", 0, [Note(60 + i % 7, 3 * i, 3) for i in range(40)])],
                  [Chord(0, "maj")] * 40, 120)
    request = PlanRequest(Key(0, "major"), Meter(3, 4), 100.0, 11, seed=1, source=source, keep_bars=frozenset({9}))
    plan = model.generate([request], steps=3)[0]
    assert plan.num_bars == 11 and len(plan.chords) == 33
    assert [(n.pitch, n.start) for n in plan.melody.notes if 108 <= n.start < 120] == \
        [(n.pitch, n.start) for n in source.melody.notes if 108 <= n.start < 120]
    assert model.generate([request], steps=3)[0] == plan  # deterministic across windows


def test_one_denoiser_call_gives_both_guidance_branches():
    """The doubled batch's unconditioned half equals a call whose items see no key, meter or tempo."""
    from audiodiff.structure.data import beat_positions
    from audiodiff.structure.net import NUM_KEYS, NUM_METERS, STEPS_PER_BEAT

    model = StructureModel(tiny_net(3))
    meter, n = Meter(3, 4), 2
    pos = beat_positions(meter, 2, end_known=True)
    cond = {**{k: np.repeat(v[None], n, axis=0) for k, v in pos.items()},
            "key": np.array([2, 17]), "meter": np.array([1, 1]), "bpm": np.array([90.0, 150.0], np.float32)}
    beats = next(iter(pos.values())).shape[0]
    melody = np.full((n, beats * STEPS_PER_BEAT), MASK_ID, dtype=np.int64)
    chords = np.full((n, beats), MASK_ID, dtype=np.int64)
    writer = model.writer()
    denoise = writer.denoiser(cond)
    both = denoise([np.concatenate([melody, melody]), np.concatenate([chords, chords])],
                   np.array([True, True, False, False]))
    alone = denoise([melody, chords], np.array([True, True]))
    blank = writer.denoiser({**cond, "key": np.full(n, NUM_KEYS), "meter": np.full(n, NUM_METERS),
                             "bpm": np.zeros(n, np.float32)})([melody, chords], np.array([True, True]))
    for stream in range(2):
        assert np.allclose(both[stream][:n], alone[stream], atol=1e-5)
        assert np.allclose(both[stream][n:], blank[stream], atol=1e-5)
        assert not np.allclose(both[stream][:n], both[stream][n:], atol=1e-3)
