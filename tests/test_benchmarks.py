"""benchmarks/generate.py runs end to end on tiny models: its prompt grid, tables and counts."""
import importlib.util
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from audiodiff.evaluate_clips import read_clips, read_split

ROOT = Path(__file__).resolve().parents[1]


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


def test_generate_benchmark_prints_speed_and_adherence(tiny_ckpts, tiny_corpus, tmp_path):
    n = 5
    done = run_generate(tiny_ckpts, "--data", str(tiny_corpus), "--n-prompts", str(n), "--seconds", "4",
                        "--batch-size", "2", "--repeats", "1", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for length in ("10", "60"):
        cells = re.search(rf"^\| {length} s \| ([\d.]+) \| ([\d.]+) \| [\d., ]+ \| ([\d.]+) \|$", out, re.MULTILINE)
        assert cells and float(cells[2]) > 0 and float(cells[3]) > 0.05  # seconds; GB (torch alone is more)
    assert len(re.findall(r"^\| (10 s clip|60 s / 10 s|peak RSS).* \| (pass|FAIL) \|$", out, re.MULTILINE)) == 3

    windows = len(read_split(tiny_corpus, "test"))
    assert f"ground truth: {windows} test windows" in out
    seeds = re.search(r"^seeds: (.*)$", out, re.MULTILINE)[1].split(", ")
    assert len(set(seeds)) == n
    for label in ("key exact", "key exact or relative", "tempo within 4 %", "tempo bin"):
        row = re.search(rf"^\| {label} \| ([\d.]+) \| ([\d.]+) \|", out, re.MULTILINE)
        generated, truth = float(row[1]), float(row[2])
        assert 0 <= generated <= 1 and 0 <= truth <= 1
        assert abs(generated * n - round(generated * n)) < 0.01  # a count of the n clips
        assert abs(truth * windows - round(truth * windows)) < 0.01
    assert len(read_clips(tmp_path)[0]) == n  # the clips `audiodiff evaluate` would score


def test_generate_benchmark_without_data_says_so(tiny_ckpts):
    done = run_generate(tiny_ckpts, "--adherence-only", "--n-prompts", "1", "--seconds", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the column needs --data" in done.stdout and "speed:" not in done.stdout
    tempo_bin = r"^\| tempo bin \| [\d.]+ \| >= 0.95 x ground truth \| needs --data \|$"
    assert re.search(tempo_bin, done.stdout, re.MULTILINE)
