"""Shared fixtures: tiny data built by the tests themselves (no network, no GPU)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch
from hypothesis import settings

from audiodiff.corpus.config import DataConfig

if TYPE_CHECKING:
    from audiodiff.music.performance import Performance

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


def small_soundfont() -> str:
    """pretty_midi's 6 MB GM soundfont (a dev dependency): FluidSynth loads it in a fraction of the
    time the full GM soundfont takes, and tests of the part data do not listen to the timbres."""
    import pretty_midi

    return str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")


def tiny_arrangement(seed: int, stream: int = 0, *_, **__) -> Performance:
    """A hand-made 1.5 s arrangement (melody, bass, drums) that differs per seed: a stand-in for
    :func:`audiodiff.corpus.arrangements.random_arrangement` that FluidSynth renders in no time."""
    from audiodiff.music.performance import Part, Performance, TimedNote

    shift = seed % 5
    melody = Part("melody", (0, 40, 73)[seed % 3], [TimedNote(60 + shift + 2 * i, 0.3 * i, 0.3 * i + 0.25, 70 + 10 * i)
                                                   for i in range(5)])
    bass = Part("bass", 33, [TimedNote(36 + shift, 0.0, 0.7, 90), TimedNote(43 + shift, 0.75, 1.4, 80)])
    drums = Part("drums", 0, [TimedNote(36, 0.0, 0.1, 100), TimedNote(38, 0.5, 0.6, 90),
                              TimedNote(42, 0.25, 0.3, 60), TimedNote(36, 1.0, 1.1, 100)], is_drum=True)
    return Performance([melody, bass, drums], 1.5)


def build_tiny_part_shards(root: Path, codec_path: str | Path, shards: int = 1, size: int = 2) -> Path:
    """``shards`` per-part shards of ``size`` tiny arrangements each (:func:`tiny_arrangement`)
    under ``root``, encoded by the codec at ``codec_path``: FluidSynth and sketch latents."""
    from audiodiff.codec.model import load_codec
    from audiodiff.corpus import part_data
    from audiodiff.corpus.render import Renderer

    codec, renderer = load_codec(codec_path).eval(), Renderer(small_soundfont())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(part_data, "random_arrangement", tiny_arrangement)
        for index in range(shards):
            part_data.build_shard(root, index, part_data.arrangement_pieces(index, size), renderer, codec)
    return root


@pytest.fixture(scope="session")
def part_shards(tmp_path_factory, tiny_ckpts) -> Path:
    """A folder with one per-part shard (2 tiny arrangements, 6 parts) of the tiny codec's latents."""
    return build_tiny_part_shards(tmp_path_factory.mktemp("part_shards"), tiny_ckpts["codec"])
