"""The training recipes run as scripts: config resolution, training, export, one-line errors."""
import subprocess
import sys
from pathlib import Path

from audiodiff.structure.model import StructureModel

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_structure_recipe_trains_and_exports(tiny_corpus, tmp_path):
    out = tmp_path / "run"
    done = run("recipes/train_structure.py", "--config", "tiny", "--data", str(tiny_corpus), "--out", str(out),
               "--max-steps", "3", "--batch-size", "2", "--threads", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "config.json").is_file() and (out / "log.jsonl").is_file()
    assert StructureModel.load(out / "structure.safetensors").metadata["steps"] == 3


def test_unknown_recipe_config_is_one_line_error(tiny_corpus, tmp_path):
    done = run("recipes/train_codec.py", "--config", "nope", "--data", str(tiny_corpus), "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: no config 'nope'; choose one of cpu, cpu_decoder, cpu_fast, cpu_vocos, cpu_vocos_parts, gpu, tiny "
        "or give a JSON file"]


def test_decoder_only_codec_config_without_init_from_is_one_line_error(tiny_corpus, tmp_path):
    done = run("recipes/train_codec.py", "--config", "cpu_decoder", "--data", str(tiny_corpus),
               "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: decoder_only fine-tunes a trained codec: give it --init-from"]
