"""The README's Python example runs as written (with the shipped models) and writes what it says."""
import re
from pathlib import Path

import pytest
import soundfile as sf

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.shipped
def test_readme_python_example_generates_and_writes(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], str(README), "exec"), {})
    audio, rate = sf.read(tmp_path / "out.wav")
    assert rate == 24000 and abs(len(audio) / rate - 4.0) < 0.05
    assert (tmp_path / "out.mid").stat().st_size > 0
    assert capsys.readouterr().out.startswith("7 D minor")
