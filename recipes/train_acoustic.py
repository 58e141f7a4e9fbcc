"""Train the acoustic model (EDM diffusion over codec latents, conditioned on window plans).

    python recipes/train_acoustic.py --config cpu --data runs/data/cpu --out runs/acoustic_cpu
    torchrun --nproc_per_node 2 recipes/train_acoustic.py --config tiny --data runs/data/tiny --out runs/acoustic_tiny

``--config`` is a name in audiodiff/configs/acoustic/ (tiny, cpu, gpu; cpu_finetune: cpu at half the
learning rate, to continue a cpu model with --init-from) or a JSON file. The codec is
the JSON's "codec" path (default: the codec shipped in audiodiff/checkpoints/); the train split's
windows are encoded with it once into <data>/latents/ (or the JSON's "latent_cache_dir") and the
cache is reused by later runs with the same codec. A run resumes from <out>/train_state.pt when
present and exports <out>/acoustic.safetensors.
"""
from __future__ import annotations

import sys

from recipe_cli import run_recipe


def build(resolved: dict, data: str):
    from audiodiff.acoustic.task import AcousticTask, AcousticTrainingConfig

    task = AcousticTask(AcousticTrainingConfig.from_dict(resolved), data)
    return task.config, task


if __name__ == "__main__":
    sys.exit(run_recipe(__doc__, "acoustic", "acoustic.safetensors", build))
