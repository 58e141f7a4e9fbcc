"""Run an exported graph on ONNX Runtime with the weights of a checkpoint (numpy only, no torch).

:class:`OnnxNet` builds an ``onnxruntime.InferenceSession`` from a graph written by
:mod:`audiodiff.onnx.export` and fills its external initializers from the safetensors checkpoint
(16-bit tensors upcast to float32). Calls take and return numpy arrays; a Vocos decoder's graph
ends at the spectrum, and the call finishes it with the inverse STFT in numpy.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiodiff.io.checkpoint import CheckpointError, read_checkpoint_header
from audiodiff.onnx import INPUTS, KIND_OF_NET, NETS, SPECTRUM_OUTPUTS, uses_weight

DEFAULT_PROVIDERS = ("CPUExecutionProvider",)


def missing_onnxruntime() -> ImportError:
    """The one-line error for a missing onnxruntime."""
    return ImportError("ONNX inference needs onnxruntime: pip install 'audiodiff[onnx]'")


def read_weights(checkpoint: str | os.PathLike, net: str) -> dict[str, np.ndarray]:
    """The float32 (floating) or integer tensors of ``checkpoint`` that network ``net`` reads."""
    from safetensors import safe_open

    out: dict[str, np.ndarray] = {}
    try:
        with safe_open(str(checkpoint), framework="numpy") as f:
            for key in f.keys():
                if uses_weight(net, key):
                    value = f.get_tensor(key)
                    out[key] = value.astype(np.float32) if value.dtype.kind == "f" else np.array(value, order="C")
    except (OSError, ValueError, TypeError) as err:  # bfloat16 tensors have no numpy form
        raise CheckpointError(checkpoint, f"cannot read its tensors with numpy ({type(err).__name__}: {err})") from None
    return out


def architecture(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a checkpoint's config that fixes its graphs: the ``net`` of a structure or
    acoustic model, a codec's config less its training-only fields."""
    if "net" in config:
        return dict(config["net"])
    return {k: v for k, v in config.items() if k not in ("kmeans_iters", "bandwidths")}


class OnnxNet:
    """One network (``structure``, ``acoustic``, ``codec_encoder`` or ``codec_decoder``) on ONNX Runtime.

    ``net(*arrays)`` runs it on numpy inputs given in the order of :data:`audiodiff.onnx.INPUTS`
    and returns its outputs (a list). ``config`` is the checkpoint's model config.
    """

    def __init__(self, session: Any, net: str, config: dict[str, Any]) -> None:
        self.session, self.net, self.config = session, net, config
        self.weights: dict[str, np.ndarray] = {}  # the checkpoint tensors the graph reads (float32 or integer)
        self._values: list[Any] = []
        self.input_names = [i.name for i in session.get_inputs()]
        self.spectrum = tuple(o.name for o in session.get_outputs()) == SPECTRUM_OUTPUTS  # a Vocos decoder
        # the acoustic U-Net halves the frames at each level but the first
        self.frame_multiple = 2 ** (len(config["net"]["widths"]) - 1) if net == "acoustic" else 1

    @classmethod
    def load(cls, graph: str | os.PathLike, checkpoint: str | os.PathLike, *, net: str, threads: int = 1,
             providers: Sequence[str] = DEFAULT_PROVIDERS) -> OnnxNet:
        """Session of ``graph`` (a ``<net>.onnx`` file) with the weights of ``checkpoint``.

        ``threads``: ONNX Runtime's intra-op threads (0: its default, all cores). Raises
        CheckpointError when the checkpoint is of another kind or its tensors do not fit the graph.
        """
        try:
            import onnxruntime as ort
        except ImportError:
            raise missing_onnxruntime() from None
        if net not in NETS:
            raise ValueError(f"unknown network {net!r}; choose one of {', '.join(NETS)}")
        header = read_checkpoint_header(checkpoint)
        if header["kind"] != KIND_OF_NET[net]:
            raise CheckpointError(checkpoint, f"holds a {header['kind']!r} model; the {net} network needs a "
                                              f"{KIND_OF_NET[net]!r} checkpoint")
        weights = read_weights(checkpoint, net)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        names = list(weights)
        values = [ort.OrtValue.ortvalue_from_numpy(weights[k]) for k in names]
        options.add_external_initializers(names, values)
        try:
            session = ort.InferenceSession(str(graph), options, providers=list(providers))
        except Exception as err:  # onnxruntime raises its own exception types: all mean "does not fit"
            raise CheckpointError(checkpoint, f"its tensors do not fit the graph {Path(graph).name} "
                                              f"({' '.join(str(err).split())[:300]})") from None
        meta = session.get_modelmeta().custom_metadata_map
        if meta.get("audiodiff.net", net) != net:
            raise ValueError(f"{graph} is the {meta['audiodiff.net']} network, not {net}")
        made_for = meta.get("audiodiff.config")
        if made_for is not None and architecture(json.loads(made_for)) != architecture(header["config"]):
            raise CheckpointError(checkpoint, f"its config differs from the one {Path(graph).name} was exported for")
        net_obj = cls(session, net, header["config"])
        net_obj.weights, net_obj._values = weights, values  # the session reads these buffers: keep them alive
        return net_obj

    @property
    def providers(self) -> list[str]:
        """The execution providers the session runs on, first preferred."""
        return list(self.session.get_providers())

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Outputs for inputs in the order of :data:`audiodiff.onnx.INPUTS` (int64 ids, float32 rest).

        The acoustic net takes any number of frames, as the torch one: its graph wants a multiple of
        ``frame_multiple``, so the inputs are zero-padded to one and the output trimmed back."""
        if len(arrays) != len(INPUTS[self.net]):
            raise ValueError(f"the {self.net} network takes {len(INPUTS[self.net])} inputs, got {len(arrays)}")
        frames = arrays[0].shape[-1]
        extra = -frames % self.frame_multiple
        if extra:  # zero frames, as the torch net pads inside: no notes, silent sketch, nothing known
            arrays = tuple(np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, extra)]) if a.ndim == 3 else a for a in arrays)
        feed = {name: np.ascontiguousarray(a) for name, a in zip(INPUTS[self.net], arrays)
                if name in self.input_names}
        outputs = self.session.run(None, feed)
        if self.spectrum:
            from audiodiff.codec.istft import inverse_stft

            hop = math.prod(self.config["ratios"])
            magnitude, phase = outputs
            return [inverse_stft(magnitude, phase, hop, frames * hop)[:, None]]
        return [out[..., :frames] for out in outputs] if extra else outputs
