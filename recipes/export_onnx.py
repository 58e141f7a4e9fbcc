"""Export a checkpoint's networks to ONNX graphs that read their weights from the checkpoint.

    python recipes/export_onnx.py audiodiff/checkpoints/codec.safetensors --out onnx/

Any of the three checkpoint kinds: a structure checkpoint gives ``structure.onnx``, an acoustic one
``acoustic.onnx``, a codec ``codec_encoder.onnx`` and ``codec_decoder.onnx`` (a Vocos decoder's graph
ends at the spectrum; the runtime does the inverse STFT in numpy). The graphs hold no weights: load
one with ``audiodiff.onnx.runtime.OnnxNet.load(graph, checkpoint, net=...)``, which fills them from
the checkpoint (so fine-tuning and inference read the same file). ``--backend onnx`` looks for the
graphs beside the checkpoint (``--out`` the checkpoint's folder), then for the shipped ones in
``audiodiff/checkpoints/`` (written by this recipe from the shipped checkpoints). ``--check``
compares ONNX Runtime with torch on the tracing inputs and prints the largest difference.
Needs torch and the onnx extra (``pip install 'audiodiff[onnx]'``).
"""
from __future__ import annotations

import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a structure, acoustic or codec checkpoint (.safetensors)")
    parser.add_argument("--out", required=True, help="folder for the <net>.onnx graphs")
    parser.add_argument("--check", action="store_true", help="compare ONNX Runtime with torch after export")
    args = parser.parse_args()
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        print(f"error: exporting needs the onnx extra ({err.name} is missing): pip install 'audiodiff[onnx]'",
              file=sys.stderr)
        return 1
    from audiodiff.io.checkpoint import CheckpointError
    from audiodiff.onnx.export import agreement, export_checkpoint

    try:
        paths = export_checkpoint(args.checkpoint, args.out)
    except (CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for net, path in paths.items():
        line = f"{net}: {path} ({path.stat().st_size / 1024:.0f} KiB)"
        if args.check:
            line += f", largest |onnx - torch| {agreement(args.checkpoint, path, net):.2e}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
