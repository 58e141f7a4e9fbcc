"""A server over tiny untrained models: the engine, queue and app, in-process (API tests) or on a port
(browser tests)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install '.[serve]'")


def make_app(ckpts: dict[str, str], out: Path, max_waiting: int = 8, lease: float = 60.0):
    """(app, engine, queue) over the tiny checkpoints, writing to ``out``."""
    import torch

    from audiodiff.cli.messages import collect_warnings
    from audiodiff.pipeline import Pipeline
    from audiodiff.serve.app import build_app
    from audiodiff.serve.engine import Engine
    from audiodiff.serve.jobs import JobQueue
    from audiodiff.serve.storage import Store

    pipeline = Pipeline.load(ckpts["structure"], ckpts["acoustic"], ckpts["codec"])
    engine = Engine(pipeline, Store(out), dict(ckpts), torch.get_num_threads())
    queue = JobQueue(collect_warnings, max_waiting=max_waiting, lease=lease)
    return build_app(engine, queue), engine, queue


HEADERS = {"X-Audiodiff": "1"}


def wait_job(client, job: dict, timeout: float = 60.0) -> dict:
    """Poll a job until it ends; its last view."""
    deadline = time.monotonic() + timeout
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job} did not finish in {timeout} s"
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


class LiveServer:
    """The app served by uvicorn on a free 127.0.0.1 port in a thread."""

    def __init__(self, app) -> None:
        import uvicorn

        from audiodiff.cli.serve import listen

        self.sock = listen("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()
