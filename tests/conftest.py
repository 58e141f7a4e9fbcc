"""Shared fixtures: tiny data built by the tests themselves (no network, no GPU)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from audiodiff.corpus.config import DataConfig

# Tests use tiny models: one thread is faster than two fighting over a busy 2-core machine.
torch.set_num_threads(1)

# Property tests draw the same examples on every run, so CI is reproducible; set
# HYPOTHESIS_PROFILE=explore to search new examples locally.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def tiny_data_config(**changes) -> DataConfig:
    """The recipe's ``tiny`` config, smaller still: 6 real tunes, 2 s windows, seconds to build."""
    config = DataConfig.load("tiny")
    config.chorales, config.max_tunes, config.window_seconds = False, 6, 2.0
    config.max_windows_per_item, config.index_chunk_size = 2, 2
    config.val_fraction = config.test_fraction = 0.2
    for name, value in changes.items():
        setattr(config, name, value)
    return config


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A built tiny corpus directory (manifests, windows, plans)."""
    from audiodiff.corpus.prepare import prepare

    out = tmp_path_factory.mktemp("corpus")
    prepare(out, tiny_data_config(), workers=1)
    return out


def build_tiny_checkpoints(root: Path, window_frames: int = 128, context_frames: int = 32) -> dict[str, str]:
    """Checkpoints of untrained tiny models in ``root``: structure, acoustic (short windows), codec.

    Seconds to build; the session fixture ``tiny_ckpts`` and tests/test_pipeline.py use it."""
    from audiodiff.acoustic.model import AcousticConfig, AcousticModel
    from audiodiff.acoustic.net import AcousticNet, AcousticNetConfig
    from audiodiff.codec.model import Codec, CodecConfig, save_codec
    from audiodiff.structure.model import StructureModel
    from audiodiff.structure.net import StructureNet, StructureNetConfig

    torch.manual_seed(0)
    StructureModel(StructureNet(StructureNetConfig.preset("tiny"))).save(root / "structure.safetensors")
    codec = Codec(CodecConfig.preset("tiny"))
    save_codec(codec, root / "codec.safetensors")
    config = AcousticConfig(net=AcousticNetConfig.preset("tiny"), window_frames=window_frames,
                            context_frames=context_frames).for_codec(codec.latent_dim, codec.frame_rate)
    AcousticModel(AcousticNet(config.net), config).save(root / "acoustic.safetensors")
    return {name: str(root / f"{name}.safetensors") for name in ("structure", "acoustic", "codec")}


@pytest.fixture(scope="session")
def tiny_ckpts(tmp_path_factory) -> dict[str, str]:
    """Paths of untrained tiny structure / acoustic / codec checkpoints (see build_tiny_checkpoints)."""
    return build_tiny_checkpoints(tmp_path_factory.mktemp("tiny_ckpts"))


@pytest.fixture(scope="session")
def structure_ckpt(tmp_path_factory) -> str:
    """An untrained tiny structure checkpoint (seed 0): enough for the command line's plan paths."""
    from audiodiff.structure.model import StructureModel
    from audiodiff.structure.net import StructureNet, StructureNetConfig

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "structure.safetensors"
    StructureModel(StructureNet(StructureNetConfig.preset("tiny"))).save(path)
    return str(path)
