"""ONNX Runtime against torch: per-network call time, and a torch-free process's start-up and memory.

    python benchmarks/onnx_runtime.py [--out runs/onnx_bench] [--repeats 5] [--threads 1]

Exports the shipped structure and codec checkpoints and an untrained acoustic net of the ``cpu``
preset (the timing does not depend on the weights; the shipped acoustic checkpoint is replaced
by the per-part net) to ``--out``, then times, on ``--threads`` threads, the median of
``--repeats`` calls of each network on the inputs one generation step gives it:

- structure: a guided pair (batch 2) of 32 bars of 4/4 (128 beats);
- acoustic: a guided pair (batch 2) of one 500-frame window (the model's window, 6.7 s);
- codec encoder: one part's 10 s sketch (750 frames); codec decoder: 750 frames.

Then it starts two fresh processes that each load all four networks and run each once: one on
ONNX Runtime (numpy + onnxruntime, checked to import no torch) and one on torch, and reports
their wall time from start to the last output and their peak RSS.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
backend, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
import numpy as np
ckpt = {"structure": "audiodiff/checkpoints/structure.safetensors", "codec": "audiodiff/checkpoints/codec.safetensors",
        "acoustic": out + "/acoustic.safetensors"}
counts = json.loads(open(out + "/inputs.json").read())
inputs = {k: [np.load(f"{out}/{k}_{i}.npy") for i in range(n)] for k, n in counts.items()}
if backend == "onnx":
    from audiodiff.onnx.runtime import OnnxNet
    kinds = {"structure": "structure", "acoustic": "acoustic", "codec_encoder": "codec", "codec_decoder": "codec"}
    nets = {n: OnnxNet.load(f"{out}/{n}.onnx", ckpt[k], net=n, threads=threads) for n, k in kinds.items()}
    t_load = time.perf_counter() - t0
    for n, net in nets.items():
        net(*inputs[n])
    assert "torch" not in sys.modules
else:
    import torch
    torch.set_num_threads(threads)
    from audiodiff.acoustic.model import AcousticModel
    from audiodiff.codec.model import load_codec
    from audiodiff.structure.model import StructureModel
    s, a = StructureModel.load(ckpt["structure"]).net, AcousticModel.load(ckpt["acoustic"]).net
    c = load_codec(ckpt["codec"])
    t_load = time.perf_counter() - t0
    with torch.no_grad():
        t = lambda k: [torch.from_numpy(x) for x in inputs[k]]
        s(*t("structure")); a(*t("acoustic")); c.encoder(*t("codec_encoder")); c.decoder(*t("codec_decoder"))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"load_s": round(t_load, 2), "total_s": round(time.perf_counter() - t0, 2),
                  "peak_rss_mib": round(int(hwm.split()[1]) / 1024), "torch_imported": "torch" in sys.modules}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/onnx_bench", help="folder for the graphs and inputs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--processes-only", action="store_true",
                        help="only the two fresh processes (on the graphs and inputs already in --out)")
    args = parser.parse_args()
    if args.processes_only:
        return _processes(Path(args.out), args.threads)
    import numpy as np
    import torch

    from audiodiff.acoustic.model import AcousticConfig, AcousticModel
    from audiodiff.acoustic.net import AcousticNet, AcousticNetConfig
    from audiodiff.io.checkpoint import default_checkpoint
    from audiodiff.onnx.export import example_inputs, export_checkpoint, load_torch, torch_outputs
    from audiodiff.onnx.runtime import OnnxNet

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    acoustic = AcousticConfig(net=AcousticNetConfig.preset("cpu"), window_frames=500, context_frames=100)
    AcousticModel(AcousticNet(acoustic.net), acoustic).save(out / "acoustic.safetensors")
    checkpoints = {"structure": default_checkpoint("structure"), "codec": default_checkpoint("codec"),
                   "acoustic": out / "acoustic.safetensors"}
    rows, saved = [], {}
    for checkpoint in checkpoints.values():
        graphs = export_checkpoint(checkpoint, out)  # seconds to a minute each
        _, module, _, _ = load_torch(checkpoint)
        for net, graph in graphs.items():
            session = OnnxNet.load(graph, checkpoint, net=net, threads=args.threads)
            # one generation step's inputs: the lengths in example_inputs' units
            batch, length = {"structure": (2, 32), "acoustic": (2, 32), "codec_encoder": (1, 94),
                             "codec_decoder": (1, 94)}[net]
            inputs = example_inputs(net, module, batch, length)
            if net == "acoustic":  # 512 -> the model's 500-frame window (the net pads to 16 inside)
                inputs = tuple(t[..., :500] if t.dim() == 3 else t for t in inputs)
            arrays = [t.numpy() for t in inputs]
            saved[net] = len(arrays)
            for i, a in enumerate(arrays):
                np.save(out / f"{net}_{i}.npy", a)
            t_torch, t_onnx = _median_ms([(torch_outputs, (module, net, inputs)), (session, arrays)], args.repeats)
            rows.append((net, "x".join(str(s) for s in inputs[0].shape), t_torch, t_onnx))
    (out / "inputs.json").write_text(json.dumps(saved))
    print(f"| network | first input | torch ms | ONNX Runtime ms | ratio |  ({args.threads} thread(s))")
    print("|---|---|---:|---:|---:|")
    for net, shape, t_torch, t_onnx in rows:
        print(f"| {net} | {shape} | {t_torch:.1f} | {t_onnx:.1f} | {t_torch / t_onnx:.2f} |")
    return _processes(out, args.threads)


def _processes(out: Path, threads: int) -> int:
    """Start the ONNX Runtime process and the torch process; print what each reports."""
    root = Path(__file__).resolve().parents[1]
    for backend in ("onnx", "torch"):
        done = subprocess.run([sys.executable, "-c", CHILD, backend, str(out.resolve()), str(threads)], cwd=root,
                              capture_output=True, text=True, check=True)
        print(f"{backend} process: " + done.stdout.strip())
    return 0


def _median_ms(calls: Sequence[tuple[Callable[..., object], Sequence[object]]], repeats: int) -> list[float]:
    """Median wall time in ms of each ``call(*arguments)`` over ``repeats`` calls after one warm-up
    call each; the calls alternate, so a change in the machine's load hits all of them alike."""
    times: list[list[float]] = [[] for _ in calls]
    for repeat in range(repeats + 1):
        for (call, arguments), spent in zip(calls, times):
            start = time.perf_counter()
            call(*arguments)
            if repeat:
                spent.append(time.perf_counter() - start)
    return [statistics.median(spent) * 1000 for spent in times]


if __name__ == "__main__":
    sys.exit(main())
