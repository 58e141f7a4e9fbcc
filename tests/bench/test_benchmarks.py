"""benchmarks/generate.py runs end to end on tiny models: its prompt grid, tables and counts."""
import importlib.util
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import tiny_data_config

from audiodiff.corpus.prepare import prepare
from audiodiff.eval.clips import read_clips
from audiodiff.io.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))  # the scripts import their sibling modules


def load_generate_benchmark():
    spec = importlib.util.spec_from_file_location("generate_benchmark", ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_generate(ckpts: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    models = [a for name in ("structure", "acoustic", "codec") for a in (f"--{name}", ckpts[name])]
    command = [sys.executable, "benchmarks/generate.py", *models, "--threads", "1", "--steps", "2", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_prompt_grid_is_24_keys_by_10_tempos_with_every_meter():
    prompts = load_generate_benchmark().adherence_prompts(240, 10.0)
    assert len({(p.key, p.bpm) for p in prompts}) == 240
    assert sorted(p.seed for p in prompts) == list(range(240))
    assert min(p.bpm for p in prompts) == 60 and max(p.bpm for p in prompts) == 180
    by_key = Counter((p.key, p.meter.name) for p in prompts)
    by_tempo = Counter((p.bpm, p.meter.name) for p in prompts)
    assert len(by_key) == 24 * 4 and len(by_tempo) == 10 * 4


@pytest.fixture(scope="module")
def both_modes_corpus(tmp_path_factory) -> Path:
    """A tiny corpus whose test split has major and minor windows (for the matched ground truth)."""
    out = tmp_path_factory.mktemp("both_modes")
    prepare(out, tiny_data_config(max_tunes=10), workers=1)
    assert {row["mode"] for row in read_manifest(out, "test")} == {"major", "minor"}
    return out


def test_generate_benchmark_prints_speed_and_adherence(tiny_ckpts, both_modes_corpus, tmp_path):
    n = 5
    done = run_generate(tiny_ckpts, "--data", str(both_modes_corpus), "--n-prompts", str(n), "--seconds", "4",
                        "--batch-size", "2", "--repeats", "1", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for length in ("10", "60"):
        cells = re.search(rf"^\| {length} s \| ([\d.]+) \| ([\d.]+) \| [\d., ]+ \| ([\d.]+) \|$", out, re.MULTILINE)
        assert cells and float(cells[2]) > 0 and float(cells[3]) > 0.05  # seconds; GB (torch alone is more)
    assert len(re.findall(r"^\| (10 s clip|60 s / 10 s|peak RSS).* \| (pass|FAIL) \|$", out, re.MULTILINE)) == 3

    windows = len(read_manifest(both_modes_corpus, "test"))
    assert f"ground truth: the {windows} test windows" in out
    seeds = re.search(r"^seeds: (.*)$", out, re.MULTILINE)[1].split(", ")
    assert len(set(seeds)) == n
    for label in ("key exact", "key exact or relative", "tempo within 4 %", "tempo bin"):
        row = re.search(rf"^\| {label} \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", out, re.MULTILINE)
        generated, truth, matched = float(row[1]), float(row[2]), float(row[3])
        assert 0 <= generated <= 1 and 0 <= truth <= 1 and 0 <= matched <= 1
        assert abs(generated * n - round(generated * n)) < 0.01  # a count of the n clips
        assert abs(matched * n - round(matched * n)) < 0.01  # one matched render per prompt
        assert abs(truth * windows - round(truth * windows)) < 0.01
    per_tempo = re.findall(r"^\| ([\d.]+) \| (\d+) \| [\d.]+ / [\d.]+ \| [\d.]+ / [\d.]+ \|$", out, re.MULTILINE)
    assert sum(int(count) for _, count in per_tempo) == n
    assert len(read_clips(tmp_path)[0]) == n  # the clips `audiodiff evaluate` would score


def test_generate_benchmark_without_data_says_so(tiny_ckpts):
    done = run_generate(tiny_ckpts, "--adherence-only", "--n-prompts", "1", "--seconds", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the columns need --data" in done.stdout and "speed:" not in done.stdout
    tempo_bin = r"^\| tempo bin \| [\d.]+ \| >= 0.95 x matched ground truth \| needs --data \|$"
    assert re.search(tempo_bin, done.stdout, re.MULTILINE)


def test_generate_benchmark_stops_early_when_the_corpus_lacks_a_mode(tiny_ckpts, tiny_corpus):
    assert {row["mode"] for row in read_manifest(tiny_corpus, "test")} == {"major"}
    done = run_generate(tiny_ckpts, "--adherence-only", "--n-prompts", "240", "--seconds", "2",
                        "--data", str(tiny_corpus))
    assert done.returncode == 2 and "generate:" not in done.stderr  # before any clip was generated
    assert done.stderr.strip().splitlines()[-1].startswith("error: ") and "minor" in done.stderr
