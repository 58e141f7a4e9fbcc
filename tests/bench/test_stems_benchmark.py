"""benchmarks/stems.py on tiny models: its per-family table, the FluidSynth beside it, and the cost table."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def load():
    spec = importlib.util.spec_from_file_location("stems_benchmark", ROOT / "benchmarks" / "stems.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["stems_benchmark"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def models(ckpts: dict, *names: str) -> list[str]:
    return [a for name in names for a in (f"--{name}", ckpts[name])]


def test_family_table_ratio_and_verdict():
    bench = load()
    rows = [bench.StemRow(0, "lead", "strings", 8, 0.9, 1.0, -80.0, -75.0),
            bench.StemRow(1, "lead", "strings", 8, 0.8, 0.8, -math.inf, None),
            bench.StemRow(0, "bass", "bass", 4, 0.5, 1.0, -60.0, -90.0),
            bench.StemRow(0, "drums", "drums", 9, None, None, -70.0, -65.0),
            bench.StemRow(0, "fx", "sound effects", 3, 0.4, 0.0, -50.0, -50.0)]
    table, ok = bench.family_table(rows)
    assert not ok
    assert "| strings | 2 | 0.850 | 0.900 | 0.94 | -80.0 / -75.0 | yes |" in table
    assert "| bass | 1 | 0.500 | 1.000 | 0.50 | -60.0 / -90.0 | NO |" in table
    assert "| drums | 1 | - | - | - | -70.0 / -65.0 | n/a |" in table
    # FluidSynth's track transcribed to nothing: there is no ratio to meet
    assert "| sound effects | 1 | 0.400 | 0.000 | - | -50.0 / -50.0 | n/a |" in table
    assert bench.family_table(rows[:2] + rows[3:])[1]  # without the bass every family passes


def test_per_family_run_on_tiny_models(tiny_ckpts, capsys):
    pytest.importorskip("fluidsynth")
    from audiodiff.corpus.render import find_soundfont

    try:
        find_soundfont()
    except FileNotFoundError:
        pytest.skip("no GM soundfont")
    bench = load()
    heard = []

    def transcribe(audio, sr):  # a stand-in for basic-pitch: one note at 0 s
        heard.append(len(audio))
        return np.array([[0.0, 0.5, 60.0]])

    assert bench.main([*models(tiny_ckpts, "acoustic", "codec"), "--n", "1", "--seconds", "2", "--steps", "1",
                       "--threads", "1"], transcribe=transcribe) == 0
    out = capsys.readouterr().out
    assert out.startswith("held-out arrangements: 1 pieces x 2 s")
    assert "| family | stems |" in out and "every family >= 0.9 x FluidSynth" in out
    assert heard and len(heard) % 2 == 0 and set(heard) == {48000}  # each stem and FluidSynth's track, 2 s each


def test_cost_run_on_tiny_models(tiny_ckpts, capsys):
    bench = load()
    assert bench.main([*models(tiny_ckpts, "structure", "acoustic", "codec"), "--cost", "--cost-seconds", "2",
                       "--steps", "1", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| clip | tracks | generate (s) | generate --stems (s) |")
    assert lines[2].startswith("| 2 s | ")
