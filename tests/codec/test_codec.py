"""Codec shapes and bandwidth arithmetic, checkpoints, encodec-format loading, crops and the codec task."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiodiff.acoustic.data import codec_fingerprint
from audiodiff.codec.data import AudioWindowDataset
from audiodiff.codec.model import (
    Codec,
    CodecConfig,
    load_codec,
    load_pretrained_encodec,
    measure_latent_scale,
    save_codec,
)
from audiodiff.codec.task import ComplexSTFTLoss, MultiScaleMelLoss
from audiodiff.io.checkpoint import CheckpointError, load_checkpoint

SR = 24000


def make_corpus(root: Path, seconds: list[float], sample_rate: int = SR) -> Path:
    """A few synthetic FLAC windows and a train.jsonl manifest in the corpus layout."""
    (root / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i, secs in enumerate(seconds):
        t = np.arange(round(secs * sample_rate)) / sample_rate
        wav = 0.3 * np.sin(2 * np.pi * (220 + 30 * i) * t) + 0.01 * rng.standard_normal(len(t))
        rel = f"audio/w{i}.flac"
        sf.write(root / rel, wav.astype(np.float32), sample_rate, subtype="PCM_16")
        rows.append({"id": f"w{i}", "audio": rel, "sample_rate": sample_rate, "num_samples": len(t),
                     "seconds": secs, "key": "D minor", "mode": "minor", "bpm": 96.0, "meter": "3/4",
                     "programs": [40], "tune_id": f"t{i}", "source": "test", "plan": f"plans/w{i}.json"})
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def tiny() -> Codec:
    torch.manual_seed(0)
    return Codec(CodecConfig.preset("tiny")).eval()


def test_frame_arithmetic(tiny):
    assert tiny.hop_length == 320 and tiny.frame_rate == 75.0 and tiny.sample_rate == SR
    assert tiny.latent_dim == 16
    wav = torch.randn(2, 1, SR + 17) * 0.1
    with torch.no_grad():
        latents = tiny.encode(wav)
        assert latents.shape == (2, 16, math.ceil((SR + 17) / 320))  # padded to 76 frames
        out = tiny.decode(latents)
    assert out.shape == (2, 1, 76 * 320)
    recon, commit, decoded = tiny(wav, None)
    assert recon.shape == wav.shape and commit.item() == 0.0
    assert torch.allclose(decoded * tiny.latent_scale, latents, atol=1e-6)  # unquantized: the encoder's latents


def test_a_lighter_decoder_decodes_the_same_latents(tmp_path):
    config = replace(CodecConfig.preset("tiny"), decoder_n_filters=2, decoder_residual_layers=0, decoder_lstm_layers=0)
    assert config.decoder_shape == (2, 0, 0) and CodecConfig.preset("tiny").decoder_shape == (4, 1, 1)
    light, full = Codec(config), Codec(CodecConfig.preset("tiny"))
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert count(light.decoder) < count(full.decoder) / 3
    assert count(light.encoder) == count(full.encoder)
    latents = torch.randn(1, 16, 20)
    with torch.no_grad():
        assert light.decode(latents).shape == full.decode(latents).shape == (1, 1, 20 * 320)
    loaded = load_codec(save_codec(light, tmp_path / "light.safetensors"))
    assert loaded.config == config
    assert CodecConfig.preset("cpu_fast").decoder_shape == (8, 0, 1)


def test_a_vocos_decoder_decodes_the_same_latents_at_the_frame_rate(tmp_path):
    config = replace(CodecConfig.preset("tiny"), decoder_type="vocos", vocos_dim=16, vocos_intermediate=32,
                     vocos_layers=2)
    assert config.latent_dict() == CodecConfig.preset("tiny").latent_dict()  # same latents, other decoder
    codec = Codec(config).eval()
    latents = torch.randn(2, 16, 20)
    with torch.no_grad():
        out = codec.decode(latents)
        assert out.shape == (2, 1, 20 * 320) and torch.isfinite(out).all()
        # chunked decoding of a long item stays close to one call (the decoder sees +-3 frames per block)
        long = torch.randn(1, 16, 900)
        assert torch.allclose(codec.decode(long), codec.decode(long, chunk_frames=None), atol=1e-4)
    loaded = load_codec(save_codec(codec, tmp_path / "vocos.safetensors"))
    assert loaded.config == config
    with pytest.raises(ValueError, match="decoder_type must be one of seanet, vocos"):
        replace(config, decoder_type="hifigan")


def test_vocos_decoder_learns_a_tone():
    """A few optimisation steps on one target lower the loss: the inverse STFT passes gradients."""
    torch.manual_seed(0)
    from audiodiff.codec.vocos import VocosDecoder

    decoder = VocosDecoder(8, hop=32, dim=16, intermediate=32, layers=2)
    latents = torch.randn(1, 8, 50)
    target = torch.sin(2 * math.pi * 440 * torch.arange(50 * 32) / 8000)[None, None]
    optimizer = torch.optim.Adam(decoder.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        spec = torch.stft(decoder(latents)[:, 0] - target[:, 0], 128, 32, window=torch.hann_window(128),
                          return_complex=True)
        loss = spec.abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_bandwidth_to_codebooks(tiny):
    assert [tiny.num_codebooks(b) for b in (1.5, 3.0, 6)] == [2, 4, 8]
    latents = torch.randn(1, 16, 10)
    with torch.no_grad():
        for bandwidth, k in ((1.5, 2), (3, 4), (6.0, 8)):
            quantized, codes = tiny.quantize(latents, bandwidth)
            assert codes.shape == (1, k, 10) and codes.dtype == torch.int64
            assert quantized.shape == latents.shape
            assert torch.allclose(tiny.dequantize(codes), quantized)


def test_quantizer_is_greedy_residual_nearest_codebook_search():
    """The RVQ against a second implementation written here (greedy nearest codeword on the residual,
    in unscaled latent space) on known codebooks that include the zero vector, so each codebook
    can only lower the error: more codebooks, lower error against the latents."""
    torch.manual_seed(0)
    codec = Codec(CodecConfig.preset("tiny")).eval()
    codec.set_latent_scale(2.0)  # a scale other than 1, so scaling mistakes show
    books = []
    for k, layer in enumerate(codec.quantizer.vq.layers):
        book = torch.randn(layer._codebook.embed.shape, generator=torch.Generator().manual_seed(k)) * 0.5 ** k
        book[0] = 0.0
        layer._codebook.embed.copy_(book)
        layer._codebook.inited.fill_(1)
        books.append(book)
    latents = torch.randn(2, 16, 12, generator=torch.Generator().manual_seed(9)) * codec.latent_scale
    errors = []
    for bandwidth, k in ((1.5, 2), (3.0, 4), (6.0, 8)):
        with torch.no_grad():
            quantized, codes = codec.quantize(latents, bandwidth)
        residual = (latents / codec.latent_scale).permute(0, 2, 1).reshape(-1, 16)  # [B * T, D]
        expected = torch.zeros_like(residual)
        expected_codes = []
        for book in books[:k]:
            index = torch.cdist(residual, book).argmin(dim=1)
            expected_codes.append(index)
            expected += book[index]
            residual = residual - book[index]
        assert torch.equal(codes, torch.stack(expected_codes).reshape(k, 2, 12).permute(1, 0, 2))
        expected = expected.reshape(2, 12, 16).permute(0, 2, 1) * codec.latent_scale
        assert torch.allclose(quantized, expected, atol=1e-5)
        errors.append(float((quantized - latents).pow(2).mean() / latents.pow(2).mean()))
    assert errors[0] > errors[1] > errors[2] and errors[0] < 1.0, errors


def test_bad_bandwidth_lists_allowed(tiny):
    with pytest.raises(ValueError, match=r"unsupported bandwidth 12 kbps; choose one of 1.5, 3, 6 kbps"):
        tiny.quantize(torch.randn(1, 16, 4), 12)
    with pytest.raises(ValueError, match="whole number"):
        CodecConfig(bandwidths=(1.0,))
    with pytest.raises(ValueError, match="1..n_q=4"):
        CodecConfig(n_q=4)  # 6 kbps needs 8 codebooks
    with pytest.raises(ValueError, match="tiny, cpu, cpu_fast, cpu_vocos, gpu, encodec_24khz"):
        CodecConfig.preset("huge")
    with pytest.raises(ValueError, match="unknown codec config keys"):
        CodecConfig.from_dict({"preset": "tiny", "dimensions": 3})
    with pytest.raises(ValueError, match=r"expected audio \[B, 1, N\]"):
        tiny.encode(torch.randn(1, 100))


def test_latent_scale_unit_variance(tiny):
    wavs = [torch.randn(2, 1, 4000) * 0.2 for _ in range(2)]
    codec = Codec(tiny.config).eval()
    codec.load_state_dict(tiny.state_dict())
    scale = measure_latent_scale(codec, wavs)
    codec.set_latent_scale(scale)
    with torch.no_grad():
        latents = torch.cat([codec.encode(w) for w in wavs])
        assert latents.std().item() == pytest.approx(1.0, rel=0.05)
        # decode undoes the scale: the waveform does not depend on it
        assert torch.allclose(codec.decode(latents), tiny.decode(torch.cat([tiny.encode(w) for w in wavs])),
                              atol=1e-5)
    with pytest.raises(ValueError, match="positive"):
        codec.set_latent_scale(0.0)


def test_folding_the_decoder_weight_norm_keeps_its_output(tiny, tmp_path):
    path = save_codec(tiny, tmp_path / "codec.safetensors")
    folded = load_codec(path)
    folded.fold_decoder_weight_norm()
    assert not any(name.endswith("weight_g") for name in folded.decoder.state_dict())
    latents = torch.randn(2, 16, 12)
    with torch.no_grad():
        assert torch.allclose(folded.decode(latents), tiny.decode(latents), atol=1e-6)
        assert torch.equal(folded.encode(torch.ones(1, 1, 640)), tiny.encode(torch.ones(1, 1, 640)))


def test_save_load_round_trip(tiny, tmp_path):
    codec = Codec(tiny.config).eval()
    codec.load_state_dict(tiny.state_dict())
    codec.set_latent_scale(0.25)
    path = save_codec(codec, tmp_path / "codec.safetensors", metadata={"steps": 3}, dtype=torch.float16)
    loaded = load_codec(path)
    assert loaded.config == codec.config and not loaded.training
    assert loaded.latent_scale.item() == 0.25
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    latents = torch.randn(1, 16, 8)
    with torch.no_grad():
        assert torch.allclose(loaded.decode(latents), codec.decode(latents), atol=1e-2)
    assert load_checkpoint(path, kind="codec")[2] == {"steps": 3}
    with pytest.raises(CheckpointError, match="expected a 'structure' model"):
        load_checkpoint(path, kind="structure")
    # decoder_only: the decoder in 16 bits, the encoder exactly as it was (the same latents and fingerprint)
    half = load_codec(save_codec(codec, tmp_path / "half.safetensors", dtype=torch.float16, decoder_only=True))
    stored = load_checkpoint(tmp_path / "half.safetensors", kind="codec")[0]
    assert {v.dtype for k, v in stored.items() if k.startswith("decoder.")} == {torch.float16}
    assert {v.dtype for k, v in stored.items() if k.startswith("encoder.")} == {torch.float32}
    assert codec_fingerprint(half) == codec_fingerprint(codec)


def test_cpu_preset_export_fits_30_mb(tmp_path):
    path = save_codec(Codec(CodecConfig.preset("cpu")), tmp_path / "cpu.safetensors")
    assert path.stat().st_size <= 30 * 2**20


def _tiny_encodec_file(folder: Path, config: CodecConfig):
    """A small model in Meta's encodec_24khz file format (torch state dict, checksum in the name)."""
    from encodec import EncodecModel
    from encodec.modules import SEANetDecoder, SEANetEncoder
    from encodec.quantization import ResidualVectorQuantizer

    torch.manual_seed(1)
    arch = dict(channels=1, dimension=config.dimension, n_filters=config.n_filters, lstm=config.lstm_layers,
                causal=True, norm="weight_norm")
    model = EncodecModel(SEANetEncoder(**arch), SEANetDecoder(**arch),
                         ResidualVectorQuantizer(dimension=config.dimension, n_q=config.n_q, bins=config.bins),
                         target_bandwidths=list(config.bandwidths), sample_rate=SR, channels=1).eval()
    for layer in model.quantizer.vq.layers:  # stand-in for trained codebooks
        layer._codebook.embed.normal_()
        layer._codebook.inited.fill_(1)
    tmp = folder / "weights.th"
    torch.save(model.state_dict(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    path = folder / f"encodec_24khz-{digest}.th"
    tmp.rename(path)
    return model, path


def test_pretrained_encodec_format(tmp_path):
    config = replace(CodecConfig.preset("tiny"), causal=True)
    model, path = _tiny_encodec_file(tmp_path, config)
    for source in (path, tmp_path):  # the file, or the folder holding it
        codec = load_pretrained_encodec(source, config=config)
        wav = torch.randn(1, 1, 3200) * 0.1
        with torch.no_grad():
            model.set_target_bandwidth(3.0)
            (expected_codes, _), = model.encode(wav)
            expected_wav = model.decode([(expected_codes, None)])
            latents = codec.encode(wav)
            quantized, codes = codec.quantize(latents, 3.0)
            assert torch.equal(codes, expected_codes)
            assert torch.allclose(codec.decode(quantized), expected_wav, atol=1e-6)


def test_pretrained_encodec_errors(tmp_path):
    config = replace(CodecConfig.preset("tiny"), causal=True)
    _, path = _tiny_encodec_file(tmp_path, config)
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_pretrained_encodec(path, config=replace(config, dimension=8))
    renamed = path.with_name("encodec_24khz-deadbeef.th")
    path.rename(renamed)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_pretrained_encodec(renamed, config=config)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="folder holds no encodec_24khz"):
        load_pretrained_encodec(empty, config=config)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_pretrained_encodec(tmp_path / "absent.th", config=config)


def test_crops_are_deterministic(tmp_path):
    root = make_corpus(tmp_path, [2.0, 0.3, 1.0])
    data = AudioWindowDataset(root, seconds=0.5, seed=3)
    assert len(data) == 3
    first = [data[i] for i in range(3)]
    assert all(x.shape == (1, 12000) and x.dtype == torch.float32 for x in first)
    assert first[1][0, 7200:].abs().max() == 0  # 0.3 s window, zero-padded to 0.5 s
    again = AudioWindowDataset(root, seconds=0.5, seed=3)
    assert all(torch.equal(a, again[i]) for i, a in enumerate(first))
    starts = set()
    for epoch in range(5):
        data.set_epoch(epoch)
        starts.add(data.crop_start(0))
    assert len(starts) > 1  # a new crop each epoch


def test_corpus_errors(tmp_path):
    root = make_corpus(tmp_path, [0.5])
    with pytest.raises(FileNotFoundError, match="splits found: train"):
        AudioWindowDataset(root, "valid")
    with pytest.raises(ValueError, match="not at 16000 Hz"):
        AudioWindowDataset(root, sample_rate=16000)


def test_recipe_configs_resolve():
    from audiodiff.codec.task import CodecTrainingConfig
    from audiodiff.io.config import load_config

    for name in ("tiny", "cpu", "gpu"):
        config = CodecTrainingConfig.from_dict(load_config("codec", name))
        assert config.codec == CodecConfig.preset(name)
        assert CodecTrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown loss keys"):
        CodecTrainingConfig.from_dict({"loss": {"mel_weigth": 1.0}})
    decoder = load_config("codec", "cpu_decoder")
    with pytest.raises(ValueError, match="--init-from"):
        CodecTrainingConfig.from_dict(decoder)
    decoder["train"]["init_from"] = "codec.safetensors"
    assert CodecTrainingConfig.from_dict(decoder).decoder_only
    fast = load_config("codec", "cpu_fast")
    fast["train"]["init_from"] = "codec.safetensors"
    fast_config = CodecTrainingConfig.from_dict(fast)
    assert fast_config.distill and fast_config.decoder_only and fast_config.codec == CodecConfig.preset("cpu_fast")


def test_codec_task_trains_exports_and_fine_tunes(tmp_path):
    from audiodiff.codec.task import CodecTask, CodecTrainingConfig
    from audiodiff.train.loop import train

    root = make_corpus(tmp_path / "data", [1.0] * 4)

    def config(out: str, **train_overrides) -> CodecTrainingConfig:
        return CodecTrainingConfig.from_dict({
            "codec": {"preset": "tiny"}, "segment_seconds": 0.25, "stats_items": 4,
            "loss": {"adversarial": out == "gan", "disc_filters": 4, "mel_n_ffts": [512, 1024]},
            "train": {"out_dir": str(tmp_path / out), "batch_size": 2, "max_steps": 3, "log_every": 1,
                      "device": "cpu", **train_overrides},
        })

    task = CodecTask(config("gan"), root)
    assert {task.bandwidth_for(step) for step in range(40)} == {None, 1.5, 3.0, 6.0}
    summary = train(task, task.config.train)
    assert {"l1", "mel", "commit", "adv", "feat", "disc"} <= set(summary.losses)
    assert all(math.isfinite(v) for v in summary.losses.values())
    codec = load_codec(summary.export_path)
    _, _, metadata = load_checkpoint(summary.export_path, kind="codec")
    assert metadata["steps"] == 3 and metadata["latent_scale"] == pytest.approx(codec.latent_scale.item())
    assert codec.latent_scale.item() != 1.0

    tuned_config = config("tuned", max_steps=1, init_from=str(summary.export_path))
    assert train(CodecTask(tuned_config, root), tuned_config.train).step == 1

    decoder_config = config("decoder", max_steps=2, init_from=str(summary.export_path))
    decoder_config.decoder_only = True
    tuned = load_codec(train(CodecTask(decoder_config, root), decoder_config.train).export_path)
    assert codec_fingerprint(tuned) == codec_fingerprint(codec)  # same encoder, scale: same latents
    assert not torch.equal(tuned.decoder.state_dict()["model.0.conv.conv.bias"],
                           codec.decoder.state_dict()["model.0.conv.conv.bias"])
    with pytest.raises(ValueError, match="decoder_only .* --init-from"):
        CodecTrainingConfig.from_dict({"decoder_only": True})
    with pytest.raises(ValueError, match="distill .* needs decoder_only"):
        CodecTrainingConfig.from_dict({"distill": True, "train": {"init_from": "codec.safetensors"}})

    # distilling: the targets are the source decoder's output, which a copy of it matches exactly
    copy_config = config("copy", init_from=str(summary.export_path))
    copy_config.decoder_only = copy_config.distill = True
    copy_task = CodecTask(copy_config, root)
    student = copy_task.build_model()
    copy_task.load_weights(student, summary.export_path)
    batch = torch.stack([copy_task.dataset[i] for i in range(2)])
    _, logs = copy_task.loss(student, batch, step=0)
    assert logs["l1"] < 1e-5 and logs["mel"] < 1e-3
    _, logs_against_audio = CodecTask(config("audio"), root).loss(student, batch, step=0)
    assert logs_against_audio["l1"] > 100 * logs["l1"]

    # a new, lighter decoder learns from the source's: the encoder and so the latents stay
    light_config = config("light", max_steps=2, init_from=str(summary.export_path))
    light_config.decoder_only = light_config.distill = True
    light_config.codec = replace(light_config.codec, decoder_n_filters=2, decoder_residual_layers=0)
    light = load_codec(train(CodecTask(light_config, root), light_config.train).export_path)
    assert light.config.decoder_shape == (2, 0, 1)
    assert codec_fingerprint(light) == codec_fingerprint(codec)
    wrong = config("wrong", init_from=str(summary.export_path))
    wrong.codec = replace(wrong.codec, dimension=8)
    with pytest.raises(ValueError, match="codec architecture differs.*dimension=16 \\(recipe: 8\\)"):
        train(CodecTask(wrong, root), wrong.train)


def test_crops_from_the_prepared_corpus(tiny_corpus):
    """The manifest written by audiodiff.corpus.prepare is what the codec trains on."""
    data = AudioWindowDataset(tiny_corpus, "train", seconds=1.0)
    crops = torch.stack([data[i] for i in range(min(4, len(data)))])
    assert crops.shape[1:] == (1, SR)
    assert crops.abs().max() > 0  # rendered music, not silence


def test_complex_stft_loss_sees_phase_that_mel_loss_does_not():
    t = torch.arange(SR // 2) / SR
    target = (0.3 * torch.sin(2 * math.pi * 440 * t))[None, None]
    shifted = (0.3 * torch.cos(2 * math.pi * 440 * t))[None, None]  # same spectrum, phase + 90 degrees
    mel = MultiScaleMelLoss(SR, (512, 1024), 32)
    stft = ComplexSTFTLoss((256, 512))
    halved = 0.5 * target
    assert stft(target, target).item() == 0.0
    # the mel loss finds the phase shift far smaller than halving the level; the STFT loss, larger
    assert mel(shifted, target).item() < 0.5 * mel(halved, target).item()
    assert stft(shifted, target).item() == pytest.approx(math.sqrt(2), rel=0.02)  # |e^{i pi/2} - 1|
    assert stft(halved, target).item() == pytest.approx(0.5, abs=0.01)  # relative: no n_fft scale
