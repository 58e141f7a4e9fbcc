"""Acoustic level: plan features, the U-Net, the latent cache and crops, the training task, windowed
generation with context, checkpoints. Tiny models and a synthetic corpus (never the real one)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import default_collate

from audiodiff.acoustic.data import LatentWindows, codec_fingerprint, encode_corpus_latents, read_latent_index
from audiodiff.acoustic.features import (
    NULL_PROGRAM,
    NUM_FEATURES,
    NUM_PITCHES,
    NUM_SLOTS,
    PITCH_LOW,
    SLOT_CHANNELS,
    plan_features,
    plan_frames,
)
from audiodiff.acoustic.model import AcousticConfig, AcousticModel, denoise, window_schedule
from audiodiff.acoustic.net import AcousticNet, AcousticNetConfig
from audiodiff.acoustic.task import AcousticTask, AcousticTrainingConfig
from audiodiff.codec.model import Codec, CodecConfig, save_codec
from audiodiff.io.checkpoint import CheckpointError
from audiodiff.io.config import load_config
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Chord, Key, Meter

FPS, SR = 75.0, 24000


def band_plan(bars: int = 1, bpm: float = 120.0, melody_program: int = 40) -> Plan:
    """Melody, bass, comping and drums in 4/4 (one bar = 2 s at 120 bpm)."""
    n = bars * 16
    melody = [Note(60 + (i * 7) % 12, 2 * i, 2, 90) for i in range(n // 2)]
    bass = [Note(36, 8 * i, 8, 80) for i in range(n // 8)]
    comp = [Note(p, 4 * i, 3, 60) for i in range(n // 4) for p in (55, 59, 62)]
    drums = [Note(36, 4 * i, 1, 100) for i in range(n // 4)] + [Note(42, 2 * i + 1, 1, 50) for i in range(n // 2)]
    tracks = [Track("melody", melody_program, melody), Track("bass", 33, bass), Track("comping", 0, comp),
              Track("drums", 0, drums, is_drum=True)]
    return Plan(Key(0, "major"), bpm, Meter(4, 4), tracks, [Chord(0, "maj")] * (n // 4), n)


# -- features --------------------------------------------------------------------------------
def test_features_align_onsets_and_notes_with_the_plan():
    plan = Plan(Key(0, "major"), 96.0, Meter(3, 4),
                [Track("melody", 73, [Note(64, 0, 4), Note(67, 5, 3), Note(72, 9, 3)]),
                 Track("bass", 32, [Note(40, -2, 6)])], [None] * 3, 12)
    feats = plan_features(plan, FPS)
    assert feats.rolls.shape == (NUM_FEATURES, plan_frames(plan, FPS)) and feats.rolls.dtype == np.float32
    assert feats.programs.tolist() == [73, 32, NULL_PROGRAM, NULL_PROGRAM]
    melody_onsets = np.flatnonzero(feats.rolls[NUM_PITCHES])
    assert melody_onsets.tolist() == [plan.step_to_frame(s, FPS) for s in (0, 5, 9)]
    assert melody_onsets.tolist() == [round(s / 4 * 60 / 96 * FPS) for s in (0, 5, 9)]  # beat * 60 / bpm * fps
    start, end = plan.step_to_frame(5, FPS), plan.step_to_frame(8, FPS)
    assert np.flatnonzero(feats.rolls[67 - PITCH_LOW]).tolist() == list(range(start, end))
    # a note sounding from before the window is active from frame 0 but has no onset
    bass = feats.rolls[SLOT_CHANNELS: 2 * SLOT_CHANNELS]
    assert bass[40 - PITCH_LOW, 0] > 0 and not bass[NUM_PITCHES].any()
    assert np.flatnonzero(bass[40 - PITCH_LOW]).tolist() == list(range(plan.step_to_frame(4, FPS)))


def test_features_of_drums_extra_tracks_and_outlying_pitches():
    plan = band_plan()
    extra = Track("descant", 68, [Note(110, 0, 4), Note(12, 4, 4)])  # 5th pitched track -> last slot
    plan.tracks.append(extra)
    feats = plan_features(plan, FPS, num_frames=200)
    assert feats.rolls.shape == (NUM_FEATURES, 200) and not feats.rolls[:, 151:].any()  # silent after the plan
    assert feats.programs.tolist() == [40, 33, 0, 68]
    kick, snare, hat, other = feats.rolls[NUM_SLOTS * SLOT_CHANNELS:]
    assert np.flatnonzero(kick).tolist() == [plan.step_to_frame(4 * i, FPS) for i in range(4)]
    assert np.isclose(kick.max(), 100 / 127) and hat.any() and not snare.any() and not other.any()
    last = feats.rolls[3 * SLOT_CHANNELS: 3 * SLOT_CHANNELS + NUM_PITCHES]
    assert last[110 - 12 - PITCH_LOW, 0] > 0 and last[12 + 12 - PITCH_LOW, plan.step_to_frame(4, FPS)] > 0


# -- network ---------------------------------------------------------------------------------
def test_net_shapes_and_preset_sizes():
    torch.manual_seed(0)
    net = AcousticNet(AcousticNetConfig.from_dict({"preset": "tiny", "latent_dim": 6}))
    b, t = 2, 37  # not a multiple of the U-Net's frame_multiple
    out = net(torch.randn(b, 6, t), torch.randn(b), torch.rand(b, NUM_FEATURES, t),
              torch.tensor([[40, 33, 0, NULL_PROGRAM]] * b), torch.randn(b, 6, t), torch.ones(b, 1, t))
    assert out.shape == (b, 6, t) and torch.isfinite(out).all()
    params = {name: sum(p.numel() for p in AcousticNet(AcousticNetConfig.preset(name)).parameters())
              for name in ("tiny", "cpu")}
    assert params["tiny"] < 200_000 and 3e6 < params["cpu"] < 12.5e6  # cpu export <= 50 MB in float32
    with pytest.raises(ValueError, match="preset"):
        AcousticNetConfig.preset("huge")


# -- synthetic corpus, latent cache and crops ------------------------------------------------
def synth(plan: Plan, seconds: float) -> np.ndarray:
    """Sine tones of the plan's pitched notes (so the latents follow the plan)."""
    t = np.arange(int(seconds * SR)) / SR
    out = np.zeros_like(t)
    for track in plan.tracks:
        for note in ([] if track.is_drum else track.notes):
            a, b = plan.step_to_seconds(note.start), plan.step_to_seconds(note.end)
            on = (t >= a) & (t < b)
            out[on] += 0.1 * note.velocity / 127 * np.sin(2 * np.pi * 440 * 2 ** ((note.pitch - 69) / 12) * t[on])
    return out.astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    """(data root with train.jsonl: 2 items x 2 windows of 1 s, tiny codec checkpoint)."""
    root = tmp_path_factory.mktemp("acoustic_corpus")
    rows = []
    for item in range(2):
        full = band_plan(bars=1, melody_program=(40, 73)[item])
        for w in range(2):
            window = full.crop(8 * w, 8)
            name = f"item{item}_w{w:02d}"
            (root / "audio").mkdir(exist_ok=True)
            (root / "plans").mkdir(exist_ok=True)
            sf.write(root / "audio" / f"{name}.flac", synth(window, 1.0), SR, subtype="PCM_16")
            (root / "plans" / f"{name}.json").write_text(json.dumps(window.to_dict()))
            rows.append({"id": name, "audio": f"audio/{name}.flac", "plan": f"plans/{name}.json",
                         "sample_rate": SR, "num_samples": SR, "seconds": 1.0, "start_seconds": float(w),
                         "item_id": f"item{item}", "programs": window.programs})
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    torch.manual_seed(0)
    codec_path = save_codec(Codec(CodecConfig.preset("tiny")), root / "codec.safetensors")
    return root, codec_path


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


def test_latent_cache_is_built_once_and_reused(corpus, tmp_path, monkeypatch):
    root, codec_path = corpus
    from audiodiff.codec.model import load_codec

    codec = load_codec(codec_path)
    cache = encode_corpus_latents(codec, root, "train", tmp_path / "train_latents.npy", batch_size=3)
    index = read_latent_index(cache)
    assert index["ids"] == [f"item{i}_w{w:02d}" for i in range(2) for w in range(2)]
    assert index["frames"] == [75] * 4 and index["latent_dim"] == 16
    stored = np.load(cache)
    assert stored.shape == (300, 16) and stored.dtype == np.float16
    wav = torch.from_numpy(sf.read(root / "audio" / "item1_w00.flac", dtype="float32")[0])[None, None]
    with torch.no_grad():
        direct = codec.encode(wav)[0].T.numpy()
    assert np.allclose(stored[150:225], direct, atol=1e-2 * max(1.0, np.abs(direct).max()))
    before = cache.stat().st_mtime_ns

    def fail(wav):
        raise AssertionError("the cache should have been reused")
    monkeypatch.setattr(codec, "encode", fail)
    assert encode_corpus_latents(codec, root, "train", cache) == cache and cache.stat().st_mtime_ns == before


def test_processes_wanting_one_cache_at_once_encode_it_once(corpus, tmp_path):
    import threading

    from audiodiff.codec.model import load_codec

    root, codec_path = corpus
    codec, calls = load_codec(codec_path), []
    encode = codec.encode

    def slow_encode(wav):
        calls.append(wav.shape[0])
        threading.Event().wait(0.05)  # long enough for the other caller to arrive meanwhile
        return encode(wav)
    codec.encode = slow_encode
    cache = tmp_path / "shared.npy"
    stale = tmp_path / ".shared.npy.999.deadbeef.tmp.npy"  # what an encoder killed by SIGKILL leaves
    stale.write_bytes(b"partial")
    results = []
    callers = [threading.Thread(target=lambda: results.append(encode_corpus_latents(codec, root, "train", cache,
                                                                                     batch_size=4)))
               for _ in range(2)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert results == [cache, cache] and calls == [4]  # 4 windows, one batch, encoded once
    assert not stale.exists() and read_latent_index(cache)["frames"] == [75] * 4


def test_crops_hold_latents_plan_and_context_and_repeat_per_epoch(corpus, tmp_path):
    root, codec_path = corpus
    from audiodiff.codec.model import load_codec

    cache = encode_corpus_latents(load_codec(codec_path), root, "train", tmp_path / "c.npy")
    data = LatentWindows(root, "train", cache, window_frames=32, context_frames=8, context_dropout=0.3, seed=1)
    item = data[2]
    assert item["latents"].shape == (16, 32) and item["rolls"].shape == (NUM_FEATURES, 32)
    assert item["programs"].tolist() == [73, 33, 0, NULL_PROGRAM] and 0 <= int(item["context_frames"]) <= 8
    assert all(torch.equal(a, b) for a, b in zip(data[2].values(), item.values()))
    data.set_epoch(1)
    assert any(not torch.equal(data[i]["latents"], LatentWindows(
        root, "train", cache, window_frames=32, context_frames=8, context_dropout=0.3, seed=1)[i]["latents"])
        for i in range(len(data)))
    with pytest.raises(ValueError, match="shorter than window_frames"):
        LatentWindows(root, "train", cache, window_frames=100, context_frames=8, context_dropout=0.0)


def tiny_training_config(codec_path: Path, cache_dir: Path, **train) -> AcousticTrainingConfig:
    return AcousticTrainingConfig.from_dict({
        "model": {"net": {"preset": "tiny"}, "window_frames": 32, "context_frames": 8},
        "codec": str(codec_path), "latent_cache_dir": str(cache_dir), "train": train})


def test_tiny_model_loss_falls_within_a_few_steps(corpus, tmp_path):
    root, codec_path = corpus
    task = AcousticTask(tiny_training_config(codec_path, tmp_path), root)
    assert task.config.model.net.latent_dim == 16 and task.config.model.frame_rate == FPS
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


def test_training_run_exports_a_model_that_generates(corpus, tmp_path):
    from audiodiff.train.loop import train

    root, codec_path = corpus
    config = tiny_training_config(codec_path, tmp_path / "cache", out_dir=str(tmp_path / "run"), batch_size=2,
                                  max_steps=2, log_every=1, ckpt_every=2)
    task = AcousticTask(config, root)
    summary = train(task, task.config.train)
    model = AcousticModel.load(summary.export_path)
    assert model.metadata["codec_sha"] == task.codec_sha and model.config == task.config.model
    latents = model.generate([band_plan()], [0], steps=2, guidance=1.5)
    assert latents.shape == (1, 16, model.num_frames(band_plan()))


# -- windowed generation ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model() -> AcousticModel:
    torch.manual_seed(0)
    config = AcousticConfig(net=AcousticNetConfig.from_dict({"preset": "tiny", "latent_dim": 8}),
                            frame_rate=FPS, window_frames=32, context_frames=8)
    return AcousticModel(AcousticNet(config.net), config)


def test_window_schedule_covers_every_frame_once():
    spans = window_schedule(100, 0, 32, 8)
    assert spans == [(0, 0), (24, 8), (48, 8), (72, 8)]
    assert window_schedule(100, 5, 32, 8) == [(0, 5), (24, 8), (48, 8), (72, 8)]
    assert window_schedule(100, 40, 32, 8) == [(32, 8), (56, 8), (80, 8)]
    assert window_schedule(10, 10, 32, 8) == []


def test_long_plans_render_in_windows_deterministically_per_seed(tiny_model):
    plan, short = band_plan(bars=2), band_plan(bars=1)  # 4 s and 2 s: many 32-frame windows
    frames = tiny_model.num_frames(plan)
    assert frames == plan_frames(plan, FPS) + 75 and frames > 4 * tiny_model.config.window_frames
    a = tiny_model.generate([plan], [1], steps=3)
    assert a.shape == (1, 8, frames) and torch.isfinite(a).all()
    assert torch.equal(a, tiny_model.generate([plan], [1], steps=3))
    assert not torch.allclose(a, tiny_model.generate([plan], [2], steps=3))
    both = tiny_model.generate([short, plan], [5, 1], steps=3)  # item 1 does not depend on its batch
    assert both.shape == (2, 8, frames) and torch.allclose(both[1], a, atol=1e-4)  # rounding x guidance
    with pytest.raises(ValueError, match="steps"):
        tiny_model.generate([plan], [1], steps=0)


def test_the_previous_window_conditions_the_next(tiny_model):
    plan = band_plan(bars=1)
    prefix_a = torch.randn(1, 8, 40, generator=torch.Generator().manual_seed(0))
    prefix_b = prefix_a.clone()
    prefix_b[..., 32:] += 1.0  # change only the tail the next window sees as context
    a = tiny_model.generate([plan], [3], steps=3, prefix=prefix_a)
    b = tiny_model.generate([plan], [3], steps=3, prefix=prefix_b)
    assert torch.equal(a[..., :40], prefix_a) and torch.equal(b[..., :40], prefix_b)
    assert (a[..., 40:64] - b[..., 40:64]).abs().max() > 1e-3  # the next window follows its context
    prefix_c = prefix_a.clone()
    prefix_c[..., :32] -= 1.0  # frames before the context are not seen
    assert torch.equal(tiny_model.generate([plan], [3], steps=3, prefix=prefix_c)[..., 40:], a[..., 40:])
    with pytest.raises(ValueError, match="prefix"):
        tiny_model.generate([plan], [3], prefix=torch.zeros(1, 5, 40))


def test_guidance_uses_the_plan(tiny_model):
    plan = band_plan(bars=1)
    silent = Plan(plan.key, plan.bpm, plan.meter, [], plan.chords, plan.num_steps)
    assert not torch.allclose(tiny_model.generate([plan], [0], steps=2, guidance=3.0),
                              tiny_model.generate([silent], [0], steps=2, guidance=3.0))


def test_guided_denoiser_is_the_cfg_mix_of_a_conditional_and_a_blank_plan_branch(tiny_model):
    feats = plan_features(band_plan(bars=1), FPS, 32)
    rolls, programs = torch.from_numpy(feats.rolls[None]), torch.from_numpy(feats.programs[None])
    gen = torch.Generator().manual_seed(0)
    context, x = torch.randn(1, 8, 32, generator=gen), torch.randn(1, 8, 32, generator=gen)
    mask = torch.zeros(1, 1, 32)
    mask[..., :8] = 1.0
    sigma, sd = torch.tensor([2.0]), tiny_model.config.sigma_data
    with torch.no_grad():
        cond = denoise(tiny_model.net, x, sigma, rolls, programs, context * mask, mask, sd)
        uncond = denoise(tiny_model.net, x, sigma, torch.zeros_like(rolls), torch.full_like(programs, NULL_PROGRAM),
                         context * mask, mask, sd)
        guided = tiny_model.window_denoiser(rolls, programs, context * mask, mask, 3.0)(x, sigma)
    expected = uncond + 3.0 * (cond - uncond)
    assert torch.allclose(guided[..., 8:], expected[..., 8:], atol=1e-5)
    assert torch.equal(guided[..., :8], context[..., :8])  # known frames are held
    assert not torch.allclose(cond, uncond, atol=1e-3)


def test_checkpoint_round_trip(tiny_model, tmp_path, corpus):
    path = tiny_model.save(tmp_path / "acoustic.safetensors", {"note": "test"})
    loaded = AcousticModel.load(path)
    assert loaded.config == tiny_model.config and loaded.metadata == {"note": "test"}
    assert all(torch.equal(a, b)
               for a, b in zip(loaded.net.state_dict().values(), tiny_model.net.state_dict().values()))
    plan = band_plan()
    assert torch.equal(loaded.generate([plan], [4], steps=2), tiny_model.generate([plan], [4], steps=2))
    loaded.check_codec(8, 75.0)
    with pytest.raises(ValueError, match="16 channels"):
        loaded.check_codec(16, 75.0)
    with pytest.raises(CheckpointError, match="expected a 'acoustic' model"):
        AcousticModel.load(corpus[1])


@pytest.mark.parametrize("name", ["tiny", "cpu", "gpu"])
def test_recipe_configs_resolve(name):
    config = AcousticTrainingConfig.from_dict(load_config("acoustic", name))
    assert AcousticTrainingConfig.from_dict(config.to_dict()) == config
    assert config.model.net == AcousticNetConfig.preset(name)
    with pytest.raises(ValueError, match="unknown config keys"):
        AcousticTrainingConfig.from_dict({"modle": {}})


def test_finetune_config_continues_the_cpu_model_at_a_lower_learning_rate():
    def load(name):
        return AcousticTrainingConfig.from_dict(load_config("acoustic", name))
    cpu, finetune = load("cpu"), load("cpu_finetune")
    assert finetune.model == cpu.model  # --init-from a cpu export fits
    assert finetune.train.lr < cpu.train.lr and finetune.train.batch_size == cpu.train.batch_size
