"""The argument parser of the command line: its commands, their options and help texts."""
from __future__ import annotations

import argparse
import math
import os
from typing import NoReturn

from audiodiff import __version__
from audiodiff.cli.batch import cmd_batch
from audiodiff.cli.continuation import cmd_extend, cmd_repaint
from audiodiff.cli.control import add_guide_args
from audiodiff.cli.evaluate import cmd_evaluate
from audiodiff.cli.generate_render import cmd_generate, cmd_render
from audiodiff.cli.messages import EXIT_USAGE
from audiodiff.cli.plan import cmd_plan
from audiodiff.cli.serve import cmd_serve

# The models' sampler defaults (acoustic.model.DEFAULT_STEPS / DEFAULT_GUIDANCE, structure.model.DEFAULT_STEPS /
# DEFAULT_GUIDANCE), repeated here so that building the parser imports no torch; tests/test_pipeline.py checks
# they agree.
ACOUSTIC_STEPS, GUIDANCE, PLAN_STEPS, PLAN_GUIDANCE = 8, 1.0, 32, 2.0
MAX_STEPS = 1000
BACKENDS = ("onnx", "torch")  # audiodiff.backends.BACKENDS, repeated so that building the parser imports no numpy
MAX_GUIDANCE = 20.0
MAX_THREADS = os.cpu_count() or 1
PROMPT_HELP = ("e.g. 'D minor, 96 bpm, 3/4, violin' (key, tempo, meter, instrument, seconds, seed; at most "
               "1000 characters). A bare number right after the key is the tempo ('Gm 96' = G minor, 96 bpm); "
               "write 'program N' for a GM program number")
THREADS_HELP = (f"CPU threads, 1..{MAX_THREADS} (default: all cores; 1 is fastest when other jobs keep "
                "the cores busy). The same seed gives the same bytes with the same --backend and --threads on "
                "the same machine; another thread count may change the last bit of some samples")
BACKEND_HELP = ("where the networks run: onnx (ONNX Runtime, no torch needed) or torch (default: onnx when "
                "onnxruntime is installed, the device is the CPU and every checkpoint has a fitting ONNX graph, "
                "else torch). Both make the same music for a seed, equal up to float rounding")

STEMS_HELP = ("also write every track alone into DIR (new or empty): NN-<track>-<instrument>.wav and .mid per "
              "track with notes, mix.wav (their sum) and stems.json (each stem's notes in seconds, program, "
              "gain); a track without notes gets no file")


def _whole(low: int, high: int):
    """An argparse type: a whole number in low..high."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"want a whole number in {low}..{high}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"want a whole number in {low}..{high}, got {value}")
        return value
    return parse


_positive = _whole(1, 10**9)
_steps = _whole(1, MAX_STEPS)


def _guidance(text: str) -> float:
    """A classifier-free guidance scale: a finite number in 0..MAX_GUIDANCE (1 = off)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_GUIDANCE:  # also refuses nan
        raise argparse.ArgumentTypeError(f"want a number in 0..{MAX_GUIDANCE:g} (1 = no guidance), got {text!r}")
    return value


def _sampler_args(parser: argparse.ArgumentParser, acoustic: bool = True, structure: bool = True) -> None:
    """--steps and --guidance of the acoustic sampler; with ``structure`` also --plan-steps, --plan-guidance."""
    if acoustic:
        parser.add_argument("--steps", type=_steps, default=ACOUSTIC_STEPS,
                            help=f"acoustic diffusion steps, 1..{MAX_STEPS} (default {ACOUSTIC_STEPS})")
        parser.add_argument("--guidance", type=_guidance, default=GUIDANCE,
                            help=f"acoustic classifier-free guidance scale, 0..{MAX_GUIDANCE:g}, 1 = off "
                            f"(default {GUIDANCE:g})")
    if structure:
        names = ["--plan-steps"] if acoustic else ["--plan-steps", "--steps"]  # plan: --steps is the old name
        parser.add_argument(*names, dest="plan_steps", type=_steps, default=PLAN_STEPS,
                            help=f"structure diffusion steps, 1..{MAX_STEPS} (default {PLAN_STEPS})")
        parser.add_argument("--plan-guidance", type=_guidance, default=PLAN_GUIDANCE,
                            help=f"structure classifier-free guidance scale, 0..{MAX_GUIDANCE:g}, 1 = off "
                            f"(default {PLAN_GUIDANCE:g})")
        parser.add_argument("--no-drums", action="store_true", help="leave out the drum track")


def _model_args(parser: argparse.ArgumentParser, structure: bool = True) -> None:
    if structure:
        parser.add_argument("--structure", help="structure checkpoint (default: the one shipped with the package)")
    parser.add_argument("--acoustic", help="acoustic checkpoint (default: the one shipped with the package)")
    parser.add_argument("--codec", help="codec checkpoint (default: the one shipped with the package)")
    parser.add_argument("--threads", type=_whole(1, MAX_THREADS), help=THREADS_HELP)
    parser.add_argument("--backend", choices=BACKENDS, help=BACKEND_HELP)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line ``error: ...`` (exit code 2) like every other error; subcommand
    parsers inherit it."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"error: {self.prog}: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; the parsed arguments' ``run`` is the command to call."""
    parser = _Parser(prog="audiodiff", description="Hierarchical music generation from a "
                                     "prompt like 'D minor, 96 bpm, 3/4, violin'.")
    parser.add_argument("--version", action="version", version=f"audiodiff {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = sub.add_parser("plan", help="write a plan (melody, chords, bass, comping, drums) as MIDI",
                          description="Write the structure model's plan for a prompt as a MIDI file, "
                          "without rendering audio.")
    plan.add_argument("prompt", help=PROMPT_HELP)
    plan.add_argument("-o", "--output", required=True, help="MIDI file to write (.mid)")
    plan.add_argument("--bars", type=_positive, help="length in bars (default: from the prompt's seconds, at least "
                      "4; with --from: the source's bars + --extend)")
    plan.add_argument("--seed", type=int, help="random seed (default: the prompt's, else random and printed)")
    _sampler_args(plan, acoustic=False)
    plan.add_argument("--from", dest="source", metavar="FILE.mid", help="start from an existing plan/MIDI file (one "
                      "tempo and meter). The prompt's key (same mode: the source is transposed) and tempo apply "
                      "to it, and its instrument to the melody; a prompt meter, mode or length that contradicts "
                      "the source is refused")
    plan.add_argument("--keep-bars", help="with --from: bars to keep, e.g. 1-4,9 (others are regenerated)")
    plan.add_argument("--keep", metavar="STREAMS", help="with --from: streams to keep in those bars (all bars "
                      "without --keep-bars), comma-separated from melody, chords, bass, comping, drums "
                      "(default melody,chords; bass, comping and drums are otherwise re-arranged from the chords)")
    plan.add_argument("--extend", type=_positive, help="with --from: add this many new bars at the end")
    add_guide_args(plan)
    plan.add_argument("--structure", help="structure checkpoint (default: the one shipped with the package)")
    plan.add_argument("--force", action="store_true", help="overwrite the output file")
    plan.set_defaults(run=cmd_plan)

    gen = sub.add_parser("generate", help="prompt -> WAV (plan, then audio)",
                         description="Generate audio for a prompt: the structure model writes a plan, the "
                         "acoustic model renders it. Writes the WAV and a sidecar <name>.json (prompt "
                         "fields, seed, plan) next to it; prints the path, key, tempo, meter, length and seed.")
    gen.add_argument("prompt", help=PROMPT_HELP)
    gen.add_argument("-o", "--output", required=True, help="WAV file to write (.wav, 24 kHz, 16 bit)")
    gen.add_argument("--seconds", type=float, help="length in seconds, 1..600 (default: the prompt's, else 10)")
    gen.add_argument("--seed", type=int, help="random seed (default: the prompt's, else random and printed)")
    _sampler_args(gen)
    add_guide_args(gen)
    gen.add_argument("--plan-out", metavar="FILE.mid", help="also write the plan that was rendered as MIDI")
    gen.add_argument("--plot", metavar="FILE.png", help="also write a PNG: the plan over the mel spectrogram")
    gen.add_argument("--stems", metavar="DIR", help=STEMS_HELP)
    _model_args(gen)
    gen.add_argument("--force", action="store_true", help="overwrite existing output files")
    gen.set_defaults(run=cmd_generate)

    ren = sub.add_parser("render", help="MIDI plan -> WAV",
                         description="Render a MIDI file (e.g. from 'audiodiff plan', or your own) with the "
                         "acoustic model. Programs the model was not trained on are mapped to the nearest one "
                         "it knows, and off-grid notes are quantized to 16ths (both with a warning). A file "
                         "with a tempo or meter change, or a tempo outside 40..240 bpm, is refused.")
    ren.add_argument("plan", help="MIDI file to render")
    ren.add_argument("-o", "--output", required=True, help="WAV file to write (.wav, 24 kHz, 16 bit)")
    ren.add_argument("--seconds", type=float, help="cut the audio to this length (default: the whole plan + 1 s)")
    ren.add_argument("--seed", type=int, help="random seed (default: random and printed)")
    _sampler_args(ren, structure=False)
    ren.add_argument("--plot", metavar="FILE.png", help="also write a PNG: the plan over the mel spectrogram")
    ren.add_argument("--stems", metavar="DIR", help=STEMS_HELP + " (at most 100 tracks with notes)")
    _model_args(ren, structure=False)
    ren.add_argument("--force", action="store_true", help="overwrite existing output files")
    ren.set_defaults(run=cmd_render)

    for name, summary in (("extend", "continue a clip audiodiff generate made"),
                          ("repaint", "write and render some bars of a clip audiodiff generate made again")):
        cmd = sub.add_parser(name, help=summary, description=f"{summary[0].upper()}{summary[1:]}, from the plan "
                             "and seed in its sidecar JSON (the same checkpoints and sampler settings). The old "
                             "audio is kept bit for bit outside a 30 ms cross-fade at each seam ("
                             + ("extend also replaces the old clip's last 60-75 ms, its fade-out" if name == "extend"
                                else "into and out of the bars") + f"). Writes "
                             f"<name>-{name}ed.wav and its sidecar unless -o is given.")
        cmd.add_argument("clip", metavar="CLIP.wav", help="a WAV from audiodiff generate, with its .json sidecar")
        if name == "extend":
            cmd.add_argument("--seconds", type=float, required=True, help="seconds of new audio to add")
        else:
            cmd.add_argument("--bars", required=True, help="bars to rewrite, 1-based and inclusive: 5-8 or 5")
        cmd.add_argument("-o", "--output", help=f"WAV file to write (default: <name>-{name}ed.wav)")
        _model_args(cmd)
        cmd.add_argument("--force", action="store_true", help="overwrite existing output files")
        cmd.set_defaults(run=cmd_extend if name == "extend" else cmd_repaint)

    bat = sub.add_parser("batch", help="many prompts -> WAVs + MIDI + annotations + manifest (a dataset)",
                         description="Render every row of a CSV/JSONL file of prompts (columns: prompt, or key, "
                         "bpm, meter, instrument; optional seed, seconds, and chords, form, bars_per_section "
                         "as generate's --chords, --form, --bars-per-section), or a --grid of all 24 keys x "
                         "tempos x meters x instruments x seeds, into DIR: audio/, midi/, annotations/, "
                         "manifest.jsonl, manifest.csv, errors.jsonl. Rows without a seed get one derived from "
                         "their index and content. Bad rows go to errors.jsonl and the rest go on. Exit status 0: "
                         "all rows written; 1: some rows failed (or a runtime failure); 2: usage error. Under "
                         "torchrun each process does its share of the rows (RANK, WORLD_SIZE, LOCAL_RANK).")
    bat.add_argument("source", nargs="?", metavar="PROMPTS", help="prompts.csv or prompts.jsonl")
    bat.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory (new or empty, or a "
                     "batch to --resume); one batch at a time holds it (a lock file with its pid)")
    bat.add_argument("--grid", action="store_true", help="render a grid instead of a file: all 24 keys x --bpm x "
                     "--meters x --instruments x --seeds")
    bat.add_argument("--bpm", help="with --grid: START:STOP:STEP (stop included), e.g. 60:180:20, or 60,90,120 "
                     "(default 100)")
    bat.add_argument("--meters", help="with --grid: e.g. 2/4,3/4,4/4,6/8 (default 4/4)")
    bat.add_argument("--instruments", help="with --grid: e.g. piano,violin,flute (default piano)")
    bat.add_argument("--seeds", type=_positive, help="with --grid: seeds 0..N-1 per combination (default 1)")
    bat.add_argument("--seconds", type=float, help="with --grid: length of each clip (default 10)")
    _sampler_args(bat)
    bat.add_argument("--batch-size", type=_positive, default=1, help="rows per forward pass (default 1; more is "
                     "faster on a GPU; results then agree with batch size 1 up to rounding)")
    bat.add_argument("--workers", type=_positive, default=1, help="processes on this machine, each loading the "
                     "models once, with 1 torch thread unless --threads (default 1)")
    bat.add_argument("--device", help="torch device for the acoustic model and codec (default cpu; under "
                      "torchrun cuda:LOCAL_RANK when CUDA is available)")
    _model_args(bat)
    bat.add_argument("--stems", action="store_true", help="also write every track alone: stems/<id>/ as "
                     "generate --stems writes it (NN-<track>-<instrument>.wav and .mid, mix.wav, stems.json), or "
                     "with --layout slakh one Slakh2100 folder per row")
    bat.add_argument("--layout", choices=("folder", "slakh"), help="with --stems: folder (default) or slakh: "
                     "Track<nnnnn>/ with mix.flac, stems/Snn.flac, MIDI/Snn.mid, all_src.mid and metadata.yaml "
                     "(Slakh2100's fields plus prompt, seed, key, tempo, meter, chords)")
    bat.add_argument("--normalize", action="store_true", help="with --stems: as Slakh2100, each stem to -24 LUFS "
                     "and the mix's peak capped at -1 dBFS; every stem's gain is recorded and the mix stays their sum")
    bat.add_argument("--resume", action="store_true", help="finish a batch in DIR: skip finished rows, redo "
                     "partial and failed ones")
    bat.add_argument("--no-progress", action="store_true", help="no progress bar")
    bat.set_defaults(run=cmd_batch)

    ev = sub.add_parser("evaluate", help="score WAVs against their prompts (key, tempo, plan)",
                        description="Estimate key and tempo of each clip and compare with its labels (key exact, "
                        "exact or relative, tempo within 4 %%, tempo bin, bin +-1); where a plan is known, "
                        "also onset F1 (50 ms) and chroma agreement with it. SOURCE is a directory of WAVs with "
                        "the sidecar JSONs 'generate' writes, or a JSONL/CSV manifest with columns audio, key, "
                        "bpm (optional mode, meter, plan; paths relative to the manifest).")
    ev.add_argument("source", metavar="DIR_OR_MANIFEST", help="directory of WAVs + sidecars, or .jsonl / .csv")
    ev.add_argument("--stems", action="store_true", help="score stems instead: SOURCE is a folder from --stems, a "
                    "Slakh-style track or a directory of them; each stem's note F1 (basic-pitch, the eval extra) "
                    "against its own MIDI, and its level in its rests, per stem and per instrument family")
    ev.add_argument("--json", metavar="FILE.json", help="also write every clip's scores and the summary as JSON")
    ev.add_argument("--force", action="store_true", help="overwrite the JSON file")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar (shown on stderr for long sets)")
    ev.set_defaults(run=cmd_evaluate)

    srv = sub.add_parser("serve", help="a local web page: type, listen, see the plan, edit bars, download",
                         description="Load the models once and serve a page in the browser: prompt with pickers, "
                         "chords, melody upload, form, MIDI to render; audio, the plan as a piano roll over the "
                         "spectrogram, repaint, extend, new takes keeping tracks, downloads, history. Works "
                         "offline. Generations run one at a time in a queue. Needs pip install 'audiodiff[serve]'.")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                     "only; another address lets others on the network use it, with a warning)")
    srv.add_argument("--port", type=_whole(0, 65535), default=8000, help="port (default 8000; 0: a free one)")
    srv.add_argument("--out", default="audiodiff-out", metavar="DIR", help="folder for everything the server "
                     "writes: <id>.wav, .json, .mid, .png per clip (default ./audiodiff-out; made if missing)")
    srv.add_argument("--queue", type=_whole(1, 64), default=8, help="generations that may wait at once; more are "
                     "refused as busy (default 8)")
    srv.add_argument("--open", action="store_true", help="open the page in the default browser")
    _model_args(srv)
    srv.set_defaults(run=cmd_serve)
    return parser
