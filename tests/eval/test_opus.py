"""The Opus baseline: a round trip through ffmpeg's libopus (skipped where ffmpeg is missing)."""
import shutil

import numpy as np
import pytest

from audiodiff.eval.opus import opus_round_trip

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                reason="needs ffmpeg and ffprobe with libopus")
SR = 24000


def test_opus_keeps_a_tone_and_reports_its_rate():
    t = np.arange(SR) / SR
    audio = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = opus_round_trip(audio, SR, 6)
    assert out.audio.dtype == np.float32 and abs(len(out.audio) - SR) < 400
    n = min(len(out.audio), SR)
    assert np.corrcoef(audio[:n], out.audio[:n])[0, 1] > 0.9
    assert 3 < out.payload_kbps < 12 and out.file_kbps > out.payload_kbps


def test_a_failing_ffmpeg_names_itself():
    with pytest.raises(RuntimeError, match="failed"):
        opus_round_trip(np.zeros(SR, np.float32), SR, 6, ffmpeg="false")
