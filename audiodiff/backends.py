"""Where the networks run at inference: ONNX Runtime (numpy only, no torch) or torch.

Both backends hand the pipeline the same numpy objects: a
:class:`~audiodiff.structure.sampling.PlanWriter`, a :class:`~audiodiff.acoustic.sampling.LatentWriter`
and a codec with numpy ``encode`` / ``decode`` (:class:`TorchCodec`, :class:`OnnxCodec`). The
samplers and their noise are the same numpy code on both; only the network calls differ, so a seed
gives the same music on both up to the float rounding of the networks.

Which backend: :meth:`audiodiff.pipeline.Pipeline.load` chooses (ONNX Runtime where it can).
Graphs (ONNX): for a checkpoint ``DIR/NAME.safetensors`` the graph of network ``X`` is
``DIR/X.onnx`` when that file exists, else the graph shipped in ``audiodiff/checkpoints/``
(``recipes/export_onnx.py`` writes them). A graph holds no weights: it reads them from the
checkpoint at load and fits every checkpoint of its architecture (a fine-tuned one included).
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from audiodiff.codec.chunked import decode_in_chunks
from audiodiff.codec.config import (
    CHUNK_CONTEXT_FRAMES,
    CHUNK_FADE_FRAMES,
    MAX_CALL_FRAMES,
    CodecConfig,
    latents_fingerprint,
)
from audiodiff.io.checkpoint import PACKAGE_CHECKPOINTS, CheckpointError, read_checkpoint_header

if TYPE_CHECKING:
    from torch import nn

    from audiodiff.acoustic.sampling import LatentWriter
    from audiodiff.codec import model
    from audiodiff.onnx.runtime import OnnxNet
    from audiodiff.structure.sampling import PlanWriter

BACKENDS = ("onnx", "torch")
NetCall = Callable[..., list[np.ndarray]]


def available(backend: str) -> bool:
    """Whether ``backend``'s runtime (onnxruntime or torch) is installed."""
    return importlib.util.find_spec("onnxruntime" if backend == "onnx" else "torch") is not None


def torch_call(module: nn.Module) -> NetCall:
    """``module`` as a callable on numpy arrays (moved to its device, no gradients) returning its
    outputs as float32 numpy arrays in a list: the shape of an ONNX Runtime call."""
    import torch

    device = next(module.parameters()).device

    def call(*arrays: np.ndarray) -> list[np.ndarray]:
        with torch.no_grad():
            out = module(*(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays))
        return [o.float().cpu().numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]
    return call


class Codec:
    """What the pipeline asks of a codec: its rates and sizes, numpy ``encode`` and ``decode``
    (:class:`TorchCodec`, :class:`OnnxCodec`)."""

    config: CodecConfig
    fingerprint: str  # the latents it makes (:func:`audiodiff.codec.config.latents_fingerprint`)

    def encode(self, wav: np.ndarray) -> np.ndarray:
        """``wav [B, C, N]`` -> scaled latents ``[B, D, ceil(N / hop)]`` (float32)."""
        raise NotImplementedError

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Scaled latents ``[B, D, T]`` -> ``wav [B, C, T * hop]`` (float32)."""
        raise NotImplementedError

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def frame_rate(self) -> float:
        return self.config.frame_rate

    @property
    def latent_dim(self) -> int:
        return self.config.dimension


class TorchCodec(Codec):
    """A torch :class:`~audiodiff.codec.model.Codec` behind numpy ``encode`` / ``decode`` (its own
    padding, batching and chunking: the bytes of a torch call)."""

    def __init__(self, codec: model.Codec) -> None:
        from audiodiff.acoustic.data import codec_fingerprint

        self.codec, self.config = codec.eval(), codec.config
        self.fingerprint = codec_fingerprint(codec)

    def encode(self, wav: np.ndarray) -> np.ndarray:
        """``wav [B, C, N]`` -> scaled latents ``[B, D, ceil(N / hop)]`` (float32)."""
        import torch

        with torch.no_grad():
            return self.codec.encode(torch.from_numpy(wav).to(self.codec.latent_scale.device)).float().cpu().numpy()

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Scaled latents ``[B, D, T]`` -> ``wav [B, C, T * hop]`` (float32)."""
        import torch

        with torch.no_grad():
            wav = self.codec.decode(torch.from_numpy(latents).to(self.codec.latent_scale.device))
        return wav.float().cpu().numpy()


class OnnxCodec(Codec):
    """The codec's encoder and decoder graphs on ONNX Runtime, batched and chunked as the torch
    codec is (:meth:`audiodiff.codec.model.Codec.encode` and ``decode``)."""

    def __init__(self, encoder: OnnxNet, decoder: OnnxNet) -> None:
        self.encoder, self.decoder = encoder, decoder
        self.config = CodecConfig.from_dict(encoder.config)
        self.fingerprint = latents_fingerprint(self.config, encoder.weights)

    def encode(self, wav: np.ndarray) -> np.ndarray:
        """``wav [B, C, N]`` -> scaled latents ``[B, D, ceil(N / hop)]`` (float32; a batch of more
        than MAX_CALL_FRAMES frames in all is encoded item by item)."""
        wav = np.pad(wav.astype(np.float32), [(0, 0), (0, 0), (0, -wav.shape[-1] % self.hop_length)])
        if wav.shape[0] > 1 and wav.shape[0] * wav.shape[-1] // self.hop_length > MAX_CALL_FRAMES:
            return np.concatenate([self.encoder(item[None])[0] for item in wav])
        return self.encoder(wav)[0]

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Scaled latents ``[B, D, T]`` -> ``wav [B, C, T * hop]`` (float32; at most MAX_CALL_FRAMES
        frames per call: item by item, long items in cross-faded chunks)."""
        def call(chunk: np.ndarray) -> np.ndarray:
            return self.decoder(chunk)[0]
        latents = latents.astype(np.float32)
        if latents.shape[0] * latents.shape[-1] <= MAX_CALL_FRAMES:
            return call(latents)
        return np.concatenate([decode_in_chunks(call, item[None], self.hop_length, chunk=MAX_CALL_FRAMES,
                                                margin=CHUNK_CONTEXT_FRAMES, fade=CHUNK_FADE_FRAMES)
                               for item in latents])


def graph_path(checkpoint: str | os.PathLike, net: str) -> Path:
    """The graph of network ``net`` for ``checkpoint``: ``<net>.onnx`` beside it, else the shipped one."""
    beside = Path(checkpoint).parent / f"{net}.onnx"
    return beside if beside.is_file() else PACKAGE_CHECKPOINTS / f"{net}.onnx"


def _onnx_net(checkpoint: str | os.PathLike, net: str, threads: int) -> OnnxNet:
    from audiodiff.onnx.runtime import OnnxNet

    graph = graph_path(checkpoint, net)
    if not graph.is_file():
        raise CheckpointError(checkpoint, f"no ONNX graph of the {net} network beside it or shipped; export one "
                                          f"(python recipes/export_onnx.py {checkpoint} --out DIR) or use "
                                          "--backend torch")
    try:
        return OnnxNet.load(graph, checkpoint, net=net, threads=threads)
    except CheckpointError as err:
        raise CheckpointError(err.path, f"{err.problem}; export its graphs beside it "
                                          f"(python recipes/export_onnx.py {checkpoint} --out "
                                          f"{Path(checkpoint).parent}) or use --backend torch") from None


def load_onnx(paths: dict[str, Path], threads: int | None) -> tuple[PlanWriter | None, LatentWriter, OnnxCodec]:
    """The structure (when ``paths`` names one), acoustic and codec models of ``paths`` on ONNX Runtime
    with ``threads`` intra-op threads (None: all cores). CheckpointError when a graph does not fit."""
    from audiodiff.acoustic.config import AcousticConfig
    from audiodiff.acoustic.sampling import LatentWriter
    from audiodiff.structure.sampling import PlanWriter

    n = threads or 0
    structure = None
    if "structure" in paths:
        structure = PlanWriter(_onnx_net(paths["structure"], "structure", n),
                               read_checkpoint_header(paths["structure"]).get("metadata", {}))
    acoustic_net = _onnx_net(paths["acoustic"], "acoustic", n)
    try:
        config = AcousticConfig.from_dict(acoustic_net.config)
    except (TypeError, ValueError) as err:
        raise CheckpointError(paths["acoustic"], f"invalid acoustic config ({err})") from None
    acoustic = LatentWriter(acoustic_net, config, read_checkpoint_header(paths["acoustic"]).get("metadata", {}))
    codec = OnnxCodec(_onnx_net(paths["codec"], "codec_encoder", n), _onnx_net(paths["codec"], "codec_decoder", n))
    return structure, acoustic, codec


def load_torch(paths: dict[str, Path], device: str) -> tuple[PlanWriter | None, LatentWriter, TorchCodec]:
    """The structure (when ``paths`` names one), acoustic and codec models of ``paths`` on torch
    (structure on the CPU, the others on ``device``)."""
    from audiodiff.acoustic.model import AcousticModel
    from audiodiff.codec.model import load_codec
    from audiodiff.structure.model import StructureModel

    structure = StructureModel.load(paths["structure"]).writer() if "structure" in paths else None
    acoustic = AcousticModel.load(paths["acoustic"], device=device).writer()
    codec = TorchCodec(load_codec(paths["codec"], device=device))  # encodec's warnings: quiet_weight_norm
    codec.codec.fold_decoder_weight_norm()
    return structure, acoustic, codec
