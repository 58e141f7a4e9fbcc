"""ONNX export: torch and ONNX Runtime agree, the graphs read the checkpoint's weights, torch is untouched.

Tolerances (largest absolute difference of the outputs): structure and acoustic nets 1e-5, codec
encoder and decoder 1e-6 for the tiny untrained models (a tiny Vocos decoder: 1e-6, measured 4.5e-8);
for the shipped checkpoints (``shipped`` marker) structure 3e-5, codec encoder 5e-6, its Vocos decoder
(graph to the spectrum, numpy inverse STFT) 1e-6 (measured 1.24e-5, 1.9e-6, 4.0e-7).
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from audiodiff.io.checkpoint import CheckpointError, default_checkpoint  # noqa: E402
from audiodiff.onnx import NETS_OF_KIND  # noqa: E402
from audiodiff.onnx.export import (  # noqa: E402
    agreement,
    example_inputs,
    export_checkpoint,
    export_net,
    extra_padding_for_conv1d,
    load_torch,
    torch_outputs,
)
from audiodiff.onnx.runtime import OnnxNet  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = {"structure": 1e-5, "acoustic": 1e-5, "codec_encoder": 1e-6, "codec_decoder": 1e-6}
# measured: structure 1.24e-5 (logits up to 17), encoder 1.9e-6 (latents up to 2), decoder 1.2e-7
SHIPPED_TOLERANCE = {"structure": 3e-5, "codec_encoder": 5e-6, "codec_decoder": 1e-6}


@pytest.fixture(scope="module")
def tiny_graphs(tiny_ckpts, tmp_path_factory) -> dict[str, Path]:
    """Every network of the tiny checkpoints exported once: ``{net: graph path}``."""
    out = tmp_path_factory.mktemp("onnx")
    graphs: dict[str, Path] = {}
    for kind in NETS_OF_KIND:
        graphs.update(export_checkpoint(tiny_ckpts[kind], out))
    return graphs


def kind_of(net: str) -> str:
    return "codec" if net.startswith("codec") else net


@pytest.mark.parametrize("net", ["structure", "acoustic", "codec_encoder", "codec_decoder"])
def test_tiny_networks_agree_with_torch_at_other_batch_and_time_sizes(net, tiny_graphs, tiny_ckpts):
    assert agreement(tiny_ckpts[kind_of(net)], tiny_graphs[net], net) <= TOLERANCE[net]


def test_graphs_hold_no_checkpoint_weights(tiny_graphs, tiny_ckpts):
    import onnx

    from audiodiff.onnx import uses_weight

    for net, graph in tiny_graphs.items():
        model = onnx.load(str(graph), load_external_data=False)
        external = {t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL}
        _, _, keys, _ = load_torch(tiny_ckpts[kind_of(net)])
        assert external == {k for k in keys if uses_weight(net, k)}


def test_one_graph_serves_every_checkpoint_of_its_architecture(tiny_graphs, tmp_path):
    """Fine-tuned weights need no new export: the same graph reads them from the new checkpoint."""
    from audiodiff.structure.model import StructureModel
    from audiodiff.structure.net import StructureNet, StructureNetConfig

    torch.manual_seed(123)
    other = StructureModel(StructureNet(StructureNetConfig.preset("tiny"))).save(tmp_path / "other.safetensors")
    _, module, _, _ = load_torch(other)
    args = example_inputs("structure", module, 2, 3)
    ours = OnnxNet.load(tiny_graphs["structure"], other, net="structure")(*[a.numpy() for a in args])
    theirs = torch_outputs(module, "structure", args)
    assert all(np.abs(o - t.numpy()).max() <= TOLERANCE["structure"] for o, t in zip(ours, theirs))


def test_wrong_checkpoints_are_one_line_checkpoint_errors(tiny_graphs, tiny_ckpts, tmp_path):
    from audiodiff.codec.model import Codec, CodecConfig, save_codec

    with pytest.raises(CheckpointError, match="needs a 'structure' checkpoint"):
        OnnxNet.load(tiny_graphs["structure"], tiny_ckpts["codec"], net="structure")
    wider = save_codec(Codec(replace(CodecConfig.preset("tiny"), n_filters=8)), tmp_path / "wide.safetensors")
    with pytest.raises(CheckpointError) as err:
        OnnxNet.load(tiny_graphs["codec_decoder"], wider, net="codec_decoder")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kernel,stride,padding_total", [(7, 1, 6), (4, 2, 2), (16, 8, 8), (3, 1, 2), (10, 5, 5)])
def test_integer_padding_equals_encodecs(kernel, stride, padding_total):
    from encodec.modules.conv import get_extra_padding_for_conv1d

    for length in range(1, 60):
        x = torch.zeros(1, 1, length)
        assert extra_padding_for_conv1d(x, kernel, stride, padding_total) == \
            get_extra_padding_for_conv1d(x, kernel, stride, padding_total)


def test_export_leaves_torch_as_it_was(tiny_ckpts, tmp_path):
    from encodec.modules import conv

    _, module, keys, _ = load_torch(tiny_ckpts["structure"])
    args = example_inputs("structure", module, 1, 2)
    before = torch_outputs(module, "structure", args)
    padding, fastpath = conv.get_extra_padding_for_conv1d, torch.backends.mha.get_fastpath_enabled()
    export_net(module, "structure", tmp_path / "structure.onnx", keys)
    assert conv.get_extra_padding_for_conv1d is padding
    assert torch.backends.mha.get_fastpath_enabled() == fastpath
    assert all("forward" not in vars(m) for m in module.modules())
    assert all(torch.equal(a, b) for a, b in zip(before, torch_outputs(module, "structure", args)))


def test_recipe_exports_and_checks(tiny_ckpts, tmp_path):
    done = subprocess.run([sys.executable, "recipes/export_onnx.py", tiny_ckpts["structure"], "--out", str(tmp_path),
                           "--check"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("structure: ") and (tmp_path / "structure.onnx").is_file()
    bad = subprocess.run([sys.executable, "recipes/export_onnx.py", str(tmp_path / "structure.onnx"), "--out",
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.shipped
@pytest.mark.parametrize("kind", ["structure", "codec"])
def test_shipped_networks_agree_with_torch(kind, tmp_path):
    """The shipped codec's decoder is a Vocos decoder: its graph ends at the spectrum, numpy does the rest."""
    checkpoint = default_checkpoint(kind)
    for net, graph in export_checkpoint(checkpoint, tmp_path).items():
        assert agreement(checkpoint, graph, net, sizes=((1, 32), (2, 9))) <= SHIPPED_TOLERANCE[net], net


def test_a_vocos_decoder_runs_as_a_spectrum_graph_and_a_numpy_inverse_stft(tmp_path):
    import onnx

    from audiodiff.codec.model import Codec, CodecConfig, save_codec
    from audiodiff.onnx import SPECTRUM_OUTPUTS

    torch.manual_seed(0)
    config = replace(CodecConfig.preset("tiny"), decoder_type="vocos", vocos_dim=16, vocos_intermediate=32,
                     vocos_layers=2)
    checkpoint = save_codec(Codec(config), tmp_path / "vocos.safetensors")
    graph = export_checkpoint(checkpoint, tmp_path, ["codec_decoder"])["codec_decoder"]
    assert tuple(o.name for o in onnx.load(str(graph), load_external_data=False).graph.output) == SPECTRUM_OUTPUTS
    assert agreement(checkpoint, graph, "codec_decoder") <= TOLERANCE["codec_decoder"]


def test_the_numpy_inverse_stft_is_torchs():
    from audiodiff.codec.istft import inverse_stft

    gen = torch.Generator().manual_seed(0)
    for hop, frames in [(32, 1), (32, 50), (320, 7)]:
        n_fft = 4 * hop
        shape = (2, n_fft // 2 + 1, frames)
        magnitude, phase = torch.rand(shape, generator=gen), 5 * torch.randn(shape, generator=gen)
        theirs = torch.istft(torch.polar(magnitude, phase), n_fft, hop_length=hop, window=torch.hann_window(n_fft),
                             center=True, length=frames * hop)
        ours = inverse_stft(magnitude.numpy(), phase.numpy(), hop, frames * hop)
        assert ours.shape == tuple(theirs.shape) and np.abs(ours - theirs.numpy()).max() < 1e-7


def test_acoustic_net_takes_any_frame_count(tiny_graphs, tiny_ckpts):
    """Its graph wants a multiple of frame_multiple frames: OnnxNet pads and trims as the torch net does."""
    _, module, _, _ = load_torch(tiny_ckpts["acoustic"])
    args = tuple(a[..., :-1] if a.dim() == 3 else a for a in example_inputs("acoustic", module, 2, 5))
    session = OnnxNet.load(tiny_graphs["acoustic"], tiny_ckpts["acoustic"], net="acoustic")
    assert session.frame_multiple == module.config.frame_multiple > 1
    (ours,), (theirs,) = session(*[a.numpy() for a in args]), torch_outputs(module, "acoustic", args)
    assert ours.shape == tuple(theirs.shape) and np.abs(ours - theirs.numpy()).max() <= TOLERANCE["acoustic"]


def test_inference_modules_import_no_torch():
    code = ("import sys; import audiodiff.onnx.runtime, audiodiff.diffusion.masked_numpy, "
            "audiodiff.diffusion.gaussian_numpy; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-2000:]
