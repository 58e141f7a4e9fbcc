"""Codec calls of bounded size: chunk cut points, cross-fades that sum to one, agreement with one call."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiodiff.codec.chunked import chunk_bounds, decode_in_chunks
from audiodiff.codec.model import MAX_CALL_FRAMES, Codec, CodecConfig


def test_chunk_bounds_are_near_equal_and_cover_every_frame():
    assert chunk_bounds(100, 150) == [0, 100]
    assert chunk_bounds(300, 150) == [0, 150, 300]
    bounds = chunk_bounds(4508, 150)
    sizes = [b - a for a, b in zip(bounds[:-1], bounds[1:])]
    assert bounds[0] == 0 and bounds[-1] == 4508 and len(sizes) == 31
    assert max(sizes) <= 150 and max(sizes) - min(sizes) <= 1


def test_a_frame_local_decoder_is_reproduced_exactly_and_fades_sum_to_one():
    hop = 4

    def upsample(latents):  # each frame -> hop samples of its first channel's value
        return latents[:, :1].repeat(hop, axis=-1)
    latents = np.random.default_rng(0).standard_normal((2, 3, 97), dtype=np.float32)
    whole = upsample(latents)
    for chunk, margin, fade in [(10, 4, 4), (20, 1, 2), (30, 8, 0), (97, 0, 0)]:
        chunked = decode_in_chunks(upsample, latents, hop, chunk=chunk, margin=margin, fade=fade)
        assert chunked.shape == whole.shape and np.allclose(chunked, whole, atol=1e-6)
    ones = np.ones((1, 1, 50), np.float32)
    assert np.allclose(decode_in_chunks(upsample, ones, hop, chunk=8, margin=2, fade=4), np.ones((1, 1, 200)))


def test_chunks_see_their_margin_and_the_seams_cross_fade():
    calls = []

    def record(latents):
        calls.append(latents.shape[-1])
        return latents.repeat(2, axis=-1)
    decode_in_chunks(record, np.zeros((1, 1, 60), np.float32), 2, chunk=20, margin=5, fade=4)
    assert calls == [25, 30, 25]  # [0, 25), [15, 45), [35, 60)


@pytest.mark.parametrize("chunk, margin, fade", [(10, 4, 3), (10, 1, 4), (6, 4, 4), (0, 0, 0), (10, 2, -2)])
def test_bad_chunking_parameters_are_errors(chunk, margin, fade):
    with pytest.raises(ValueError, match="fade"):
        decode_in_chunks(lambda x: x, np.zeros((1, 1, 50), np.float32), 1, chunk=chunk, margin=margin, fade=fade)


def test_codec_decodes_long_sequences_in_chunks_as_one_call_would():
    torch.manual_seed(0)
    codec = Codec(CodecConfig.from_dict({"preset": "tiny", "lstm_layers": 0})).eval()  # finite receptive field
    latents = torch.randn(1, codec.latent_dim, 2 * MAX_CALL_FRAMES + 31)
    with torch.no_grad():
        whole = codec.decode(latents, chunk_frames=None)
        chunked = codec.decode(latents)
        short = codec.decode(latents[..., :MAX_CALL_FRAMES])
    assert chunked.shape == whole.shape == (1, 1, latents.shape[-1] * codec.hop_length)
    assert torch.allclose(chunked, whole, atol=1e-5 * float(whole.abs().max()))
    assert torch.equal(short, codec.decoder(latents[..., :MAX_CALL_FRAMES] / codec.latent_scale))


def test_codec_decodes_a_large_batch_item_by_item():
    torch.manual_seed(0)
    codec = Codec(CodecConfig.preset("tiny")).eval()
    latents = torch.randn(3, codec.latent_dim, MAX_CALL_FRAMES // 2)  # 1.5 x the frames of one call
    with torch.no_grad():
        batched, one_by_one = codec.decode(latents), [codec.decode(item[None]) for item in latents]
        whole = codec.decode(latents, chunk_frames=None)
    assert all(torch.equal(batched[i:i + 1], one) for i, one in enumerate(one_by_one))
    assert torch.allclose(batched, whole, atol=1e-5)


def test_codec_encodes_a_large_batch_item_by_item():
    torch.manual_seed(0)
    codec = Codec(CodecConfig.preset("tiny")).eval()
    wav = torch.randn(3, 1, MAX_CALL_FRAMES // 2 * codec.hop_length) * 0.1  # 1.5 x the frames of one call
    with torch.no_grad():
        batched, one_by_one = codec.encode(wav), [codec.encode(item[None]) for item in wav]
        whole = codec.encoder(wav) * codec.latent_scale
    assert all(torch.equal(batched[i:i + 1], one) for i, one in enumerate(one_by_one))
    assert torch.allclose(batched, whole, atol=1e-5)
