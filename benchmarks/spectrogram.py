"""A picture of one clip through the codecs: mel spectrograms of the original, ours and Opus, stacked.

    python benchmarks/spectrogram.py                      # held-out arrangement 0, first 8 s -> docs/
    python benchmarks/spectrogram.py --wav clip.wav --kbps 6 --checkpoint PATH -o docs/codec_spectrogram.png

The clip is a held-out arrangement (:func:`audiodiff.corpus.arrangements.heldout_arrangement`,
``--seed``) rendered by FluidSynth at the corpus loudness, or a WAV file (mixed to mono, at the
codec's rate). Ours is encode -> RVQ at ``--kbps`` -> decode, as in benchmarks/codec.py; Opus is
ffmpeg's libopus at the same requested rate (:func:`audiodiff.eval.opus.opus_round_trip`). Each
panel is the 128-band log-mel spectrogram (2048-point STFT, 0 Hz to Nyquist) in dB relative to the
original's loudest bin, so a codec that loses energy looks darker; its title gives the
multi-resolution mel distance to the original (lower is better).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from audiodiff.codec.model import load_codec
from audiodiff.eval.codec_metrics import align, log_mel, mel_distance
from audiodiff.eval.opus import opus_round_trip
from audiodiff.io.checkpoint import default_checkpoint
from audiodiff.io.plot import HZ_TICKS, N_FFT, N_MELS

LOUDNESS_DB = -20.0  # RMS dBFS, as the corpus windows
FLOOR_DB = -80.0  # darkest level drawn, relative to the original's loudest bin


def mel_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel magnitude ``[M, frames]`` in dB (20 log10 |X|), hop ``N_FFT // 4``."""
    wav = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
    return 20.0 * log_mel(wav, sample_rate, N_FFT, N_MELS)[0].numpy()


def save_comparison(path: Path, clips: dict[str, np.ndarray], sample_rate: int, title: str) -> None:
    """Write a PNG of the clips' mel spectrograms stacked in order; the first clip is the reference
    (its loudest bin is 0 dB in every panel; the others' titles give their mel distance to it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(clips)
    reference = clips[names[0]]
    specs = {name: mel_db(audio, sample_rate) for name, audio in clips.items()}
    top_db = float(specs[names[0]].max())
    seconds = len(reference) / sample_rate
    nyquist = 2595.0 * np.log10(1.0 + sample_rate / 2 / 700.0)
    fig = Figure(figsize=(10.0, 2.6 * len(names) + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    ticks = [hz for hz in (*HZ_TICKS, 12000) if 100 <= hz <= sample_rate / 2]
    image = None
    for ax, name in zip(axes, names):
        spec = np.maximum(specs[name] - top_db, FLOOR_DB)
        image = ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", extent=(0.0, seconds, 0.0, nyquist),
                          vmin=FLOOR_DB, vmax=0.0, interpolation="nearest")
        label = name if name == names[0] else \
            f"{name}: mel distance {mel_distance(reference, clips[name], sample_rate):.3f}"
        ax.set_title(label, fontsize=10, loc="left")
        ax.set_yticks(2595.0 * np.log10(1.0 + np.array(ticks) / 700.0),
                      [f"{hz / 1000:g}k" if hz >= 1000 else str(hz) for hz in ticks])
        ax.set_ylabel("Hz (mel scale)")
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=11)
    fig.colorbar(image, ax=list(axes), label="dB re the original's peak", shrink=0.8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")


def read_clip(args: argparse.Namespace, sample_rate: int) -> tuple[np.ndarray, str]:
    """The clip (float32 mono ``[N]``) and a line saying what it is."""
    if args.wav:
        import soundfile as sf

        audio, sr = sf.read(args.wav, dtype="float32", always_2d=True)
        if sr != sample_rate:
            raise ValueError(f"{args.wav}: {sr} Hz, the codec runs at {sample_rate} Hz")
        return audio.mean(axis=1)[: int(args.seconds * sample_rate)], Path(args.wav).name
    from audiodiff.corpus.arrangements import heldout_arrangement
    from audiodiff.corpus.items import normalize_loudness
    from audiodiff.corpus.render import Renderer

    perf = heldout_arrangement(args.seed).crop(0.0, args.seconds)
    audio = Renderer(sample_rate=sample_rate).render_performance(perf, tail_seconds=0.0)
    return normalize_loudness(audio, LOUDNESS_DB).astype(np.float32), f"held-out arrangement {args.seed}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(default_checkpoint("codec")))
    parser.add_argument("--wav", help="a WAV file instead of a held-out arrangement")
    parser.add_argument("--seed", type=int, default=0, help="held-out arrangement to draw")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--kbps", type=float, default=6.0, help="bandwidth of ours and of Opus")
    parser.add_argument("-o", "--out", type=Path, default=Path("docs/codec_spectrogram.png"))
    args = parser.parse_args()

    torch.set_num_threads(2)
    try:
        codec = load_codec(args.checkpoint)
        codec.fold_decoder_weight_norm()
        sr = codec.sample_rate
        audio, what = read_clip(args, sr)
        with torch.inference_mode():
            latents = codec.encode(torch.from_numpy(audio)[None, None])
            ours = codec.decode(codec.quantize(latents, args.kbps)[0])[0, 0, : len(audio)].numpy()
        opus = opus_round_trip(audio, sr, args.kbps)
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    clips = {"original": audio, f"ours @ {args.kbps:g} kbps": align(audio, ours)[0],
             f"Opus @ {args.kbps:g} kbps ({opus.payload_kbps:.1f} kbps payload)": align(audio, opus.audio)[0]}
    save_comparison(args.out, clips, sr, f"{what}, {len(audio) / sr:g} s, {sr} Hz; codec {Path(args.checkpoint).name}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
