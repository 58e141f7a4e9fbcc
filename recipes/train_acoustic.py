"""Train the acoustic model (EDM diffusion over codec latents: each part alone, refining its sketch).

    python recipes/train_acoustic.py --config cpu --data runs/parts --out runs/acoustic_cpu
    python recipes/train_acoustic.py --config cpu_refine --data runs/parts,runs/parts_mine --out runs/ac_ft \
        --init-from audiodiff/checkpoints/acoustic.safetensors
    torchrun --nproc_per_node 2 recipes/train_acoustic.py --config tiny --data runs/parts --out runs/acoustic_tiny

``--data`` is one or more (comma-separated) folders of per-part shards made by
recipes/prepare_part_data.py with the same codec. ``--config`` is a name in
audiodiff/configs/acoustic/ or a JSON file: tiny, cpu, gpu; cpu_finetune (cpu at a lower learning
rate, to continue a cpu model with --init-from); cpu_refine (cpu_finetune trained on the noise
levels that sampling visits: it starts from the sketch noised to 0.5, so the noise levels are drawn
around 0.14 instead of 0.55). The codec is the JSON's "codec" path (default: the shipped one). A
run resumes from <out>/train_state.pt when present and exports <out>/acoustic.safetensors.
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
