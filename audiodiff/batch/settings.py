"""The settings of a batch run: what every worker needs besides its rows."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from audiodiff.batch.rows import Row


@dataclass
class Settings:
    """What a worker needs besides its rows (picklable: travels to worker processes)."""

    out: str
    structure: str
    acoustic: str
    codec: str
    hashes: dict
    steps: int
    plan_steps: int
    guidance: float
    plan_guidance: float
    drums: bool = True
    batch_size: int = 1
    device: str = "cpu"
    threads: int | None = None
    backend: str | None = None  # onnx or torch (None: audiodiff.pipeline.Pipeline.load chooses)
    stems: bool = False  # also every track alone (audiodiff.io.stems)
    layout: str = "folder"  # with stems: "folder" (stems/<id>/) or "slakh" (Track<nnnnn>/ as Slakh2100)
    normalize: bool = False  # with stems: each stem to -24 LUFS, the mix's peak capped at -1 dBFS

    def fingerprint(self, rows: Sequence[Row]) -> dict:
        """What a resumed run must agree on (not workers, batch size, threads or device)."""
        digest = hashlib.sha256(json.dumps([r.input for r in rows], sort_keys=True, default=str).encode())
        stems = {"stems": self.layout, "normalize": self.normalize} if self.stems else {}
        return {"format": 1, "rows": len(rows), "rows_sha256": digest.hexdigest()[:16], "steps": self.steps,
                "plan_steps": self.plan_steps, "guidance": self.guidance, "plan_guidance": self.plan_guidance,
                "drums": self.drums, "checkpoints": self.hashes, **stems}
