"""A held-out tune and a generated plan of the same key and meter, as piano rolls side by side.

    python benchmarks/piano_rolls.py --data runs/data/cpu --meter 6/8 -o docs/structure_piano_rolls.png

The tune is the first test-split tune of that meter with at least ``--bars`` bars (``--index``
picks a later one), cut to its first bars and read as the model's tokens carry it; the plan is the
structure model's for the tune's key and meter (the sampler's defaults unless given). Each panel
draws the melody's notes (pitch against 16th steps), bar lines and the chord of each bar's first
beat.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from audiodiff.eval.plan_stats import interval_rates, model_view
from audiodiff.io.checkpoint import default_checkpoint
from audiodiff.io.manifest import read_jsonl
from audiodiff.music.plan import Plan
from audiodiff.music.prompt import Prompt
from audiodiff.structure.compose import compose
from audiodiff.structure.model import (
    DEFAULT_GUIDANCE,
    DEFAULT_ORDER_NOISE,
    DEFAULT_STEPS,
    DEFAULT_TEMPERATURE,
    StructureModel,
)


def draw(ax, plan: Plan, title: str, low: int, high: int) -> None:
    """One piano roll on a matplotlib axis: notes, bar lines, chord names."""
    from matplotlib.patches import Rectangle

    bar = plan.meter.steps_per_bar
    for n in plan.melody.notes:
        ax.add_patch(Rectangle((n.start, n.pitch - 0.4), n.duration - 0.15, 0.8, color="tab:blue"))
    for b in range(plan.num_bars + 1):
        ax.axvline(b * bar, color="0.75" if b % 4 else "0.4", lw=0.6)
    for b in range(plan.num_bars):
        chord = plan.chords[b * plan.meter.beats_per_bar] if b * plan.meter.beats_per_bar < len(plan.chords) else None
        if chord is not None:
            ax.text(b * bar + 0.5, high + 0.6, chord.symbol, fontsize=6, va="bottom")
    rates = interval_rates([plan])
    ax.set_title(f"{title}\n{len(plan.melody.notes)} notes; repeated {rates['repeated']:.0%}, "
                 f"steps {rates['step']:.0%}, leaps {rates['leap']:.0%}", fontsize=9, loc="left")
    ax.set_xlim(0, plan.num_steps)
    ax.set_ylim(low - 1, high + 2.5)
    ax.set_xlabel(f"16th steps ({plan.meter.name}, bars of {bar})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="corpus with tunes_test.jsonl")
    parser.add_argument("--checkpoint", default=str(default_checkpoint("structure")))
    parser.add_argument("--meter", default="6/8")
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--index", type=int, default=0, help="which tune of that meter (0 = the first)")
    parser.add_argument("--seed", type=int, default=500)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--order-noise", type=float, default=DEFAULT_ORDER_NOISE)
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    parser.add_argument("-o", "--out", type=Path, default=Path("docs/structure_piano_rolls.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    tunes = [p for p in (Plan.from_dict(r["plan"]) for r in read_jsonl(args.data / "tunes_test.jsonl"))
             if p.meter.name == args.meter and p.num_bars >= args.bars]
    if len(tunes) <= args.index:
        print(f"error: {len(tunes)} test tunes in {args.meter} with {args.bars} bars", file=sys.stderr)
        return 2
    tune = model_view(tunes[args.index], args.bars)
    model = StructureModel.load(args.checkpoint)
    prompt = Prompt(key=tune.key, bpm=100.0, meter=tune.meter, seed=args.seed)
    plan = model_view(compose(model, [prompt], bars=args.bars, steps=args.steps, guidance=args.guidance,
                              order_noise=args.order_noise, temperature=args.temperature)[0])

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pitches = [n.pitch for p in (tune, plan) for n in p.melody.notes]
    fig = Figure(figsize=(14.0, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    draw(axes[0], tune, f"held-out tune ({tune.key.name}), first {args.bars} bars", min(pitches), max(pitches))
    draw(axes[1], plan, f"generated plan ({plan.key.name}, seed {args.seed}; {args.steps} steps, guidance "
         f"{args.guidance:g}, order noise {args.order_noise:g}, temperature {args.temperature:g})",
         min(pitches), max(pitches))
    axes[0].set_ylabel("MIDI pitch")
    axes[0].yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, format="png")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
