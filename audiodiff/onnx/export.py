"""Export the networks to ONNX graphs whose weights stay in the checkpoint (needs torch and onnx).

:func:`export_checkpoint` writes one graph per network of a checkpoint (``<net>.onnx``, the names
of :data:`audiodiff.onnx.NETS`), with dynamic batch and time axes. The graphs compute what the
torch modules compute; two torch-side obstacles are worked around during export only, without
touching the torch numerics:

- encodec's ``get_extra_padding_for_conv1d`` rounds with ``math.ceil`` on a float, which freezes
  the time axis in the traced graph: an integer-arithmetic equivalent replaces it while exporting;
- ``nn.TransformerEncoder``'s inference fast path (``aten::_transformer_encoder_layer_fwd``) has
  no ONNX form: it is switched off while exporting.

A Vocos codec decoder ends in an inverse STFT, which ONNX lacks: its graph outputs the STFT
frames' magnitude and phase (``SPECTRUM_OUTPUTS``), and :class:`audiodiff.onnx.runtime.OnnxNet`
finishes them with :func:`audiodiff.codec.istft.inverse_stft`.

The legacy (TorchScript) exporter is used: it keeps ``nn.LSTM``'s time axis variable. Constant
folding is off, so every weight keeps its checkpoint name (transposes, weight norm and the LSTM's
gate layout stay in the graph; ONNX Runtime folds them once at load).
"""
from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiodiff.io.checkpoint import CheckpointError, read_checkpoint_header
from audiodiff.onnx import EXTERNAL_LOCATION, INPUTS, NETS_OF_KIND, OUTPUTS, SPECTRUM_OUTPUTS, uses_weight

OPSET = 17
_PREFIX = "inner."  # the wrapper's attribute: stripped from the weight names


def extra_padding_for_conv1d(x: torch.Tensor, kernel_size: int, stride: int, padding_total: int = 0) -> Any:
    """encodec's ``get_extra_padding_for_conv1d`` in integer arithmetic (the same value for every
    length): ``ceil((L - k + p) / s) * s + k - p - L``, traced as shape arithmetic."""
    length = x.shape[-1]
    frames = -((kernel_size - padding_total - length) // stride)  # ceil((L - k + p) / s)
    return frames * stride + (kernel_size - padding_total) - length


@contextlib.contextmanager
def export_patches() -> Iterator[None]:
    """While exporting: encodec's padding in integer arithmetic, the transformer fast path off."""
    from encodec.modules import conv

    original = conv.get_extra_padding_for_conv1d
    fastpath = torch.backends.mha.get_fastpath_enabled()
    conv.get_extra_padding_for_conv1d = extra_padding_for_conv1d
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        conv.get_extra_padding_for_conv1d = original
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _attention_for_export(mha: nn.MultiheadAttention) -> Any:
    """``mha``'s forward (batch first, self-attention, no masks, eval) as plain tensor ops whose
    batch and time sizes stay symbolic in the trace (torch's own traces bake them in)."""
    heads = mha.num_heads

    def forward(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, key_padding_mask: Any = None,
                need_weights: bool = False, attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[torch.Tensor, None]:
        if key_padding_mask is not None or attn_mask is not None or not mha.batch_first:
            raise ValueError("ONNX export supports batch-first self-attention without masks only")
        q, k, v = nn.functional.linear(query, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))  # [B, H, N, Dh]
        weights = (q @ k.transpose(-1, -2) / float(q.shape[-1]) ** 0.5).softmax(dim=-1)
        out = (weights @ v).transpose(1, 2).flatten(2)
        return mha.out_proj(out), None
    return forward


@contextlib.contextmanager
def exportable_attention(module: nn.Module) -> Iterator[None]:
    """While exporting: every ``nn.MultiheadAttention`` in ``module`` runs
    :func:`_attention_for_export` (the same math up to float rounding)."""
    layers = [m for m in module.modules() if isinstance(m, nn.MultiheadAttention)]
    for layer in layers:
        layer.forward = _attention_for_export(layer)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


def is_vocos(module: nn.Module) -> bool:
    """Whether ``module`` is a codec whose decoder is a Vocos decoder (its graph ends at the spectrum)."""
    return getattr(getattr(module, "config", None), "decoder_type", "seanet") == "vocos"


class _Wrapped(nn.Module):
    """``inner`` with a forward of our choosing (the codec's halves with their latent scale; a
    Vocos decoder up to its spectrum)."""

    def __init__(self, inner: nn.Module, net: str) -> None:
        super().__init__()
        self.inner, self.net = inner, net

    def forward(self, *args: torch.Tensor) -> Any:
        inner = self.inner
        if self.net == "codec_encoder":
            return inner.encoder(args[0]) * inner.latent_scale
        if self.net == "codec_decoder":
            unscaled = args[0] / inner.latent_scale
            return inner.decoder.spectrum(unscaled) if is_vocos(inner) else inner.decoder(unscaled)
        return inner(*args)


def example_inputs(net: str, module: nn.Module, batch: int = 2, length: int = 3) -> tuple[torch.Tensor, ...]:
    """Example inputs of ``net`` for ``batch`` items: ``length`` bars of 4/4 (structure), ``length``
    frame multiples (acoustic) or ``8 * length + 1`` codec frames."""
    gen = torch.Generator().manual_seed(0)
    if net == "structure":
        from audiodiff.structure.net import STEPS_PER_BEAT
        from audiodiff.structure.tokens import CHORD_VOCAB, MELODY_VOCAB

        n = 4 * length
        return (torch.randint(0, MELODY_VOCAB, (batch, n, STEPS_PER_BEAT), generator=gen),
                torch.randint(0, CHORD_VOCAB, (batch, n), generator=gen),
                torch.arange(n).remainder(4).expand(batch, n), torch.arange(n).div(4, rounding_mode="floor")
                .expand(batch, n), torch.full((batch, n), length), torch.zeros(batch, dtype=torch.long),
                torch.zeros(batch, dtype=torch.long), torch.full((batch,), 120.0))
    if net == "acoustic":
        from audiodiff.acoustic.features import NUM_FEATURES

        cfg = module.config
        t = cfg.frame_multiple * length
        d = cfg.latent_dim
        return (torch.randn(batch, d, t, generator=gen), torch.zeros(batch), torch.rand(batch, NUM_FEATURES, t,
                generator=gen), torch.zeros(batch, dtype=torch.long), torch.randn(batch, d, t, generator=gen),
                torch.randn(batch, d, t, generator=gen), torch.ones(batch, 1, t))
    if net == "codec_encoder":
        samples = int(module.hop_length) * (8 * length + 1)
        return (0.1 * torch.randn(batch, int(module.config.channels), samples, generator=gen),)
    if net == "codec_decoder":
        return (torch.randn(batch, int(module.latent_dim), 8 * length + 1, generator=gen),)
    raise ValueError(f"unknown network {net!r}")


def export_net(module: nn.Module, net: str, path: str | os.PathLike, checkpoint_keys: set[str],
               metadata: dict[str, str] | None = None) -> Path:
    """Export ``module`` as network ``net`` (one of NETS) to ``path``.

    ``module`` is the torch module the checkpoint loads into (a StructureNet, an AcousticNet, or a
    Codec for both codec networks), in float32. Every graph weight named in ``checkpoint_keys``
    (that ``net`` reads) is left out of the file as an external initializer; the rest (fixed
    buffers such as positional tables) stays in. Raises ValueError when the graph does not read
    exactly the checkpoint tensors that :func:`audiodiff.onnx.uses_weight` says it reads.
    """
    import onnx

    wrapped = _Wrapped(module, net).eval()
    args = example_inputs(net, module)
    spectrum = net == "codec_decoder" and is_vocos(module)
    names_in, names_out = list(INPUTS[net]), list(SPECTRUM_OUTPUTS if spectrum else OUTPUTS[net])
    time_axis = 1 if net == "structure" else 2
    ranks = [value.dim() for value in args] + [4 if net == "structure" else 3, 3]  # outputs: [B, N, ...]/[B, C, T]
    axes = {name: {0: "batch"} if rank == 1 else {0: "batch", time_axis: "time"}
            for name, rank in zip(names_in + names_out, ranks)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with export_patches(), exportable_attention(module), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
        torch.onnx.export(wrapped, args, str(path), input_names=names_in, output_names=names_out,
                          dynamic_axes=axes, opset_version=OPSET, do_constant_folding=False, dynamo=False,
                          keep_initializers_as_inputs=True)  # True: no merging of equal-valued weights
    model = onnx.load(str(path))
    stored = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in stored]  # weights are initializers, not inputs
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    wanted = {k for k in checkpoint_keys if uses_weight(net, k)}
    external = set()
    for tensor in model.graph.initializer:
        key = tensor.name[len(_PREFIX):] if tensor.name.startswith(_PREFIX) else tensor.name
        if key in wanted:
            _rename(model.graph, tensor.name, key)
            tensor.ClearField("raw_data")
            tensor.data_location = onnx.TensorProto.EXTERNAL
            entry = tensor.external_data.add()
            entry.key, entry.value = "location", EXTERNAL_LOCATION
            external.add(key)
    if external != wanted:
        missing = sorted(wanted - external)
        raise ValueError(f"the {net} graph does not read {len(missing)} checkpoint tensors (e.g. {missing[:3]})")
    info = {"audiodiff.net": net, **(metadata or {})}
    for key, value in info.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def _rename(graph: Any, old: str, new: str) -> None:
    """Rename a value everywhere in ``graph`` (initializer and node inputs)."""
    if old == new:
        return
    for tensor in graph.initializer:
        if tensor.name == old:
            tensor.name = new
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def load_torch(checkpoint: str | os.PathLike) -> tuple[str, nn.Module, set[str], dict[str, Any]]:
    """The checkpoint's kind, its torch module (float32, eval), its tensor names and its config."""
    header = read_checkpoint_header(checkpoint)
    kind = header["kind"]
    module: nn.Module
    if kind == "structure":
        from audiodiff.structure.model import StructureModel

        module = StructureModel.load(checkpoint).net
    elif kind == "acoustic":
        from audiodiff.acoustic.model import AcousticModel

        module = AcousticModel.load(checkpoint).net
    elif kind == "codec":
        from audiodiff.codec.model import load_codec

        module = load_codec(checkpoint)
    else:
        raise CheckpointError(checkpoint, f"holds a {kind!r} model; ONNX export knows "
                                          f"{', '.join(NETS_OF_KIND)}")
    from safetensors import safe_open

    with safe_open(str(checkpoint), framework="numpy") as f:
        keys = set(f.keys())
    return kind, module.float().eval(), keys, header["config"]


def export_checkpoint(checkpoint: str | os.PathLike, out_dir: str | os.PathLike,
                      nets: Sequence[str] | None = None) -> dict[str, Path]:
    """Export every network of ``checkpoint`` (any of the three kinds; or only ``nets``) to
    ``out_dir/<net>.onnx``. Returns ``{net: path}``. The graphs carry the checkpoint's kind and
    config as metadata."""
    kind, module, keys, config = load_torch(checkpoint)
    meta = {"audiodiff.kind": kind, "audiodiff.config": json.dumps(config, sort_keys=True)}
    return {net: export_net(module, net, Path(out_dir) / f"{net}.onnx", keys, meta)
            for net in (nets if nets is not None else NETS_OF_KIND[kind])}


def torch_outputs(module: nn.Module, net: str, args: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """What the torch module computes for network ``net`` (what :class:`OnnxNet` returns: a Vocos
    decoder's waveform, not the spectrum its graph ends at)."""
    with torch.no_grad():
        if net == "codec_decoder":
            return [module.decoder(args[0] / module.latent_scale)]
        out = _Wrapped(module, net).eval()(*args)
    return list(out) if isinstance(out, tuple) else [out]


def agreement(checkpoint: str | os.PathLike, graph: str | os.PathLike, net: str,
              sizes: tuple[tuple[int, int], ...] = ((1, 5), (3, 4))) -> float:
    """Largest ``|onnx - torch|`` over the outputs of ``net`` for example inputs of each
    ``(batch, length)`` in ``sizes`` (lengths in bars, or 8-frame units; other than the tracing size)."""
    from audiodiff.onnx.runtime import OnnxNet

    _, module, _, _ = load_torch(checkpoint)
    session = OnnxNet.load(graph, checkpoint, net=net)
    worst = 0.0
    for batch, length in sizes:
        args = example_inputs(net, module, batch, length)
        for ours, theirs in zip(session(*[a.numpy() for a in args]), torch_outputs(module, net, args)):
            worst = max(worst, float(abs(ours - theirs.numpy()).max()))
    return worst
