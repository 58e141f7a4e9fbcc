"""StructureModel: writes melody-and-chord plans from key/tempo/meter/length by masked diffusion."""
from __future__ import annotations

from pathlib import Path

import torch

from audiodiff.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from audiodiff.music.plan import Plan
from audiodiff.structure.net import StructureNet, StructureNetConfig
from audiodiff.structure.sampling import (  # noqa: F401 (re-exported: the structure model's public names)
    DEFAULT_GUIDANCE,
    DEFAULT_ORDER_NOISE,
    DEFAULT_STEPS,
    DEFAULT_TEMPERATURE,
    DEFAULT_WINDOW_BARS,
    MAX_BARS_GENERATED,
    MIN_BARS,
    PlanRequest,
    PlanWriter,
    max_bars,
)

KIND = "structure"


class StructureModel:
    """A trained StructureNet plus the sampler settings; ``generate`` returns melody+chord plans."""

    def __init__(self, net: StructureNet, metadata: dict | None = None):
        self.net = net.eval()
        self.metadata = metadata or {}
        # the longest crop it was trained on: longer pieces are written window by window
        self.max_bars = max_bars(self.metadata)

    @classmethod
    def load(cls, path: str | Path) -> "StructureModel":
        """Load an exported structure checkpoint (CheckpointError on any problem)."""
        state, config, metadata = load_checkpoint(path, kind=KIND)
        try:
            net = StructureNet(StructureNetConfig(**config["net"]))
            net.load_state_dict({k: v.float() for k, v in state.items()})
        except (KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(path, "config and weights do not match this audiodiff "
                                        f"({type(exc).__name__})") from None
        return cls(net, metadata)

    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        state = {k: v.detach().to(torch.float16) for k, v in self.net.state_dict().items()}
        return save_checkpoint(path, state, kind=KIND, config={"net": self.net.config.to_dict()},
                               metadata=metadata or self.metadata)

    def writer(self) -> PlanWriter:
        """The sampler over this network on torch (numpy in and out, as the ONNX backend's)."""
        from audiodiff.backends import torch_call

        return PlanWriter(torch_call(self.net), self.metadata)

    def generate(self, requests: list[PlanRequest], *, steps: int = DEFAULT_STEPS,
                 guidance: float = DEFAULT_GUIDANCE, temperature: float = DEFAULT_TEMPERATURE,
                 order_noise: float = DEFAULT_ORDER_NOISE) -> list[Plan]:
        """Melody-and-chord plans, one per request, in order (:meth:`PlanWriter.generate`)."""
        return self.writer().generate(requests, steps=steps, guidance=guidance, temperature=temperature,
                                      order_noise=order_noise)
