"""Both backends make the same music: ONNX Runtime and torch run the same numpy samplers and noise.

Tolerances (a tiny untrained model made here, and the shipped networks, marker ``shipped``): the
plans are equal, and the audio (peaks near 0.5-0.7) agrees to a largest sample difference of 1e-5
on both (measured: tiny 1.8e-7 and 2.2e-7 on two prompts; shipped 8.3e-7 for the test's 4 s at 4
steps, 7.8e-7 and 8.8e-7 for 4 s and 10 s at the default settings).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import build_tiny_checkpoints

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from audiodiff.io.checkpoint import CheckpointError  # noqa: E402
from audiodiff.music.prompt import parse  # noqa: E402
from audiodiff.onnx.export import export_checkpoint  # noqa: E402
from audiodiff.pipeline import Pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY_TOLERANCE, SHIPPED_TOLERANCE = 1e-5, 1e-5
PROMPT = "D minor, 96 bpm, 3/4, violin, 3 s, seed 11"


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> dict[str, str]:
    """Tiny checkpoints with their graphs exported beside them (where the onnx backend looks first)."""
    root = tmp_path_factory.mktemp("backend_ckpts")
    paths = build_tiny_checkpoints(root)
    for path in paths.values():
        export_checkpoint(path, root)
    return paths


def generate(ckpts: dict[str, str] | None, backend: str, prompt: str = PROMPT, **kw):
    paths = ckpts or {}
    pipeline = Pipeline.load(paths.get("structure"), paths.get("acoustic"), paths.get("codec"), backend=backend,
                             threads=1)
    assert pipeline.backend == backend
    return pipeline.generate([parse(prompt)], **kw)[0]


def test_both_backends_make_the_same_music_from_a_seed(ckpts):
    ours, theirs = generate(ckpts, "onnx", steps=4, plan_steps=4), generate(ckpts, "torch", steps=4, plan_steps=4)
    assert ours.plan == theirs.plan and ours.seed == theirs.seed and len(ours.audio) == len(theirs.audio)
    assert np.abs(ours.audio).max() > 0.01  # not silence
    assert np.abs(ours.audio - theirs.audio).max() <= TINY_TOLERANCE
    again = generate(ckpts, "onnx", steps=4, plan_steps=4)
    assert again.audio.tobytes() == ours.audio.tobytes()  # same seed, backend and threads: same bytes


def test_another_seed_makes_other_music_on_onnx(ckpts):
    a = generate(ckpts, "onnx", steps=2, plan_steps=2)
    b = generate(ckpts, "onnx", PROMPT.replace("seed 11", "seed 12"), steps=2, plan_steps=2)
    assert a.plan != b.plan and not np.allclose(a.audio, b.audio, atol=1e-3)


def test_a_checkpoint_without_a_fitting_graph_is_a_one_line_error_on_onnx_and_runs_on_torch(tmp_path):
    paths = build_tiny_checkpoints(tmp_path)  # no graphs beside them; the shipped graphs are another architecture
    with pytest.raises(CheckpointError, match="--backend torch") as err:
        Pipeline.load(paths["structure"], paths["acoustic"], paths["codec"], backend="onnx")
    assert "\n" not in str(err.value)
    assert Pipeline.load(paths["structure"], paths["acoustic"], paths["codec"]).backend == "torch"  # the default


def test_bad_backend_and_device_are_errors(ckpts):
    with pytest.raises(ValueError, match="unknown backend 'tf'"):
        Pipeline.load(ckpts["structure"], ckpts["acoustic"], ckpts["codec"], backend="tf")
    with pytest.raises(ValueError, match="runs on the CPU"):
        Pipeline.load(ckpts["structure"], ckpts["acoustic"], ckpts["codec"], backend="onnx", device="cuda")


def test_generating_on_onnx_imports_no_torch(ckpts, tmp_path):
    """The whole `audiodiff generate --backend onnx` (plan MIDI included) runs without importing torch."""
    argv = ["generate", "C major, 2 s", "-o", str(tmp_path / "a.wav"), "--plan-out", str(tmp_path / "a.mid"),
            "--seed", "1", "--steps", "2", "--plan-steps", "2", "--threads", "1", "--backend", "onnx",
            "--structure", ckpts["structure"], "--acoustic", ckpts["acoustic"], "--codec", ckpts["codec"]]
    code = f"import sys; from audiodiff.cli import main; code = main({argv!r}); print(code, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "0 False", done.stderr[-2000:]


def test_cli_backend_option(ckpts, tmp_path):
    from audiodiff.cli import main

    args = ["generate", "C major, 120 bpm, 2 s", "--seed", "3", "--steps", "2", "--plan-steps", "2", "--threads", "1",
            "--structure", ckpts["structure"], "--acoustic", ckpts["acoustic"], "--codec", ckpts["codec"]]
    assert main(args + ["-o", str(tmp_path / "onnx.wav"), "--backend", "onnx"]) == 0
    assert main(args + ["-o", str(tmp_path / "torch.wav"), "--backend", "torch"]) == 0
    import soundfile as sf

    ours, theirs = sf.read(tmp_path / "onnx.wav")[0], sf.read(tmp_path / "torch.wav")[0]
    assert json.loads((tmp_path / "onnx.json").read_text())["backend"] == "onnx"
    assert np.abs(ours - theirs).max() <= TINY_TOLERANCE + 1 / 32768  # 16-bit rounding on top
    with pytest.raises(SystemExit) as usage:
        main(args + ["-o", str(tmp_path / "x.wav"), "--backend", "tf"])
    assert usage.value.code == 2


def test_shipped_graphs_hold_the_architecture_only():
    import onnx

    from audiodiff.io.checkpoint import PACKAGE_CHECKPOINTS
    from audiodiff.onnx import NETS

    for net in NETS:
        path = PACKAGE_CHECKPOINTS / f"{net}.onnx"
        model = onnx.load(str(path), load_external_data=False)
        assert path.stat().st_size < 300_000 and model.graph.initializer, net
        assert all(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer), net


@pytest.mark.shipped
def test_shipped_networks_make_the_same_music_on_both_backends():
    kw = {"steps": 4, "plan_steps": 8}
    prompt = "C major, 120 bpm, piano, 4 s, seed 3"
    ours, theirs = generate(None, "onnx", prompt, **kw), generate(None, "torch", prompt, **kw)
    assert ours.plan == theirs.plan
    assert np.abs(ours.audio - theirs.audio).max() <= SHIPPED_TOLERANCE
