"""Train the codec (encodec SEANet + RVQ) on the rendered corpus windows.

    python recipes/train_codec.py --config cpu --data runs/data/cpu --out runs/codec_cpu
    torchrun --nproc_per_node 2 recipes/train_codec.py --config tiny --data runs/data/tiny --out runs/codec_tiny

``--config`` is a name in audiodiff/configs/codec/ (tiny, cpu, gpu) or a JSON file; ``cpu_decoder``
fine-tunes only the decoder of ``--init-from`` (its latents, and the acoustic models trained on
them, stay valid). The run trains
on random crops of <data>/train.jsonl, resumes from <out>/train_state.pt when present, and exports
the EMA codec with its measured latent scale to <out>/codec.safetensors. On a busy CPU machine,
OMP_NUM_THREADS=1 can be several times faster than torch's default of one thread per core.
"""
from __future__ import annotations

import sys

from recipe_cli import run_recipe


def build(resolved: dict, data: str):
    from audiodiff.codec.task import CodecTask, CodecTrainingConfig

    config = CodecTrainingConfig.from_dict(resolved)
    return config, CodecTask(config, data)


if __name__ == "__main__":
    sys.exit(run_recipe(__doc__, "codec", "codec.safetensors", build))
