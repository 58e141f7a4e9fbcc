"""Train the structure model (masked diffusion over melody/chord tokens) on a prepared corpus.

    python recipes/train_structure.py --config cpu --data runs/data/cpu --out runs/structure_cpu
    torchrun --nproc_per_node 2 recipes/train_structure.py --config tiny --data runs/data/tiny --out runs/structure_tiny

``--config`` is a name in audiodiff/configs/structure/ (tiny, cpu, gpu) or a JSON file. The run
trains on <data>/tunes_train.jsonl, resumes from <out>/train_state.pt when present, and exports
<out>/structure.safetensors.
"""
from __future__ import annotations

import sys

from recipe_cli import run_recipe


def build(resolved: dict, data: str):
    from audiodiff.structure.task import StructureTask, StructureTrainingConfig

    config = StructureTrainingConfig.from_dict(resolved)
    return config, StructureTask(config, data)


if __name__ == "__main__":
    sys.exit(run_recipe(__doc__, "structure", "structure.safetensors", build))
