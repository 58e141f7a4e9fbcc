"""Named JSON configs: shipped inside the package, ``extends`` resolved, code defaults equal to cpu."""
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from audiodiff.acoustic.task import AcousticTrainingConfig
from audiodiff.codec.task import CodecTrainingConfig
from audiodiff.corpus.config import DataConfig
from audiodiff.io.config import config_names, load_config, merge
from audiodiff.structure.task import StructureTrainingConfig

ROOT = Path(__file__).resolve().parents[2]
TRAINING = {"structure": StructureTrainingConfig, "acoustic": AcousticTrainingConfig, "codec": CodecTrainingConfig}


@pytest.mark.parametrize("kind", sorted(TRAINING))
def test_code_defaults_are_the_cpu_config(kind):
    cls = TRAINING[kind]
    assert cls.from_dict(load_config(kind, "cpu")).to_dict() == cls().to_dict() == cls.from_dict({}).to_dict()


def test_data_defaults_are_the_cpu_config():
    assert DataConfig.load("cpu").to_dict() == DataConfig().to_dict()


def test_extends_merges_dicts_key_by_key_and_replaces_the_rest(tmp_path):
    assert merge({"a": {"x": 1, "y": 2}, "b": [1]}, {"a": {"y": 3}, "b": [2]}) == {"a": {"x": 1, "y": 3}, "b": [2]}
    (tmp_path / "base.json").write_text(json.dumps({"extends": "cpu", "train": {"lr": 0.5}}))
    (tmp_path / "child.json").write_text(json.dumps({"extends": "base.json", "max_bars": 4}))
    child = load_config("structure", tmp_path / "child.json")
    cpu = load_config("structure", "cpu")
    assert child == {**cpu, "max_bars": 4, "train": {**cpu["train"], "lr": 0.5}}
    decoder = load_config("codec", "cpu_decoder")
    assert decoder == {**load_config("codec", "cpu"), "decoder_only": True}


def test_bad_configs_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="no config 'nope'; choose one of cpu, gpu, tiny or give a JSON file"):
        load_config("structure", "nope")
    (tmp_path / "loop.json").write_text(json.dumps({"extends": "loop.json"}))
    with pytest.raises(ValueError, match="extends itself"):
        load_config("codec", tmp_path / "loop.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must be a JSON object"):
        load_config("codec", tmp_path / "list.json")


def test_the_configs_ship_inside_the_wheel(tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info next to pyproject.toml
    shutil.copytree(ROOT / "audiodiff", source / "audiodiff", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # with build isolation: pip fetches the build backend pyproject.toml asks for (setuptools>=77)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(source), "-w", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    names = zipfile.ZipFile(next(tmp_path.glob("audiodiff-*.whl"))).namelist()
    for kind in ("data", "structure", "acoustic", "codec"):
        assert config_names(kind)
        assert all(f"audiodiff/configs/{kind}/{name}.json" in names for name in config_names(kind))
