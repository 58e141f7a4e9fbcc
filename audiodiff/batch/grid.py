"""Batch rows from a grid: all 24 keys x tempos x meters x instruments x seeds."""
from __future__ import annotations

import math

from audiodiff.batch import BatchError
from audiodiff.batch.rows import Row, make_row
from audiodiff.music.prompt import BPM_RANGE
from audiodiff.music.theory import ALL_KEYS


def parse_bpm_range(text: str) -> list[float]:
    """'60:180:20' -> 60, 80, ..., 180 (stop included); '96' -> [96]; '60,90,120' -> a list."""
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop, step = parts if len(parts) == 3 else (*parts, 10.0)
            if not step > 0 or stop < start:
                raise ValueError
            values = [start + i * step for i in range(int(math.floor((stop - start) / step + 1e-9)) + 1)]
        else:
            values = [float(p) for p in text.split(",")]
    except ValueError:
        raise BatchError(f"--bpm wants START:STOP:STEP (stop included, step > 0), e.g. 60:180:20, or a list "
                         f"like 60,90,120, got {text!r}") from None
    bad = [v for v in values if not BPM_RANGE[0] <= v <= BPM_RANGE[1]]
    if bad:
        raise BatchError(f"--bpm {text}: {bad[0]:g} bpm is out of range; allowed {BPM_RANGE[0]}..{BPM_RANGE[1]}")
    return [round(v, 6) for v in values]


def grid_rows(bpm: str, meters: str, instruments: str, seeds: int, seconds: float) -> list[Row]:
    """All 24 keys x bpms x meters x instruments x seeds 0..seeds-1 (in that nesting order)."""
    bpms = parse_bpm_range(bpm)
    meter_list = [m.strip() for m in meters.split(",") if m.strip()]
    instrument_list = [i.strip() for i in instruments.split(",") if i.strip()]
    if not meter_list or not instrument_list:
        raise BatchError("--meters and --instruments want comma-separated lists, e.g. 3/4,4/4 and piano,violin")
    rows: list[Row] = []
    for key in ALL_KEYS:
        for b in bpms:
            for meter in meter_list:
                for instrument in instrument_list:
                    for seed in range(seeds):
                        data = {"key": key.name, "bpm": b, "meter": meter, "instrument": instrument,
                                "seed": seed, "seconds": seconds}
                        row = make_row(len(rows), "grid", data)
                        if row.error:
                            raise BatchError(f"--grid: {row.error}")
                        rows.append(row)
    return rows
