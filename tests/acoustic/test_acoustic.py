"""Acoustic level: one part's features, the U-Net, the training task over per-part shards,
windowed generation with context and guidance, checkpoints, order-free part seeds. Tiny models
and tiny shards built by the tests (never the real data)."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from audiodiff.acoustic.data import codec_fingerprint
from audiodiff.acoustic.features import (
    DRUM_CLASSES,
    DRUM_PROGRAM,
    DRUM_ROW,
    NULL_PROGRAM,
    NUM_FEATURES,
    NUM_PITCHES,
    ONSET_ROW,
    PITCH_HIGH,
    PITCH_LOW,
    fold_pitch,
    part_program,
    part_rolls,
)
from audiodiff.acoustic.model import AcousticConfig, AcousticModel, denoise, window_schedule
from audiodiff.acoustic.net import AcousticNet, AcousticNetConfig
from audiodiff.acoustic.render import render_parts, sketch_latents
from audiodiff.acoustic.synth import SKETCH_VERSION, synth_part
from audiodiff.acoustic.task import AcousticTask, AcousticTrainingConfig
from audiodiff.backends import TorchCodec
from audiodiff.codec.model import Codec, CodecConfig, load_codec
from audiodiff.io.checkpoint import CheckpointError, save_checkpoint
from audiodiff.io.config import load_config
from audiodiff.music.performance import Part, TimedNote
from audiodiff.seeds import part_seed

FPS, SR, D = 75.0, 24000, 8


def melody(program: int = 40, bars: int = 1) -> Part:
    return Part("melody", program, [TimedNote(60 + (i * 7) % 12, 0.25 * i, 0.25 * i + 0.2, 60 + 5 * (i % 6))
                                    for i in range(8 * bars)])


def drums(bars: int = 1) -> Part:
    return Part("drums", 0, [TimedNote((36, 42, 38, 42)[i % 4], 0.5 * i, 0.5 * i + 0.1, 100) for i in range(4 * bars)],
                is_drum=True)


# -- features --------------------------------------------------------------------------------
def test_rolls_align_onsets_and_notes_with_their_times():
    part = Part("flute", 73, [TimedNote(64, 0.0, 0.5, 127), TimedNote(67, 0.37, 0.8, 64), TimedNote(72, 1.01, 1.2, 90)])
    rolls = part_rolls(part, FPS, 120)
    assert rolls.shape == (NUM_FEATURES, 120) and rolls.dtype == np.float32
    assert np.flatnonzero(rolls[ONSET_ROW]).tolist() == [round(t * FPS) for t in (0.0, 0.37, 1.01)]
    assert np.flatnonzero(rolls[67 - PITCH_LOW]).tolist() == list(range(round(0.37 * FPS), round(0.8 * FPS)))
    assert np.isclose(rolls[67 - PITCH_LOW, 40], 64 / 127) and np.isclose(rolls[ONSET_ROW, 0], 1.0)
    assert not rolls[DRUM_ROW:].any() and not rolls[:, round(1.2 * FPS):].any()
    assert part_program(part) == 73 and part_program(drums()) == DRUM_PROGRAM != NULL_PROGRAM


def test_a_window_from_a_later_start_sees_a_sounding_note_without_its_onset():
    part = Part("bass", 33, [TimedNote(40, 0.2, 1.51, 100), TimedNote(43, 1.6, 2.0, 100)])
    whole = part_rolls(part, FPS, 150)
    later = part_rolls(part, FPS, 60, start=1.0)
    assert later[40 - PITCH_LOW, 0] > 0 and later[ONSET_ROW, 0] == 0  # sounding from before, no onset
    assert np.array_equal(later[:NUM_PITCHES], whole[:NUM_PITCHES, 75:135])
    assert np.flatnonzero(later[ONSET_ROW]).tolist() == [round(0.6 * FPS)]


def test_drums_go_to_their_class_rows_and_outlying_pitches_fold_by_octaves():
    rolls = part_rolls(drums(), FPS, 150)
    kick, snare, hat, tom, cymbal, other = rolls[DRUM_ROW:]
    assert len(DRUM_CLASSES) == 6 and not rolls[:DRUM_ROW].any()  # no pitch or pitched-onset rows
    assert np.flatnonzero(kick).tolist() == [0] and np.flatnonzero(snare).tolist() == [round(1.0 * FPS)]
    assert np.flatnonzero(hat).tolist() == [round(0.5 * FPS), round(1.5 * FPS)]
    assert not (tom.any() or cymbal.any() or other.any()) and np.isclose(kick.max(), 100 / 127)
    cowbell = part_rolls(Part("d", 0, [TimedNote(56, 0.1, 0.2)], is_drum=True), FPS, 20)
    assert np.flatnonzero(cowbell[DRUM_ROW + len(DRUM_CLASSES) - 1]).tolist() == [round(0.1 * FPS)]
    assert fold_pitch(PITCH_LOW) == 0 and fold_pitch(PITCH_HIGH - 1) == NUM_PITCHES - 1
    for pitch in (0, 12, 23, 108, 115, 127):
        row = fold_pitch(pitch)
        assert 0 <= row < NUM_PITCHES and (row + PITCH_LOW - pitch) % 12 == 0
    high = part_rolls(Part("p", 0, [TimedNote(110, 0.0, 0.1), TimedNote(12, 0.2, 0.3)]), FPS, 30)
    assert high[fold_pitch(110), 0] > 0 and high[fold_pitch(12), round(0.2 * FPS)] > 0


# -- network ---------------------------------------------------------------------------------
def test_net_shapes_and_preset_sizes():
    torch.manual_seed(0)
    net = AcousticNet(AcousticNetConfig.from_dict({"preset": "tiny", "latent_dim": 6}))
    b, t = 3, 37  # not a multiple of the U-Net's frame_multiple
    out = net(torch.randn(b, 6, t), torch.randn(b), torch.rand(b, NUM_FEATURES, t),
              torch.tensor([40, DRUM_PROGRAM, NULL_PROGRAM]), torch.randn(b, 6, t), torch.randn(b, 6, t),
              torch.ones(b, 1, t))
    assert out.shape == (b, 6, t) and torch.isfinite(out).all()
    params = {name: sum(p.numel() for p in AcousticNet(AcousticNetConfig.preset(name)).parameters())
              for name in ("tiny", "cpu")}
    assert params["tiny"] < 200_000 and 1e6 < params["cpu"] < 12.5e6  # cpu export <= 50 MB in float32
    with pytest.raises(ValueError, match="preset"):
        AcousticNetConfig.preset("huge")


def test_the_net_sees_the_sketch_and_the_program():
    torch.manual_seed(0)
    net = AcousticNet(AcousticNetConfig.from_dict({"preset": "tiny", "latent_dim": D})).eval()
    g = torch.Generator().manual_seed(0)
    x, sketch = torch.randn(1, D, 32, generator=g), torch.randn(1, D, 32, generator=g)
    rolls, zeros, mask = torch.rand(1, NUM_FEATURES, 32, generator=g), torch.zeros(1, D, 32), torch.zeros(1, 1, 32)

    def run(program: int, s: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net(x, torch.zeros(1), rolls, torch.tensor([program]), s, zeros, mask)
    base = run(40, sketch)
    assert not torch.allclose(base, run(73, sketch), atol=1e-4) and not torch.allclose(base, run(40, 2 * sketch))


# -- checkpoints and the codec's fingerprint --------------------------------------------------
def test_codec_fingerprint_names_the_latents_not_the_decoder():
    torch.manual_seed(0)
    codec = Codec(CodecConfig.preset("tiny"))
    before = codec_fingerprint(codec)
    with torch.no_grad():
        next(codec.decoder.parameters()).add_(1.0)  # a decoder-only fine-tune keeps the latents
        assert codec_fingerprint(codec) == before
        next(codec.encoder.parameters()).add_(1.0)
        assert codec_fingerprint(codec) != before
        changed = codec_fingerprint(codec)
        codec.set_latent_scale(2.0)
        assert codec_fingerprint(codec) != changed


@pytest.fixture(scope="module")
def tiny_model() -> AcousticModel:
    torch.manual_seed(0)
    config = AcousticConfig(net=AcousticNetConfig.from_dict({"preset": "tiny", "latent_dim": D}),
                            frame_rate=FPS, window_frames=32, context_frames=8)
    return AcousticModel(AcousticNet(config.net), config)


def sketches_for(parts: list[Part], frames: int, seed: int = 0) -> torch.Tensor:
    """Stand-in sketch latents [P, D, frames] that follow each part's notes (no codec needed)."""
    rolls = torch.from_numpy(np.stack([part_rolls(p, FPS, frames) for p in parts]))
    mixing = torch.randn(NUM_FEATURES, D, generator=torch.Generator().manual_seed(seed))
    return torch.einsum("pft,fd->pdt", rolls, mixing)


def test_checkpoint_round_trip_and_one_line_errors(tiny_model, tmp_path, tiny_ckpts):
    path = tiny_model.save(tmp_path / "acoustic.safetensors", {"note": "test"})
    loaded = AcousticModel.load(path)
    assert loaded.config == tiny_model.config and loaded.metadata == {"note": "test"}
    # weights are stored in 16 bits and upcast at load
    assert all(a.dtype == b.dtype and torch.equal(a, b.half().to(b.dtype) if b.is_floating_point() else b)
               for a, b in zip(loaded.net.state_dict().values(), tiny_model.net.state_dict().values()))
    parts = [melody()]
    sketch = sketches_for(parts, 40)
    ours, theirs = loaded.generate(parts, sketch, [4], steps=2), tiny_model.generate(parts, sketch, [4], steps=2)
    assert torch.allclose(ours, theirs, atol=1e-2)  # 16-bit weights
    loaded.writer().check_codec(D, FPS)
    with pytest.raises(ValueError, match="16 channels"):
        loaded.writer().check_codec(16, FPS)
    with pytest.raises(CheckpointError, match="expected a 'acoustic' model"):
        AcousticModel.load(tiny_ckpts["codec"])
    # weights of another architecture (the previous design's input layer had other channels)
    state = dict(tiny_model.net.state_dict())
    name = next(k for k, v in state.items() if v.dim() == 3)
    state[name] = torch.zeros(*state[name].shape[:-1], state[name].shape[-1] + 2)
    bad = save_checkpoint(tmp_path / "bad.safetensors", state, kind="acoustic", config=tiny_model.config.to_dict())
    with pytest.raises(CheckpointError, match="do not fit the acoustic architecture") as err:
        AcousticModel.load(bad)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)
    odd = save_checkpoint(tmp_path / "odd.safetensors", tiny_model.net.state_dict(), kind="acoustic",
                          config={**tiny_model.config.to_dict(), "window_frames": 4, "context_frames": 8})
    with pytest.raises(CheckpointError, match="invalid acoustic config") as err:
        AcousticModel.load(odd)
    assert "\n" not in str(err.value)


# -- windowed generation ---------------------------------------------------------------------
def test_window_schedule_covers_every_frame_once():
    spans = window_schedule(100, 0, 32, 8)
    assert spans == [(0, 0), (24, 8), (48, 8), (72, 8)]
    assert window_schedule(100, 5, 32, 8) == [(0, 5), (24, 8), (48, 8), (72, 8)]
    assert window_schedule(100, 40, 32, 8) == [(32, 8), (56, 8), (80, 8)]
    assert window_schedule(10, 10, 32, 8) == []
    for total, known in [(1, 0), (31, 0), (33, 0), (250, 0), (250, 17), (250, 249)]:
        covered = np.zeros(total, int)
        spans = window_schedule(total, known, 32, 8)
        for start, have in spans:
            assert have == min(8, start + have) and 0 <= start
            covered[start + have: start + 32] += 1
        assert (covered[known:] == 1).all() and not covered[:known].any()


def test_long_parts_render_in_windows_deterministically_per_seed(tiny_model):
    long, short = melody(bars=3), drums()
    frames = 150  # five 32-frame windows with 8 frames of context
    sketch = sketches_for([long, short], frames)
    a = tiny_model.generate([long], sketch[:1], [1], steps=3)
    assert a.shape == (1, D, frames) and torch.isfinite(a).all()
    assert torch.equal(a, tiny_model.generate([long], sketch[:1], [1], steps=3))
    assert not torch.allclose(a, tiny_model.generate([long], sketch[:1], [2], steps=3))
    both = tiny_model.generate([short, long], sketch.flip(0), [5, 1], steps=3)  # item 1 does not depend on its batch
    assert both.shape == (2, D, frames) and torch.allclose(both[1], a[0], atol=1e-3)  # batch rounding x guidance
    with pytest.raises(ValueError, match="steps"):
        tiny_model.generate([long], sketch[:1], [1], steps=0)
    with pytest.raises(ValueError, match="one seed and one sketch per part"):
        tiny_model.generate([long, short], sketch[:1], [1, 2], steps=1)
    with pytest.raises(ValueError, match="sketches must be"):
        tiny_model.generate([long], torch.zeros(1, D + 1, frames), [1], steps=1)


def test_the_previous_window_conditions_the_next(tiny_model):
    part = melody()
    sketch = sketches_for([part], 70)
    prefix_a = torch.randn(1, D, 40, generator=torch.Generator().manual_seed(0))
    prefix_b = prefix_a.clone()
    prefix_b[..., 32:] += 1.0  # change only the tail the next window sees as context
    a = tiny_model.generate([part], sketch, [3], steps=3, prefix=prefix_a)
    b = tiny_model.generate([part], sketch, [3], steps=3, prefix=prefix_b)
    assert torch.equal(a[..., :40], prefix_a) and torch.equal(b[..., :40], prefix_b)
    assert (a[..., 40:64] - b[..., 40:64]).abs().max() > 1e-3  # the next window follows its context
    prefix_c = prefix_a.clone()
    prefix_c[..., :32] -= 1.0  # frames before the context are not seen
    assert torch.equal(tiny_model.generate([part], sketch, [3], steps=3, prefix=prefix_c)[..., 40:], a[..., 40:])
    with pytest.raises(ValueError, match="prefix"):
        tiny_model.generate([part], sketch, [3], prefix=torch.zeros(1, 5, 40))


def test_guidance_uses_the_part_and_its_sketch(tiny_model):
    part = melody()
    sketch = sketches_for([part], 40)
    a = tiny_model.generate([part], sketch, [0], steps=2, guidance=3.0)
    assert not torch.allclose(a, tiny_model.generate([Part("melody", 40)], sketch, [0], steps=2, guidance=3.0))
    assert not torch.allclose(a, tiny_model.generate([part], 2 * sketch, [0], steps=2, guidance=3.0))
    assert not torch.allclose(a, tiny_model.generate([Part("melody", 0, part.notes)], sketch, [0], steps=2,
                                                     guidance=3.0))


def window_inputs(tiny_model: AcousticModel) -> tuple[torch.Tensor, ...]:
    rolls = torch.from_numpy(np.stack([part_rolls(melody(), FPS, 32), part_rolls(drums(), FPS, 32)]))
    programs = torch.tensor([40, DRUM_PROGRAM])
    gen = torch.Generator().manual_seed(0)
    sketch, context, x = (torch.randn(2, D, 32, generator=gen) for _ in range(3))
    mask = torch.zeros(2, 1, 32)
    mask[..., :8] = 1.0
    return rolls, programs, sketch, context * mask, mask, x


def numpy_window_denoiser(model, rolls, programs, sketch, context, mask, guidance):
    """The sampler's denoiser of a window (numpy, on the model's torch net), called with torch tensors."""
    denoiser = model.writer().window_denoiser(rolls.numpy(), programs.numpy(), sketch.numpy(), context.numpy(),
                                              mask.numpy(), guidance)
    return lambda x, sigma: denoiser(x.numpy(), sigma.numpy())


def test_guided_denoiser_is_the_cfg_mix_of_a_conditional_and_a_blank_part_branch(tiny_model):
    rolls, programs, sketch, context, mask, x = window_inputs(tiny_model)
    sigma, sd = torch.tensor([2.0, 0.5]), tiny_model.config.sigma_data
    with torch.no_grad():
        cond = denoise(tiny_model.net, x, sigma, rolls, programs, sketch, context, mask, sd)
        uncond = denoise(tiny_model.net, x, sigma, torch.zeros_like(rolls), torch.full_like(programs, NULL_PROGRAM),
                         torch.zeros_like(sketch), context, mask, sd)
    guided = numpy_window_denoiser(tiny_model, rolls, programs, sketch, context, mask, 3.0)(x, sigma)
    expected = (uncond + 3.0 * (cond - uncond)).numpy()
    assert np.allclose(guided[..., 8:], expected[..., 8:], atol=1e-5)
    assert np.array_equal(guided[..., :8], context[..., :8].numpy())  # known frames are held
    assert not torch.allclose(cond, uncond, atol=1e-3)


def test_guidance_one_runs_the_conditional_branch_alone(tiny_model, monkeypatch):
    rolls, programs, sketch, context, mask, x = window_inputs(tiny_model)
    sigma = torch.tensor([1.0, 1.0])
    batches = []
    forward = tiny_model.net.forward

    def counting(x_in, *args):
        batches.append(x_in.shape[0])
        return forward(x_in, *args)
    monkeypatch.setattr(tiny_model.net, "forward", counting)
    plain = numpy_window_denoiser(tiny_model, rolls, programs, sketch, context, mask, 1.0)(x, sigma)
    with torch.no_grad():
        cond = denoise(tiny_model.net, x, sigma, rolls, programs, sketch, context, mask, tiny_model.config.sigma_data)
    numpy_window_denoiser(tiny_model, rolls, programs, sketch, context, mask, 2.0)(x, sigma)
    assert batches == [2, 2, 4]  # guidance 1: one branch, no doubled batch; else one call on both branches
    assert np.allclose(plain[..., 8:], cond[..., 8:].numpy(), atol=1e-6)
    assert np.array_equal(plain[..., :8], context[..., :8].numpy())


# -- part seeds and the codec's sketch --------------------------------------------------------
def test_part_seeds_depend_on_the_part_not_its_position():
    a, b = melody(), drums()
    assert part_seed(7, a) == part_seed(7, Part("another name", a.program, list(a.notes)))
    assert len({part_seed(7, a), part_seed(7, b), part_seed(8, a), part_seed(7, melody(program=41))}) == 4
    moved = Part(a.name, a.program, [TimedNote(n.pitch, n.start + 0.01, n.end, n.velocity) for n in a.notes])
    assert part_seed(7, moved) != part_seed(7, a)


def test_sketch_latents_are_the_codec_encoding_of_the_synth(tiny_ckpts):
    codec = load_codec(tiny_ckpts["codec"]).eval()
    parts = [melody(), drums()]
    frames = 60
    got = sketch_latents(TorchCodec(codec), parts, frames, 2)
    assert got.shape == (2, codec.latent_dim, frames)
    wav = torch.from_numpy(synth_part(parts[1], frames * codec.hop_length, codec.sample_rate))[None, None]
    with torch.no_grad():
        assert np.allclose(got[1], codec.encode(wav)[0, :, :frames].numpy(), atol=1e-5)
    assert not np.allclose(got[0], got[1], atol=1e-4)


def test_render_parts_is_order_free(tiny_ckpts):
    codec = TorchCodec(load_codec(tiny_ckpts["codec"]))
    acoustic = AcousticModel.load(tiny_ckpts["acoustic"]).writer()
    parts = [melody(), drums()]
    kw = {"steps": 2, "guidance": 2.0, "sampler": "dpmpp_2m"}
    forward = render_parts(acoustic, codec, parts, 11, 60, **kw)
    backward = render_parts(acoustic, codec, parts[::-1], 11, 60, **kw)
    assert forward.shape == (2, codec.latent_dim, 60)
    assert np.allclose(forward, backward[::-1], atol=1e-5)
    assert not np.allclose(forward, render_parts(acoustic, codec, parts, 11, 60, stream=5, **kw), atol=1e-4)


# -- training ---------------------------------------------------------------------------------
def tiny_training_config(codec_path: str | Path, **train) -> AcousticTrainingConfig:
    return AcousticTrainingConfig.from_dict({
        "model": {"net": {"preset": "tiny"}, "window_frames": 32, "context_frames": 8},
        "codec": str(codec_path), "train": train})


def test_tiny_model_loss_falls_within_a_few_steps(part_shards, tiny_ckpts):
    task = AcousticTask(tiny_training_config(tiny_ckpts["codec"]), str(part_shards))
    assert task.config.model.net.latent_dim == 16 and task.config.model.frame_rate == FPS
    assert task.codec_sha == codec_fingerprint(load_codec(tiny_ckpts["codec"])) and len(task.dataset) == 6
    batch = default_collate([task.dataset[i] for i in range(len(task.dataset))])
    torch.manual_seed(0)
    net = task.build_model()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for step in range(30):
        torch.manual_seed(1)  # the same noise levels, noise and dropout every step: a fixed objective
        loss, logs = task.loss(net, batch, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and "mse" in logs
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_task_takes_several_comma_separated_data_folders(part_shards, tiny_ckpts, tmp_path):
    import shutil

    other = tmp_path / "more"
    shutil.copytree(part_shards / "shard-00000", other / "shard-00000")
    task = AcousticTask(tiny_training_config(tiny_ckpts["codec"]), f"{part_shards},{other}")
    assert len(task.dataset) == 12 and len(task.dataset.shards) == 2


def test_training_run_exports_a_model_that_generates(part_shards, tiny_ckpts, tmp_path):
    from audiodiff.train.loop import train

    config = tiny_training_config(tiny_ckpts["codec"], out_dir=str(tmp_path / "run"), batch_size=2, max_steps=2,
                                  log_every=1, ckpt_every=2)
    task = AcousticTask(config, str(part_shards))
    summary = train(task, task.config.train)
    model = AcousticModel.load(summary.export_path)
    assert model.metadata["codec_sha"] == task.codec_sha and model.config == task.config.model
    assert model.config.sketch_version == SKETCH_VERSION  # the sketches it learned
    codec = load_codec(tiny_ckpts["codec"]).eval()
    parts = [melody(), drums()]
    latents = model.generate(parts, torch.from_numpy(sketch_latents(TorchCodec(codec), parts, 50, 2)), [0, 1],
                             steps=2, guidance=1.5)
    assert latents.shape == (2, 16, 50) and torch.isfinite(latents).all()
    # and a run can start from it (--init-from): the architecture must be the recipe's
    fresh = task.build_model()
    task.load_weights(fresh, summary.export_path)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.net.state_dict().values()))
    # a model that learned an older sketch synth can be fine-tuned on today's sketches
    older = AcousticModel(model.net, replace(model.config, sketch_version=1))
    older.save(tmp_path / "older.safetensors", {})
    task.load_weights(task.build_model(), tmp_path / "older.safetensors")


def test_an_acoustic_model_sketches_with_the_synth_version_it_learned(tiny_ckpts, monkeypatch):
    from audiodiff.acoustic import render

    writer = AcousticModel.load(tiny_ckpts["acoustic"]).writer()
    codec = TorchCodec(load_codec(tiny_ckpts["codec"]).eval())
    versions: list[int] = []
    synth = render.synth_part
    monkeypatch.setattr(render, "synth_part", lambda part, n, sr, version: versions.append(version)
                        or synth(part, n, sr, version))
    for version in (1, 2):
        writer.config = replace(writer.config, sketch_version=version)
        render.render_parts(writer, codec, [melody()], 0, 20, steps=1, guidance=1.0, sampler="heun")
        assert versions[-1] == version
    with pytest.raises(ValueError, match="sketch synth version 9"):
        replace(writer.config, sketch_version=9)


@pytest.mark.parametrize("name", ["tiny", "cpu", "gpu"])
def test_recipe_configs_resolve(name):
    config = AcousticTrainingConfig.from_dict(load_config("acoustic", name))
    assert AcousticTrainingConfig.from_dict(config.to_dict()) == config
    assert config.model.net == AcousticNetConfig.preset(name)
    assert 0 < config.model.context_frames < config.model.window_frames
    with pytest.raises(ValueError, match="unknown config keys"):
        AcousticTrainingConfig.from_dict({"modle": {}})


def test_finetune_config_continues_the_cpu_model_at_a_lower_learning_rate():
    def load(name):
        return AcousticTrainingConfig.from_dict(load_config("acoustic", name))
    cpu, finetune = load("cpu"), load("cpu_finetune")
    assert finetune.model == cpu.model  # --init-from a cpu export fits
    assert finetune.train.lr < cpu.train.lr and finetune.train.batch_size == cpu.train.batch_size
    refine = load("cpu_refine")  # the noise levels that sampling from the sketch at sigma 0.5 visits
    assert refine.model == cpu.model and refine.train == finetune.train
    assert math.exp(refine.p_mean + 2 * refine.p_std) <= 1.0 < math.exp(cpu.p_mean + 2 * cpu.p_std)
