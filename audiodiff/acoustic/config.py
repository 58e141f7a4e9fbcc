"""The acoustic model's configs (no torch): the U-Net's size (:class:`AcousticNetConfig`) and the
model around it (:class:`AcousticConfig`: frame rate, window, context, data scale, the sketch
synth version it learned)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from audiodiff.acoustic.synth import VELOCITY_EXPONENTS
from audiodiff.io.config import from_preset_dict, to_json_dict

PRESETS = ("tiny", "cpu", "gpu")


@dataclass
class AcousticNetConfig:
    """Size of the acoustic U-Net; ``latent_dim`` must equal the codec's."""

    latent_dim: int = 64  # D, the codec's latent channels
    widths: tuple[int, ...] = (32, 48, 64, 96, 128)  # channels per level; each level halves the frames
    blocks: tuple[int, ...] = (1, 1, 2, 2, 2)  # residual blocks per level on the way down (and up)
    mid_dilations: tuple[int, ...] = (1, 2, 4, 8)  # one block each at the lowest level (receptive field)
    kernel_size: int = 3
    noise_dim: int = 128  # noise-level embedding width
    plan_dim: int = 64  # note encoder output channels

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        self.blocks = tuple(int(b) for b in self.blocks)
        self.mid_dilations = tuple(int(d) for d in self.mid_dilations)
        if not self.widths or any(w % 8 for w in self.widths):
            raise ValueError(f"widths must be non-empty multiples of 8, got {self.widths}")
        if len(self.blocks) != len(self.widths) or min(self.blocks) < 1:
            raise ValueError(f"blocks must give >= 1 block for each of the {len(self.widths)} levels, "
                             f"got {self.blocks}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")

    @property
    def frame_multiple(self) -> int:
        """Inputs are padded internally to a multiple of this many frames."""
        return 2 ** (len(self.widths) - 1)

    @classmethod
    def preset(cls, name: str) -> AcousticNetConfig:
        """tiny (tests), cpu (one part on a CPU), gpu (larger, for a GPU)."""
        if name == "tiny":
            return cls(widths=(16, 32), blocks=(1, 1), mid_dilations=(1, 2), noise_dim=32, plan_dim=16)
        elif name == "cpu":
            return cls()
        elif name == "gpu":
            return cls(widths=(128, 192, 256, 384, 512), blocks=(2, 2, 2, 2, 2), mid_dilations=(1, 2, 4, 8),
                       noise_dim=256, plan_dim=128)
        else:
            raise ValueError(f"unknown acoustic net preset {name!r}; choose one of {', '.join(PRESETS)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AcousticNetConfig:
        """Build from ``{"preset": name, **overrides}`` or plain fields; unknown keys are errors."""
        return from_preset_dict(cls, data, "acoustic net")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return to_json_dict(self)


@dataclass
class AcousticConfig:
    """What an acoustic model is: its network, the codec frames it works in, and its window."""

    net: AcousticNetConfig = field(default_factory=AcousticNetConfig)
    frame_rate: float = 75.0  # Hz, the codec's latent frame rate
    window_frames: int = 400  # frames the net sees at once (context + new), in training and sampling
    context_frames: int = 75  # frames of what is rendered so far that a new window continues
    sigma_data: float = 1.0  # standard deviation of the (scaled) codec latents
    # the sketch synth version (audiodiff.acoustic.synth) of the data it learned: training sets it;
    # 1 for models made before versions were recorded
    sketch_version: int = 1

    def __post_init__(self) -> None:
        if self.sketch_version not in VELOCITY_EXPONENTS:
            raise ValueError(f"unknown sketch synth version {self.sketch_version} (a newer audiodiff made it?)")
        if not 0 < self.context_frames < self.window_frames:
            raise ValueError(f"need 0 < context_frames < window_frames, got {self.context_frames}"
                             f" and {self.window_frames}")
        if not self.frame_rate > 0 or not self.sigma_data > 0:
            raise ValueError(f"frame_rate and sigma_data must be positive, got {self.frame_rate}, {self.sigma_data}")

    def for_codec(self, latent_dim: int, frame_rate: float) -> AcousticConfig:
        """This config for a codec's latent channels and frame rate (Hz)."""
        return replace(self, net=replace(self.net, latent_dim=latent_dim), frame_rate=float(frame_rate))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AcousticConfig:
        """Build from ``{"net": {...}, "window_frames": ..., ...}``; unknown keys are errors."""
        allowed = {"net", "frame_rate", "window_frames", "context_frames", "sigma_data", "sketch_version"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown acoustic model keys {unknown}; allowed: {', '.join(sorted(allowed))}")
        rest = {k: v for k, v in data.items() if k != "net"}
        return cls(net=AcousticNetConfig.from_dict(data.get("net", {})), **rest)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return to_json_dict(self)
