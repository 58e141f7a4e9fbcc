"""The data recipe's configuration: which tunes, how many hours, how they are arranged and cut."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audiodiff.corpus.sources import ABC_SOURCES
from audiodiff.io.config import check_keys, load_config, to_json_dict

# GM programs (0-based) the corpus draws from. Melody: piano, vibraphone, accordion, nylon guitar,
# violin, trumpet, alto sax, oboe, clarinet, flute.
MELODY_PROGRAMS = (0, 11, 21, 24, 40, 56, 65, 68, 71, 73)
BASS_PROGRAMS = (32, 33, 34)  # acoustic bass, fingered and picked electric bass
COMP_PROGRAMS = (0, 4, 16, 24, 25, 48)  # piano, e-piano, drawbar organ, guitars, strings
ENSEMBLE_PROGRAMS = (0, 19, 48, 52)  # chorales: piano, church organ, strings, choir


@dataclass
class DataConfig:
    """Settings of one corpus build; ``target_hours`` None means every tune x ``transpositions``."""

    name: str = "cpu"
    seed: int = 0
    abc_sources: tuple[str, ...] = ABC_SOURCES
    chorales: bool = True
    max_tunes: int | None = None  # draw this many tunes at random before parsing (None: all)
    target_hours: float | None = 11.0
    transpositions: int = 1
    window_seconds: float = 8.0
    max_windows_per_item: int = 4
    sample_rate: int = 24000
    bpm_range: tuple[int, int] = (60, 180)
    drums_probability: float = 0.6
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    loudness_rms_db: float = -20.0
    melody_programs: tuple[int, ...] = MELODY_PROGRAMS
    bass_programs: tuple[int, ...] = BASS_PROGRAMS
    comp_programs: tuple[int, ...] = COMP_PROGRAMS
    ensemble_programs: tuple[int, ...] = ENSEMBLE_PROGRAMS
    index_chunk_size: int = 200
    arrangements: int = 0  # random arrangement items (corpus.arrangements), split by the fractions

    @classmethod
    def load(cls, path_or_name: str) -> "DataConfig":
        """A config by name (``audiodiff/configs/data/<name>.json``) or by path to a JSON file."""
        raw = load_config("data", path_or_name)
        check_keys(cls, raw, f"{path_or_name}: data config")
        config = cls(**raw)
        for name in ("abc_sources", "bpm_range", "melody_programs", "bass_programs",
                     "comp_programs", "ensemble_programs"):
            setattr(config, name, tuple(getattr(config, name)))
        return config

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return to_json_dict(self)
