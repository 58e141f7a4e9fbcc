"""Codec benchmark: our codec at 1.5 / 3 / 6 kbps (and unquantized) against Opus, plus speed.

    python benchmarks/codec.py --data runs/data/cpu --split test --n 120 [--checkpoint PATH] [--threads 2]
        [--only quality|speed]

``--n`` windows of the split are drawn at random (``--seed``) and coded whole. Our codec runs
encode -> (RVQ at each bandwidth | continuous latents) -> decode. Opus runs through ffmpeg's
libopus (``-c:a libopus -b:a <rate> -ar 24000 -ac 1``, 20 ms frames, VBR: ffmpeg's defaults) and
is decoded back to 24 kHz mono float WAV. Each codec setting's constant whole-sample delay is
found by cross-correlation averaged over the windows (:func:`audiodiff.eval.codec_metrics.estimate_delay`;
Opus at <= 6 kbps lags 2-3 samples, ours should not lag) and removed, and every decoded window is trimmed or
padded to its reference's length (:func:`audiodiff.eval.codec_metrics.align`) before scoring:

- mel distance: multi-resolution log10 mel distance (512/1024/2048-point STFTs, 80 bands), lower is better;
- SI-SDR in dB, higher is better (NaN for silent windows, which are left out of its mean).

"actual kbps" of Opus is measured, not requested: ``file`` is the .opus size x 8 / duration (Ogg
pages and headers included), ``payload`` the sum of the Opus packets only. libopus has a floor
(about 5-6 kbps at 20 ms frames): requests below it give the same stream and are marked clamped.
Our codec's rate is exact (codebooks x 10 bits x 75 frames/s, no container).

Coding runs as in the pipeline (``Codec.encode`` / ``decode``: at most MAX_CALL_FRAMES frames per
call, so a batch goes item by item and long items in cross-faded chunks); the continuous latents
are also decoded with the whole batch in one call, to show what that changes.

Speed is the codec alone on the CPU with ``--threads`` torch threads, as x real time (seconds of
audio per second of compute), after one warm-up batch, over all windows at ``--batch`` and at 1.
"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from audiodiff.codec.data import AudioWindow, read_windows
from audiodiff.codec.model import MAX_CALL_FRAMES, Codec, load_codec
from audiodiff.eval.codec_metrics import align, estimate_delay, mel_distance, si_sdr
from audiodiff.io.checkpoint import CheckpointError, default_checkpoint, read_checkpoint_header

BANDWIDTHS = (1.5, 3.0, 6.0)  # kbps, for both codecs
CLAMP_FACTOR = 1.25  # payload above this x the request: libopus did not honour the request


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


def score_all(audio: list[np.ndarray], decoded: list[np.ndarray], sample_rate: int) -> tuple[list, int]:
    """Rows (mel distance, SI-SDR dB) of every decoded window, after removing the setting's constant delay.

    The delay is estimated once over all windows (:func:`estimate_delay`) and returned too.
    """
    delay = estimate_delay(audio, decoded)
    rows = []
    for ref, dec in zip(audio, decoded):
        aligned, _ = align(ref, dec, delay=delay)
        rows.append((mel_distance(ref, aligned, sample_rate), si_sdr(ref, aligned)))
    return rows, delay


# --------------------------------------------------------------------------------------- our codec

@torch.inference_mode()
def run_codec(codec: Codec, audio: list[np.ndarray], batch: int, results: dict, delays: dict) -> None:
    """Code every window unquantized and at each bandwidth; rows to results, delays found to delays."""
    groups = batches_by_length([len(a) for a in audio], batch)
    latents = {}
    for idx in tqdm(groups, desc="our codec: encode", unit="batch", leave=False):
        wav = torch.from_numpy(np.stack([audio[i] for i in idx]))[:, None, :]
        latents[tuple(idx)] = codec.encode(wav)
    # name -> (bandwidth or None for the continuous latents, chunk frames or None for one decoder call)
    variants = {"unquantized": (None, MAX_CALL_FRAMES), "whole": (None, None),
                **{f"{bw:g}": (bw, MAX_CALL_FRAMES) for bw in BANDWIDTHS}}
    with tqdm(total=len(variants) * len(audio), desc="our codec", unit="window") as bar:
        for name, (bandwidth, chunk) in variants.items():
            decoded: list[np.ndarray | None] = [None] * len(audio)
            for idx, lat in latents.items():
                if bandwidth is not None:
                    lat = codec.quantize(lat, bandwidth)[0]
                out = codec.decode(lat, chunk_frames=chunk)[:, 0].numpy()
                for row, i in enumerate(idx):
                    decoded[i] = out[row, : len(audio[i])]
                bar.update(len(idx))
            results[("ours", name)], delays[("ours", name)] = score_all(audio, decoded, codec.sample_rate)


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

def ffmpeg_run(ffmpeg: str, args: list[str]) -> None:
    proc = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-threads", "1", *args],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"ffmpeg {shlex.join(args)} failed: {proc.stderr.strip()[-500:]}")


def opus_packets(ffprobe: str, path: Path) -> list[int]:
    """Sizes in bytes of the Opus packets of an .opus file (no Ogg framing, no headers)."""
    proc = subprocess.run([ffprobe, "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=size",
                           "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    return [int(line.split(",")[0]) for line in proc.stdout.split() if line.strip()]


def run_opus(audio: list[np.ndarray], sr: int, ffmpeg: str, ffprobe: str, results: dict, delays: dict,
             rates: dict) -> None:
    """Opus round trip of every window at each bandwidth; rows to results, delays and measured rates."""
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="codec_bench_") as tmp, \
            tqdm(total=len(BANDWIDTHS) * len(audio), desc="opus", unit="window") as bar:
        tmp = Path(tmp)
        for bw in BANDWIDTHS:
            name, decoded = f"{bw:g}", []
            for ref in audio:
                src, enc, dec = tmp / "in.wav", tmp / "out.opus", tmp / "dec.wav"
                sf.write(src, ref, sr, subtype="FLOAT")
                ffmpeg_run(ffmpeg, ["-i", str(src), "-c:a", "libopus", "-b:a", f"{name}k", "-ar", str(sr), "-ac", "1",
                                    str(enc)])
                ffmpeg_run(ffmpeg, ["-i", str(enc), "-ar", str(sr), "-ac", "1", "-c:a", "pcm_f32le", str(dec)])
                out, dec_sr = sf.read(dec, dtype="float32", always_2d=True)
                if dec_sr != sr:
                    raise RuntimeError(f"ffmpeg decoded Opus at {dec_sr} Hz, asked for {sr} Hz")
                packets = opus_packets(ffprobe, enc)
                seconds = len(ref) / sr
                rates[name].append({
                    "file": enc.stat().st_size * 8 / seconds / 1000,
                    "payload": sum(packets) * 8 / seconds / 1000,
                    "stream": hashlib.sha256(str(packets).encode()).hexdigest(),
                    "length_diff": out.shape[0] - len(ref),
                })
                decoded.append(out.mean(axis=1))
                bar.update(1)
            results[("opus", name)], delays[("opus", name)] = score_all(audio, decoded, sr)


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
            "sdr": float(np.nanmean(sdr)) if finite else float("nan"),
            "sdr_median": float(np.nanmedian(sdr)) if finite else float("nan"),
            "sdr_missing": int(np.isnan(sdr).sum())}


def format_counts(counts: Counter) -> str:
    return ", ".join(f"{d:+d}: {c}" if d else f"0: {c}" for d, c in sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="corpus root holding <split>.jsonl")
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=120, help="windows to code (all if the split has fewer)")
    parser.add_argument("--checkpoint", default=str(default_checkpoint("codec")))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (quality and speed)")
    parser.add_argument("--batch", type=int, default=8, help="windows per codec batch")
    parser.add_argument("--seed", type=int, default=0, help="which windows are drawn")
    parser.add_argument("--only", choices=("quality", "speed"),
                        help="run one half (e.g. quality beside a training, speed on an idle machine)")
    parser.add_argument("--ffmpeg", default="ffmpeg")
    parser.add_argument("--ffprobe", default="ffprobe")
    args = parser.parse_args()

    print(f"$ {command_line()}\n")
    torch.set_num_threads(args.threads)
    for tool in (args.ffmpeg, args.ffprobe):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: install ffmpeg with libopus (apt-get install ffmpeg)")

    try:
        meta = read_checkpoint_header(args.checkpoint)["metadata"]
        codec = load_codec(args.checkpoint)
        codec.fold_decoder_weight_norm()  # as the pipeline decodes: same output, faster
        windows = read_windows(args.data, args.split)
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    sr = codec.sample_rate
    count = min(args.n, len(windows))
    picks = sorted(np.random.default_rng(args.seed).choice(len(windows), count, replace=False).tolist())
    chosen = [windows[i] for i in picks]
    audio = [load_audio(w, sr) for w in tqdm(chosen, desc="read", unit="window", leave=False)]
    total_seconds = sum(len(a) for a in audio) / sr

    cfg = codec.config
    params = sum(p.numel() for p in codec.parameters())
    size_mb = os.path.getsize(args.checkpoint) / 1e6
    print(f"checkpoint: {args.checkpoint} ({size_mb:.1f} MB, {params / 1e6:.2f} M params)")
    print(f"  training steps: {meta.get('steps', 'unknown')}"
          + (f", epochs: {meta['epochs']:.2f}" if isinstance(meta.get("epochs"), (int, float)) else "")
          + f"; n_filters {cfg.n_filters}, dimension {cfg.dimension}, lstm {cfg.lstm_layers}, "
            f"{cfg.n_q} x {cfg.bins} codebooks, {sr} Hz, {codec.frame_rate:g} frames/s")
    print(f"data: {args.data} split {args.split}: {count} of {len(windows)} windows (seed {args.seed}), "
          f"{total_seconds / 60:.1f} min of audio")
    print(f"opus: {tool_version(args.ffmpeg)}, libopus encoder, 20 ms frames, VBR (ffmpeg defaults)")
    print(f"cpu: {cpu_name()}, torch threads: {args.threads}\n")

    if args.only != "speed":
        report_quality(codec, audio, args)
    if args.only != "quality":
        report_speed(codec, audio, args)


def report_quality(codec: Codec, audio: list[np.ndarray], args: argparse.Namespace) -> None:
    """Code the windows with ours and Opus; print the quality table and the 6 kbps verdict."""
    sr, cfg = codec.sample_rate, codec.config
    results: dict[tuple[str, str], list] = defaultdict(list)
    rates: dict[str, list[dict]] = defaultdict(list)
    delays: dict[tuple[str, str], int] = {}
    run_codec(codec, audio, args.batch, results, delays)
    run_opus(audio, sr, args.ffmpeg, args.ffprobe, results, delays, rates)

    # Requests whose packets equal those of another request on every window: libopus clamped them.
    same_as: dict[str, str] = {}
    for a in BANDWIDTHS:
        for b in BANDWIDTHS:
            if a < b and all(x["stream"] == y["stream"] for x, y in zip(rates[f"{a:g}"], rates[f"{b:g}"])):
                same_as.setdefault(f"{a:g}", f"{b:g}")

    stats = {key: summary(rows) for key, rows in results.items()}
    print("| codec | requested kbps | actual kbps (file / payload) | mel distance (lower better) | "
          "SI-SDR dB mean / median (higher better) | delay removed (samples) |")
    print("|---|---|---|---|---|---|")
    order = [("ours", "unquantized"), ("ours", "whole"),
             *[(kind, f"{b:g}") for kind in ("ours", "opus") for b in BANDWIDTHS]]
    for key in order:
        s = stats[key]
        kind, name = key
        if kind == "ours":
            label = {"unquantized": "ours, continuous latents",
                     "whole": "ours, continuous latents, decoded in one call"}.get(name, f"ours @ {name} kbps")
            requested = "-" if name in ("unquantized", "whole") else name
            if name in ("unquantized", "whole"):
                actual = f"{cfg.dimension * codec.frame_rate * 32 / 1000:g} (float32 latents)"
            else:
                kbps = codec.num_codebooks(float(name)) * math.log2(cfg.bins) * codec.frame_rate / 1000
                actual = f"{kbps:g} (exact)"
        else:
            r = rates[name]
            file_kbps, payload = np.mean([x["file"] for x in r]), np.mean([x["payload"] for x in r])
            clamped = payload > CLAMP_FACTOR * float(name) or name in same_as
            label = f"Opus @ {name} kbps" + (" **(clamped)**" if clamped else "")
            requested = name
            actual = f"{file_kbps:.2f} / {payload:.2f}"
            if name in same_as:
                actual += f" (same stream as {same_as[name]}k)"
        sdr = f"{s['sdr']:.2f} / {s['sdr_median']:.2f}"
        if s["sdr_missing"]:
            sdr += f" ({s['sdr_missing']} silent left out)"
        print(f"| {label} | {requested} | {actual} | {s['mel']:.4f} ± {s['mel_sem']:.4f} | {sdr} | {delays[key]} |")
    print("\n(± is the standard error over windows. Delay: one whole-sample delay per row at 24 kHz, found by "
          "cross-correlation averaged over the windows and removed before scoring.)")
    length_diffs = Counter(x["length_diff"] for r in rates.values() for x in r)
    print(f"Opus decoded length minus input length (samples: windows): {format_counts(length_diffs)}")

    ours, opus = stats[("ours", "6")], stats[("opus", "6")]
    wins_mel = np.mean([a[0] < b[0] for a, b in zip(results[("ours", "6")], results[("opus", "6")])])
    wins_sdr = np.mean([a[1] > b[1] for a, b in zip(results[("ours", "6")], results[("opus", "6")])])
    better = ours["mel"] < opus["mel"] and ours["sdr"] > opus["sdr"]
    print(f"\ntarget: ours @ 6 kbps better than Opus @ 6 kbps on both metrics: {'YES' if better else 'NO'} "
          f"(mel {ours['mel']:.4f} vs {opus['mel']:.4f}, SI-SDR {ours['sdr']:.2f} vs {opus['sdr']:.2f} dB; "
          f"ours wins on {wins_mel:.0%} / {wins_sdr:.0%} of windows)")


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
