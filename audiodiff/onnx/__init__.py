"""The networks on ONNX Runtime: graphs exported from torch, weights read from the checkpoints.

One set of weights: an exported graph (``<net>.onnx``, see :mod:`audiodiff.onnx.export`, which
needs torch) holds the architecture only. Every tensor that the project's safetensors checkpoint
holds is left out of the graph as an *external initializer* named by its checkpoint key, and
:mod:`audiodiff.onnx.runtime` (numpy and onnxruntime only, no torch) fills them from the checkpoint
at load, upcasting its 16-bit tensors to float32. Fine-tuning (torch) and inference (ONNX Runtime)
read the same file; a graph fits every checkpoint of the same architecture.

The networks (``NETS``) and the checkpoint tensors each one reads:

- ``structure``: the structure transformer (:class:`audiodiff.structure.net.StructureNet`), all tensors
- ``acoustic``: the acoustic U-Net (:class:`audiodiff.acoustic.net.AcousticNet`), all tensors
- ``codec_encoder``: waveform -> scaled latents, the ``encoder.*`` tensors and ``latent_scale``
- ``codec_decoder``: scaled latents -> waveform, the ``decoder.*`` tensors and ``latent_scale``; a
  Vocos decoder's graph ends at the STFT frames' magnitude and phase (``SPECTRUM_OUTPUTS``: ONNX has
  no inverse STFT) and :mod:`audiodiff.codec.istft` finishes it in numpy
"""
from __future__ import annotations

NETS = ("structure", "acoustic", "codec_encoder", "codec_decoder")
# checkpoint kind -> the networks exported from it
NETS_OF_KIND = {"structure": ("structure",), "acoustic": ("acoustic",), "codec": ("codec_encoder", "codec_decoder")}
KIND_OF_NET = {net: kind for kind, nets in NETS_OF_KIND.items() for net in nets}
# the checkpoint tensors a network reads: those whose key starts with one of these (None: all)
WEIGHT_PREFIXES: dict[str, tuple[str, ...] | None] = {
    "structure": None, "acoustic": None,
    "codec_encoder": ("encoder.", "latent_scale"), "codec_decoder": ("decoder.", "latent_scale"),
}
# graph input and output names, in call order
INPUTS = {
    "structure": ("melody", "chords", "beat_in_bar", "bar", "bars_to_end", "key", "meter", "bpm"),
    "acoustic": ("x", "c_noise", "rolls", "programs", "sketch", "context", "context_mask"),
    "codec_encoder": ("wav",),
    "codec_decoder": ("latents",),
}
OUTPUTS = {
    "structure": ("melody_logits", "chord_logits"),
    "acoustic": ("out",),
    "codec_encoder": ("latents",),
    "codec_decoder": ("wav",),
}
SPECTRUM_OUTPUTS = ("magnitude", "phase")  # a Vocos codec_decoder's outputs, [B, n_fft // 2 + 1, T]
EXTERNAL_LOCATION = "checkpoint"  # what the graph names as the home of its external initializers


def uses_weight(net: str, key: str) -> bool:
    """Whether network ``net`` reads the checkpoint tensor ``key``."""
    prefixes = WEIGHT_PREFIXES[net]
    return prefixes is None or key.startswith(prefixes)
