"""What the page shows of a clip: a line for the history, and the plan laid out for the piano roll."""
from __future__ import annotations

from audiodiff.serve.storage import Store

KINDS = ("generate", "render", "repaint", "extend", "regenerate")


def summary(store: Store, clip: str) -> dict:
    """The history line of a clip: what made it (kind, prompt or source, parent clip), key, tempo, meter,
    length, seed, and the files to download."""
    data = store.sidecar(clip)
    kind = next((k for k in KINDS[2:] if k in data), "render" if "source" in data else "generate")
    parent = data[kind].get("from", "").removesuffix(".wav") if kind in KINDS[2:] else None
    detail = {"repaint": lambda e: f"bars {e['bars']}", "extend": lambda e: f"+{e['seconds']:g} s",
              "regenerate": lambda e: f"keeping {e['keep']}"}
    files = [f for f in ("wav", "midi", "json", "melody", "source") if store.path(clip, f).is_file()]
    files += store.stems(clip)
    return {"id": clip, "kind": kind, "parent": parent, "edit": detail[kind](data[kind]) if parent else None,
            "prompt": data.get("prompt"), "key": data["key"], "bpm": data["bpm"], "meter": data["meter"],
            "instrument": data.get("instrument"), "seconds": data["seconds"], "seed": data["seed"],
            "chords": data.get("chords"), "form": data.get("form"), "files": files,
            "editable": "prompt" in data}


def details(store: Store, clip: str) -> dict:
    """:func:`summary` and the plan as the piano roll draws it: tracks with notes
    ``[pitch, start step, duration in steps, velocity]``, seconds per step, steps per beat and bar, bars."""
    from audiodiff.music.instruments import program_name
    from audiodiff.music.plan import Plan

    data = store.sidecar(clip)
    plan = Plan.from_dict(data["plan_data"])
    tracks = [{"name": t.name, "is_drum": t.is_drum, "instrument": "drums" if t.is_drum else program_name(t.program),
               "notes": [[n.pitch, n.start, n.duration, n.velocity] for n in t.notes]} for t in plan.tracks]
    bar_seconds = plan.meter.steps_per_bar * plan.seconds_per_step
    heard = min(plan.num_bars, int(-(-data["seconds"] // bar_seconds)))
    return {**summary(store, clip), "roll": {
        "seconds_per_step": plan.seconds_per_step, "steps_per_beat": plan.meter.steps_per_beat,
        "steps_per_bar": plan.meter.steps_per_bar, "bars": heard, "num_steps": plan.num_steps,
        "chords": [c.symbol if c else None for c in plan.chords], "tracks": tracks}}
