"""Codec benchmark: our codec at 1.5 / 3 / 6 kbps (and unquantized) against Opus, plus speed.

    python benchmarks/codec.py --data runs/data/cpu --split test --n 200 --heldout 200 [--checkpoint PATH]
        [--threads 2] [--only quality|speed] [--no-listen]
    python benchmarks/codec.py --quick [--data runs/data/cpu]       # 16 clips a set, quality only

Two held-out sets, each scored on its own:

- **corpus**: ``--n`` windows of the corpus split (``--data``, ``--split``) drawn at random
  (``--seed``), coded whole; reference notes from each window's plan or performance;
- **arrangements**: ``--heldout`` arrangements from the held-out seed space
  (:func:`audiodiff.corpus.arrangements.heldout_arrangement`, seeds 0..n-1: programs, voicings
  and timing unlike the corpus, never used for training or for choices), their first
  ``--clip-seconds`` rendered by FluidSynth at the corpus loudness (-20 dBFS RMS).

``--dev`` codes the dev sets instead (the corpus's val split and
:func:`audiodiff.corpus.arrangements.dev_arrangement`): the sets models are chosen on, so that the
held-out sets stay unseen by every choice.

Our codec runs encode -> (RVQ at each bandwidth | continuous latents) -> decode. Opus runs through
ffmpeg's libopus (:func:`audiodiff.eval.opus.opus_round_trip`: 20 ms frames, VBR, ffmpeg's
defaults). Each codec setting's constant whole-sample delay is found by cross-correlation
averaged over the clips (:func:`audiodiff.eval.codec_metrics.estimate_delay`; Opus at <= 6 kbps
lags 2-3 samples, ours should not lag) and removed, and every decoded clip is trimmed or padded
to its reference's length (:func:`audiodiff.eval.codec_metrics.align`) before scoring:

- mel distance: multi-resolution log10 mel distance (512/1024/2048-point STFTs, 80 bands), lower is better;
- SI-SDR in dB, higher is better (NaN for silent clips, which are left out of its mean);
- note F1: basic-pitch's transcription of the decoded clip against the reference notes (drums
  left out), ``mir_eval.transcription`` onsets only within 50 ms (:mod:`audiodiff.eval.transcription`),
  mean over clips; also for the originals themselves, the transcriber's ceiling on the set;
- FD: Fréchet distance on basic-pitch's onset-branch features (:mod:`audiodiff.eval.frechet`)
  between the decoded clips and their originals; the floor is the distance between the originals
  and as many other originals (the next windows of the split / the next held-out seeds), what a
  perfect codec would score against a fresh draw. Distances depend on the set size: compare rows
  of one run. Note F1 and FD need the ``eval`` extra (basic-pitch); ``--no-listen`` leaves them out.

"actual kbps" of Opus is measured, not requested: ``file`` is the .opus size x 8 / duration (Ogg
pages and headers included), ``payload`` the sum of the Opus packets only. libopus has a floor
(about 5-6 kbps at 20 ms frames): requests below it give the same stream and are marked clamped.
Our codec's rate is exact (codebooks x 10 bits x 75 frames/s, no container).

Coding runs as in the pipeline (``Codec.encode`` / ``decode``: at most MAX_CALL_FRAMES frames per
call, so a batch goes item by item and long items in cross-faded chunks); the continuous latents
are also decoded with the whole batch in one call, to show what that changes.

Speed is the codec alone on the CPU with ``--threads`` torch threads, as x real time (seconds of
audio per second of compute), after one warm-up batch, over all clips at ``--batch`` and at 1.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from audiodiff.codec.data import AudioWindow, read_windows
from audiodiff.codec.model import MAX_CALL_FRAMES, Codec, load_codec
from audiodiff.eval.clips import load_plan
from audiodiff.eval.codec_metrics import align, estimate_delay, mel_distance, si_sdr
from audiodiff.eval.frechet import FrameStats, frechet_distance
from audiodiff.eval.opus import opus_round_trip
from audiodiff.eval.transcription import note_f1, performance_notes, plan_notes
from audiodiff.io.checkpoint import CheckpointError, default_checkpoint, read_checkpoint_header
from audiodiff.io.manifest import read_manifest
from audiodiff.music.performance import Performance

BANDWIDTHS = (1.5, 3.0, 6.0)  # kbps, for both codecs
CLAMP_FACTOR = 1.25  # payload above this x the request: libopus did not honour the request
LOUDNESS_DB = -20.0  # RMS dBFS of the held-out renders, as the corpus windows
QUICK_CLIPS = 16  # clips a set with --quick
MIN_F1_SHARE = 0.95  # note F1 target: this share of the originals' score
# settings whose clips are also transcribed and embedded (the others get mel distance and SI-SDR only)
LISTENED = (("ours", "unquantized"), *[("ours", f"{b:g}") for b in BANDWIDTHS], ("opus", "6"))


def command_line() -> str:
    """The command as typed, with the interpreter relative to the working directory when inside it."""
    exe = Path(sys.executable)
    try:
        exe = exe.relative_to(Path.cwd())
    except ValueError:
        pass
    return shlex.join([str(exe), *sys.argv])


def load_audio(window: AudioWindow, sample_rate: int) -> np.ndarray:
    """The whole window as float32 mono ``[N]``."""
    import soundfile as sf

    audio, sr = sf.read(window.audio, dtype="float32", always_2d=True)
    if sr != sample_rate:
        raise ValueError(f"{window.audio}: {sr} Hz, the codec runs at {sample_rate} Hz")
    return audio.mean(axis=1)


def batches_by_length(lengths: list[int], size: int) -> list[list[int]]:
    """Indices grouped into batches of at most ``size`` windows of equal length (no padding needed)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, n in enumerate(lengths):
        groups[n].append(i)
    return [idx[j:j + size] for idx in groups.values() for j in range(0, len(idx), size)]


# ------------------------------------------------------------------------------------------ clip sets

@dataclass
class ClipSet:
    """Originals ``[N_i]`` to code, their reference notes ``[K, 3]``, and other originals for the FD floor."""

    name: str
    description: str
    audio: list[np.ndarray]
    notes: list[np.ndarray]
    floor: list[np.ndarray]


def window_notes(data: Path, row: dict, seconds: float) -> np.ndarray:
    """Reference notes of a corpus window: from its performance (arrangement items) or its plan."""
    if row.get("performance"):
        return performance_notes(Performance.from_dict(json.loads((data / row["performance"]).read_text())), seconds)
    return plan_notes(load_plan(data / row["plan"]), seconds)


def corpus_set(data: Path, split: str, n: int, seed: int, sample_rate: int) -> ClipSet:
    """``n`` random windows of the split to code and up to ``n`` other random windows for the floor."""
    windows, rows = read_windows(data, split), read_manifest(data, split)
    order = np.random.default_rng(seed).permutation(len(windows)).tolist()
    picks, others = sorted(order[:n]), sorted(order[n:2 * n])
    audio = [load_audio(windows[i], sample_rate) for i in tqdm(picks, desc="corpus: read", leave=False)]
    notes = [window_notes(data, rows[i], len(a) / sample_rate) for i, a in zip(picks, audio)]
    floor = [load_audio(windows[i], sample_rate) for i in others]
    minutes = sum(len(a) for a in audio) / sample_rate / 60
    return ClipSet("corpus", f"{data} split {split}: {len(picks)} of {len(windows)} windows (seed {seed}), "
                             f"{minutes:.1f} min; floor: {len(floor)} other windows", audio, notes, floor)


def heldout_set(n: int, seconds: float, sample_rate: int, dev: bool = False) -> ClipSet:
    """Held-out arrangements 0..n-1 to code and n..2n-1 for the floor, the first ``seconds`` of each
    rendered by FluidSynth at the corpus loudness; ``dev``: from the dev seed space instead."""
    from audiodiff.corpus.arrangements import dev_arrangement, heldout_arrangement
    from audiodiff.corpus.items import normalize_loudness
    from audiodiff.corpus.render import Renderer

    renderer = Renderer(sample_rate=sample_rate)

    def render(seed: int) -> tuple[np.ndarray, np.ndarray]:
        perf = (dev_arrangement if dev else heldout_arrangement)(seed).crop(0.0, seconds)
        audio = normalize_loudness(renderer.render_performance(perf, tail_seconds=0.0), LOUDNESS_DB)
        return audio.astype(np.float32), performance_notes(perf)

    pairs = [render(seed) for seed in tqdm(range(2 * n), desc="arrangements: render", leave=False)]
    space = "dev" if dev else "held-out"
    return ClipSet("arrangements", f"{space} arrangements, seeds 0-{n - 1}, first {seconds:g} s, FluidSynth "
                                   f"({renderer.soundfont}); floor: seeds {n}-{2 * n - 1}",
                   [a for a, _ in pairs[:n]], [b for _, b in pairs[:n]], [a for a, _ in pairs[n:]])


class Listener:
    """basic-pitch once per clip: note F1 against the set's reference notes, and FD statistics."""

    def __init__(self, clips: ClipSet, sample_rate: int) -> None:
        from audiodiff.eval.transcription import load_basic_pitch

        self.net, self.clips, self.sample_rate = load_basic_pitch(), clips, sample_rate
        self.original_f1, self.original = self.stats(clips.audio, "originals")

    def stats(self, audio: list[np.ndarray], desc: str) -> tuple[list[float], FrameStats]:
        """Note F1 of each clip (in set order) and the frame statistics of all of them."""
        f1, frames = [], FrameStats()
        for clip, ref in tqdm(zip(audio, self.clips.notes), total=len(audio), desc=f"listen: {desc}", leave=False):
            act = self.net.activations(clip, self.sample_rate)
            f1.append(note_f1(ref, self.net.notes(act)).f1)
            frames.add(act["features"])
        return f1, frames

    def floor(self) -> float | None:
        """FD between the originals and the floor's other originals (None without other originals)."""
        if len(self.clips.floor) < 2:
            return None
        other = FrameStats()
        for clip in tqdm(self.clips.floor, desc="listen: floor", leave=False):
            other.add(self.net.activations(clip, self.sample_rate)["features"])
        return frechet_distance(self.original.gaussian(), other.gaussian())


def score_all(audio: list[np.ndarray], decoded: list[np.ndarray], sample_rate: int
              ) -> tuple[list[tuple[float, float]], int, list[np.ndarray]]:
    """Rows (mel distance, SI-SDR dB) of every decoded clip after removing the setting's constant
    delay, the delay (estimated once over all clips, :func:`estimate_delay`) and the aligned clips."""
    delay = estimate_delay(audio, decoded)
    rows, aligned = [], []
    for ref, dec in zip(audio, decoded):
        out, _ = align(ref, dec, delay=delay)
        rows.append((mel_distance(ref, out, sample_rate), si_sdr(ref, out)))
        aligned.append(out.astype(np.float32))
    return rows, delay, aligned


# --------------------------------------------------------------------------------------- our codec

@torch.inference_mode()
def run_codec(codec: Codec, audio: list[np.ndarray], batch: int) -> Iterator[tuple[str, list[np.ndarray]]]:
    """(setting, decoded clips) for the continuous latents (chunked as the pipeline decodes, and in
    one call) and each bandwidth, one setting at a time."""
    groups = batches_by_length([len(a) for a in audio], batch)
    latents = {}
    for idx in tqdm(groups, desc="our codec: encode", unit="batch", leave=False):
        wav = torch.from_numpy(np.stack([audio[i] for i in idx]))[:, None, :]
        latents[tuple(idx)] = codec.encode(wav)
    # name -> (bandwidth or None for the continuous latents, chunk frames or None for one decoder call)
    variants = {"unquantized": (None, MAX_CALL_FRAMES), "whole": (None, None),
                **{f"{bw:g}": (bw, MAX_CALL_FRAMES) for bw in BANDWIDTHS}}
    for name, (bandwidth, chunk) in variants.items():
        decoded: list[np.ndarray] = [np.zeros(0, np.float32)] * len(audio)
        for idx, lat in tqdm(latents.items(), desc=f"our codec: {name}", unit="batch", leave=False):
            if bandwidth is not None:
                lat = codec.quantize(lat, bandwidth)[0]
            out = codec.decode(lat, chunk_frames=chunk)[:, 0].numpy()
            for row, i in enumerate(idx):
                decoded[i] = out[row, : len(audio[i])]
        yield name, decoded


@torch.inference_mode()
def time_codec(codec: Codec, audio: list[np.ndarray], batch: int) -> dict[str, float]:
    """x real time of encode, encode + RVQ at 6 kbps, decode (chunked, as the pipeline does) and
    decode in one call, over all windows in batches of ``batch``."""
    sr = codec.sample_rate
    groups = batches_by_length([len(a) for a in audio], batch)
    wavs = [torch.from_numpy(np.stack([audio[i] for i in idx]))[:, None, :] for idx in groups]
    codec.decode(codec.quantize(codec.encode(wavs[0]), BANDWIDTHS[-1])[0])  # warm-up
    enc = quant = dec = whole = 0.0
    for wav in tqdm(wavs, desc=f"speed, batch {batch}", unit="batch", leave=False):
        t0 = time.perf_counter()
        latents = codec.encode(wav)
        t1 = time.perf_counter()
        quantized, _ = codec.quantize(latents, BANDWIDTHS[-1])
        t2 = time.perf_counter()
        codec.decode(quantized)
        t3 = time.perf_counter()
        codec.decode(quantized, chunk_frames=None)
        t4 = time.perf_counter()
        enc, quant, dec, whole = enc + t1 - t0, quant + t2 - t1, dec + t3 - t2, whole + t4 - t3
    seconds = sum(len(a) for a in audio) / sr
    return {"encode": seconds / enc, "encode_rvq": seconds / (enc + quant), "decode": seconds / dec,
            "decode_whole": seconds / whole}


# --------------------------------------------------------------------------------------------- opus

def run_opus(audio: list[np.ndarray], sr: int, ffmpeg: str, ffprobe: str,
             rates: dict[str, list[dict]]) -> Iterator[tuple[str, list[np.ndarray]]]:
    """(bandwidth, decoded clips) of the Opus round trip at each bandwidth; measured rates to ``rates``."""
    for bw in BANDWIDTHS:
        name, decoded = f"{bw:g}", []
        for ref in tqdm(audio, desc=f"opus: {name} kbps", unit="clip", leave=False):
            out = opus_round_trip(ref, sr, bw, ffmpeg, ffprobe)
            rates[name].append({"file": out.file_kbps, "payload": out.payload_kbps, "stream": out.stream,
                                "length_diff": len(out.audio) - len(ref)})
            decoded.append(out.audio)
        yield name, decoded


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux) and the core count, for the speed numbers."""
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0] if names else 'unknown CPU'} ({os.cpu_count()} logical cores)"


def tool_version(tool: str) -> str:
    proc = subprocess.run([tool, "-version"], capture_output=True, text=True)
    first = proc.stdout.splitlines()[0] if proc.stdout else "unknown"
    return first.split(" Copyright")[0]


# -------------------------------------------------------------------------------------------- report

def summary(rows: list[tuple[float, float]]) -> dict[str, float]:
    mel = np.array([r[0] for r in rows])
    sdr = np.array([r[1] for r in rows])
    finite = np.isfinite(sdr).any()
    return {"mel": float(mel.mean()),
            "mel_sem": float(mel.std(ddof=1) / math.sqrt(len(mel))) if len(mel) > 1 else 0.0,
            "mel_median": float(np.median(mel)),
            "sdr": float(np.nanmean(sdr)) if finite else float("nan"),
            "sdr_median": float(np.nanmedian(sdr)) if finite else float("nan"),
            "sdr_missing": int(np.isnan(sdr).sum())}


def format_counts(counts: Counter) -> str:
    return ", ".join(f"{d:+d}: {c}" if d else f"0: {c}" for d, c in sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="corpus root holding <split>.jsonl (the corpus set)")
    parser.add_argument("--split", help="corpus split to code (default: test; val with --dev)")
    parser.add_argument("--n", type=int, default=200, help="corpus windows to code (all if the split has fewer)")
    parser.add_argument("--heldout", type=int, default=200, help="held-out arrangements to code (0: none)")
    parser.add_argument("--clip-seconds", type=float, default=8.0, help="length of each held-out clip")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CLIPS} clips a set, quality only")
    parser.add_argument("--no-listen", action="store_true", help="no note F1 or FD (no basic-pitch needed)")
    parser.add_argument("--checkpoint", default=str(default_checkpoint("codec")))
    parser.add_argument("--threads", type=int, default=2, help="torch and TensorFlow CPU threads")
    parser.add_argument("--batch", type=int, default=8, help="clips per codec batch")
    parser.add_argument("--seed", type=int, default=0, help="which corpus windows are drawn")
    parser.add_argument("--only", choices=("quality", "speed"),
                        help="run one half (e.g. quality beside a training, speed on an idle machine)")
    parser.add_argument("--ffmpeg", default="ffmpeg")
    parser.add_argument("--ffprobe", default="ffprobe")
    parser.add_argument("--dev", action="store_true",
                        help="the dev sets instead (--split val, dev arrangements): for choosing models")
    args = parser.parse_args()
    if args.dev and args.split not in (None, "val"):
        parser.error("--dev codes the val split; leave out --split")
    args.split = args.split or ("val" if args.dev else "test")
    if args.quick:
        args.n, args.heldout, args.only = min(args.n, QUICK_CLIPS), min(args.heldout, QUICK_CLIPS), "quality"
    if args.data is None and not args.heldout:
        parser.error("nothing to code: give --data or --heldout > 0")

    print(f"$ {command_line()}\n")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(args.threads))  # basic-pitch
    for tool in (args.ffmpeg, args.ffprobe):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: install ffmpeg with libopus (apt-get install ffmpeg)")

    try:
        meta = read_checkpoint_header(args.checkpoint)["metadata"]
        codec = load_codec(args.checkpoint)
        codec.fold_decoder_weight_norm()  # as the pipeline decodes: same output, faster
        sets = [corpus_set(args.data, args.split, args.n, args.seed, codec.sample_rate)] if args.data else []
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    if args.heldout:
        sets.append(heldout_set(args.heldout, args.clip_seconds, codec.sample_rate, dev=args.dev))
    sr, cfg = codec.sample_rate, codec.config
    params = sum(p.numel() for p in codec.parameters())
    size_mb = os.path.getsize(args.checkpoint) / 1e6
    print(f"checkpoint: {args.checkpoint} ({size_mb:.1f} MB, {params / 1e6:.2f} M params)")
    print(f"  training steps: {meta.get('steps', 'unknown')}"
          + (f", epochs: {meta['epochs']:.2f}" if isinstance(meta.get("epochs"), (int, float)) else "")
          + f"; n_filters {cfg.n_filters}, dimension {cfg.dimension}, lstm {cfg.lstm_layers}, "
            f"{cfg.n_q} x {cfg.bins} codebooks, {sr} Hz, {codec.frame_rate:g} frames/s")
    for clips in sets:
        print(f"set {clips.name}: {clips.description}")
    print(f"opus: {tool_version(args.ffmpeg)}, libopus encoder, 20 ms frames, VBR (ffmpeg defaults)")
    if not args.no_listen:
        print("note F1: basic-pitch (ICASSP 2022 model, bundled) vs the reference notes, mir_eval onsets within "
              "50 ms, mean over clips; FD: basic-pitch onset-branch features (256-d frames)")
    print(f"cpu: {cpu_name()}, threads: {args.threads}\n")

    if args.only != "speed":
        for clips in sets:
            try:
                report_quality(codec, clips, args)
            except (ImportError, RuntimeError) as err:  # no basic-pitch; ffmpeg failing
                sys.exit(f"error: {err}")
    if args.only != "quality":
        report_speed(codec, [a for clips in sets for a in clips.audio], args)


def setting_label(codec: Codec, key: tuple[str, str], rates: dict[str, list[dict]], same_as: dict[str, str]
                  ) -> tuple[str, str, str]:
    """(row label, requested kbps, actual kbps) of a codec setting in the quality table."""
    kind, name = key
    if kind == "original":
        return "original", "-", "-"
    if kind == "ours":
        if name in ("unquantized", "whole"):
            label = {"unquantized": "ours, continuous latents",
                     "whole": "ours, continuous latents, decoded in one call"}[name]
            return label, "-", f"{codec.config.dimension * codec.frame_rate * 32 / 1000:g} (float32 latents)"
        kbps = codec.num_codebooks(float(name)) * math.log2(codec.config.bins) * codec.frame_rate / 1000
        return f"ours @ {name} kbps", name, f"{kbps:g} (exact)"
    r = rates[name]
    file_kbps, payload = np.mean([x["file"] for x in r]), np.mean([x["payload"] for x in r])
    clamped = payload > CLAMP_FACTOR * float(name) or name in same_as
    actual = f"{file_kbps:.2f} / {payload:.2f}" + (f" (same stream as {same_as[name]}k)" if name in same_as else "")
    return f"Opus @ {name} kbps" + (" **(clamped)**" if clamped else ""), name, actual


def report_quality(codec: Codec, clips: ClipSet, args: argparse.Namespace) -> None:
    """Code the set with ours and Opus; print the quality table and the verdicts."""
    sr, audio = codec.sample_rate, clips.audio
    results: dict[tuple[str, str], list] = {}
    delays: dict[tuple[str, str], int] = {}
    f1: dict[tuple[str, str], list[float]] = {}
    fd: dict[tuple[str, str], float] = {}
    rates: dict[str, list[dict]] = defaultdict(list)
    listener = None if args.no_listen else Listener(clips, sr)
    if listener is not None:
        f1[("original", "")] = listener.original_f1
        floor = listener.floor()
        if floor is not None:
            fd[("original", "")] = floor
    settings = [*((("ours", n), d) for n, d in run_codec(codec, audio, args.batch)),
                *((("opus", n), d) for n, d in run_opus(audio, sr, args.ffmpeg, args.ffprobe, rates))]
    for key, decoded in tqdm(settings, desc=f"{clips.name}: score", leave=False):
        results[key], delays[key], aligned = score_all(audio, decoded, sr)
        if listener is not None and key in LISTENED:
            f1[key], frames = listener.stats(aligned, f"{key[0]} {key[1]}")
            fd[key] = frechet_distance(frames.gaussian(), listener.original.gaussian())

    # Requests whose packets equal those of another request on every clip: libopus clamped them.
    same_as: dict[str, str] = {}
    for a in BANDWIDTHS:
        for b in BANDWIDTHS:
            if a < b and all(x["stream"] == y["stream"] for x, y in zip(rates[f"{a:g}"], rates[f"{b:g}"])):
                same_as.setdefault(f"{a:g}", f"{b:g}")

    stats = {key: summary(rows) for key, rows in results.items()}
    print(f"### {clips.name} ({len(audio)} clips)\n")
    print("| codec | requested kbps | actual kbps (file / payload) | mel distance mean ± sem / median (lower better) | "
          "SI-SDR dB mean / median (higher better) | delay removed (samples) | note F1 | FD (floor: original) |")
    print("|---|---|---|---|---|---|---|---|")
    order = [("original", ""), ("ours", "unquantized"), ("ours", "whole"),
             *[(kind, f"{b:g}") for kind in ("ours", "opus") for b in BANDWIDTHS]]
    for key in order:
        if key not in stats and key not in f1:
            continue
        label, requested, actual = setting_label(codec, key, rates, same_as)
        cells = ["-", "-", "-"]
        if key in stats:
            s = stats[key]
            sdr = f"{s['sdr']:.2f} / {s['sdr_median']:.2f}"
            if s["sdr_missing"]:
                sdr += f" ({s['sdr_missing']} silent left out)"
            cells = [f"{s['mel']:.4f} ± {s['mel_sem']:.4f} / {s['mel_median']:.4f}", sdr, str(delays[key])]
        listened = [f"{np.mean(f1[key]):.3f}" if key in f1 else "", f"{fd[key]:.3f}" if key in fd else ""]
        print(f"| {label} | {requested} | {actual} | " + " | ".join(cells + listened) + " |")
    print("\n(± is the standard error over clips. Delay: one whole-sample delay per row at 24 kHz, found by "
          "cross-correlation averaged over the clips and removed before scoring. FD of the original row: the floor, "
          f"originals vs {len(clips.floor)} other originals.)")
    length_diffs = Counter(x["length_diff"] for r in rates.values() for x in r)
    print(f"Opus decoded length minus input length (samples: clips): {format_counts(length_diffs)}")

    ours, opus = stats[("ours", "6")], stats[("opus", "6")]
    wins_mel = np.mean([a[0] < b[0] for a, b in zip(results[("ours", "6")], results[("opus", "6")])])
    wins_sdr = np.mean([a[1] > b[1] for a, b in zip(results[("ours", "6")], results[("opus", "6")])])
    better = ours["mel"] < opus["mel"] and ours["sdr"] > opus["sdr"]
    print(f"\ntarget: ours @ 6 kbps better than Opus @ 6 kbps on both metrics: {'YES' if better else 'NO'} "
          f"(mel {ours['mel']:.4f} vs {opus['mel']:.4f}, SI-SDR {ours['sdr']:.2f} vs {opus['sdr']:.2f} dB; "
          f"ours wins on {wins_mel:.0%} / {wins_sdr:.0%} of clips)")
    if f1:
        ceiling = float(np.mean(f1[("original", "")]))
        for key in (k for k in LISTENED if k[0] == "ours"):
            share = float(np.mean(f1[key])) / ceiling if ceiling else float("nan")
            print(f"target: note F1 of {setting_label(codec, key, rates, same_as)[0]} >= {MIN_F1_SHARE:g} x "
                  f"the originals': {'YES' if share >= MIN_F1_SHARE else 'NO'} ({share:.3f} x {ceiling:.3f})")
    print()


def report_speed(codec: Codec, audio: list[np.ndarray], args: argparse.Namespace) -> None:
    """Time our codec at --batch and at 1; print the speed table and the decode verdicts."""
    speed = {b: time_codec(codec, audio, b) for b in dict.fromkeys((args.batch, 1))}
    print(f"\n| speed (torch threads: {args.threads}) | encode | encode + RVQ 6 kbps | decode | decode in one call |")
    print("|---|---|---|---|---|")
    for b, sp in speed.items():
        print(f"| batch {b} | {sp['encode']:.1f}x real time | {sp['encode_rvq']:.1f}x | {sp['decode']:.1f}x "
              f"| {sp['decode_whole']:.1f}x |")
    for b, sp in speed.items():
        verdict = "YES" if sp["decode"] >= 100 else "NO"
        print(f"target: decode >= 100x real time at batch {b}: {verdict} ({sp['decode']:.1f}x)")


if __name__ == "__main__":
    main()
