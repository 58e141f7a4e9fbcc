"""Shared fixtures: tiny data built by the tests themselves (no network, no GPU)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audiodiff.data.config import DataConfig

# Tests use tiny models: one thread is faster than two fighting over a busy 2-core machine.
torch.set_num_threads(1)


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
    from audiodiff.data.prepare import prepare

    out = tmp_path_factory.mktemp("corpus")
    prepare(out, tiny_data_config(), workers=1)
    return out
