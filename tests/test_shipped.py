"""The checkpoints that ship inside the package load and do their job offline (marker ``shipped``)."""
import numpy as np
import pytest
import torch

from audiodiff.codec.model import load_codec
from audiodiff.io.checkpoint import default_checkpoint
from audiodiff.music.prompt import Prompt
from audiodiff.music.theory import Key, Meter
from audiodiff.structure.compose import compose
from audiodiff.structure.model import StructureModel

pytestmark = pytest.mark.shipped
MAX_BYTES = 30 * 1024 * 1024


def test_shipped_structure_model_writes_a_valid_plan_in_the_asked_key():
    path = default_checkpoint("structure")
    assert path.stat().st_size <= MAX_BYTES
    model = StructureModel.load(path)
    assert model.metadata["steps"] > 0 and "losses" in model.metadata
    plan = compose(model, [Prompt(key=Key(2, "minor"), bpm=96, meter=Meter(3, 4), seed=7)], bars=8)[0]
    assert plan.key == Key(2, "minor") and plan.num_bars == 8 and plan.meter == Meter(3, 4)
    assert len(plan.melody.notes) >= 8 and all(plan.chords)


def test_shipped_codec_round_trips_audio_shapes():
    path = default_checkpoint("codec")
    assert path.stat().st_size <= MAX_BYTES
    codec = load_codec(path)
    assert (codec.sample_rate, codec.frame_rate) == (24000, 75)
    wav = torch.randn(1, 1, 24000) * 0.1
    with torch.no_grad():
        latents = codec.encode(wav)
        out = codec.decode(latents)
    assert latents.shape == (1, codec.latent_dim, 75) and out.shape == (1, 1, 24000)
    assert torch.isfinite(out).all()


def test_shipped_pipeline_generates_music_in_the_asked_key_offline():
    from audiodiff.eval.estimators import audio_adherence
    from audiodiff.pipeline import Pipeline

    path = default_checkpoint("acoustic")
    assert path.stat().st_size <= 50 * 1024 * 1024
    pipeline = Pipeline.load()
    assert not pipeline.warnings  # the shipped acoustic model was trained on the shipped codec's latents
    prompt = Prompt(key=Key(7, "major"), bpm=120, meter=Meter(4, 4), seconds=6, seed=1)
    result = pipeline.generate([prompt], steps=8)[0]
    assert result.audio.shape == (6 * 24000,) and np.isfinite(result.audio).all()
    assert 0.01 < np.sqrt(np.mean(result.audio ** 2)) < 1.0  # music, not silence or noise at full scale
    assert audio_adherence(result.audio, result.sample_rate, prompt.key, prompt.bpm).key_relative


def test_shipped_codec_decodes_long_audio_in_chunks_as_in_one_call():
    """Chunked decoding (what the pipeline does past 10 s) matches one decoder call on the real codec,
    whose LSTM sees the whole sequence in one call: the difference is far below the codec's own error."""
    from audiodiff.codec.chunked import chunk_bounds
    from audiodiff.codec.model import MAX_CALL_FRAMES

    codec = load_codec(default_checkpoint("codec"))
    codec.fold_decoder_weight_norm()
    sr, seconds = codec.sample_rate, 24
    t = np.arange(sr // 2) / sr
    scale = [220.0 * 2 ** (s / 12) for s in (0, 2, 4, 5, 7, 9, 11, 12)]
    notes = [sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 6)) * np.exp(-3 * t) for f in scale]
    wav = torch.from_numpy(0.2 * np.concatenate([notes[i % 8] for i in range(2 * seconds)]).astype(np.float32))
    with torch.no_grad():
        latents = codec.encode(wav[None, None])
        whole, chunked = codec.decode(latents, chunk_frames=None)[0, 0], codec.decode(latents)[0, 0]
    assert len(chunk_bounds(latents.shape[-1], MAX_CALL_FRAMES)) - 1 == 3
    snr = 10 * torch.log10(whole.pow(2).sum() / (chunked - whole).pow(2).sum())
    codec_snr = 10 * torch.log10(wav.pow(2).sum() / (whole[: len(wav)] - wav).pow(2).sum())
    assert snr > 30 and snr > codec_snr + 20, (float(snr), float(codec_snr))
