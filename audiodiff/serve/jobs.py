"""One generation at a time: a queue of jobs and the one thread that runs them.

A CPU has few cores and one generation already uses them, so jobs run one after another. A job waits in
the queue (its place is shown), runs, and ends done (with its clip), failed (with a one-line message) or
cancelled. The queue holds at most ``max_waiting`` jobs; more are refused as busy. A waiting job whose
client stops asking about it for ``lease`` seconds (the tab was closed, or the client is gone) is cancelled;
the page also cancels its waiting jobs itself when its tab closes. Cancelling a running
job lets it finish (a diffusion model cannot be stopped half way) and throws its clip away.
"""
from __future__ import annotations

import gc
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("audiodiff.serve")

FINISHED_KEPT = 200  # finished jobs remembered for clients that ask late
RATE_START = 1.0  # seconds of work per second of audio assumed before the first job finished


class Busy(Exception):
    """The queue is full."""


class UserError(Exception):
    """A problem with what was asked, shown to the user as one line (the command line's message)."""


@dataclass
class Job:
    """A queued piece of work: ``run`` makes the clip and returns its id."""

    id: str
    label: str
    audio_seconds: float  # how much audio it makes, for the time estimate
    run: Callable[[], str]
    discard: Callable[[], None]  # removes what ``run`` wrote (after a failure or a cancel)
    state: str = "queued"  # queued, running, done, failed, cancelled
    clip: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    seen: float = field(default_factory=time.monotonic)
    cancel_requested: bool = False


class JobQueue:
    """See the module docstring. ``collect`` wraps a run and gathers the warnings it gives."""

    def __init__(self, collect: Callable, max_waiting: int = 8, lease: float = 60.0) -> None:
        self.collect = collect
        self.max_waiting = max_waiting
        self.lease = lease
        self.jobs: dict[str, Job] = {}
        self.rate = RATE_START
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="audiodiff-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Cancel the waiting jobs and let the worker end after the running one."""
        with self._lock:
            self._stopping = True
            for job in self.jobs.values():
                if job.state == "queued":
                    self._cancel(job, "the server stopped")
            self._lock.notify_all()

    def submit(self, label: str, audio_seconds: float, run: Callable[[], str], discard: Callable[[], None]) -> Job:
        """Queue a job (Busy when ``max_waiting`` are waiting)."""
        with self._lock:
            self._expire()
            waiting = self._waiting()
            if self._stopping or len(waiting) >= self.max_waiting:
                raise Busy(f"busy: {len(waiting)} generations are waiting (at most {self.max_waiting}); "
                           "try again when one has finished")
            job = Job(f"j{next(self._ids)}", label, audio_seconds, run, discard)
            self.jobs[job.id] = job
            self._lock.notify_all()
            return job

    def view(self, job_id: str) -> dict:
        """What a client sees of a job (KeyError if unknown); asking keeps a waiting job alive."""
        with self._lock:
            self._expire()
            job = self.jobs[job_id]
            job.seen = time.monotonic()
            return self._describe(job)

    def cancel(self, job_id: str) -> dict:
        """Cancel a job (KeyError if unknown): a waiting one at once, a running one when it ends."""
        with self._lock:
            job = self.jobs[job_id]
            if job.state == "queued":
                self._cancel(job, "cancelled")
            elif job.state == "running":
                job.cancel_requested = True
            return self._describe(job)

    def status(self) -> dict:
        """The queue as a whole: running job, number waiting, capacity."""
        with self._lock:
            self._expire()
            running = [j.id for j in self.jobs.values() if j.state == "running"]
            return {"running": running[0] if running else None, "waiting": len(self._waiting()),
                    "max_waiting": self.max_waiting}

    # -- inside the lock ------------------------------------------------------------------
    def _waiting(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.state == "queued"]

    def _describe(self, job: Job) -> dict:
        now = time.monotonic()
        out: dict = {"id": job.id, "label": job.label, "state": job.state, "clip": job.clip, "error": job.error,
                     "warnings": list(job.warnings), "cancel_requested": job.cancel_requested}
        if job.state == "queued":
            out["place"] = self._waiting().index(job) + 1  # 1: next to run
        if job.state == "running" and job.started is not None:
            expected = max(self.rate * job.audio_seconds, 0.5)
            elapsed = now - job.started
            out.update(elapsed=round(elapsed, 2), expected=round(expected, 2),
                       progress=round(min(0.97, elapsed / expected), 3))
        if job.state == "done" and job.started is not None and job.finished is not None:
            out["took"] = round(job.finished - job.started, 2)
        return out

    def _cancel(self, job: Job, reason: str) -> None:
        job.state, job.error, job.finished = "cancelled", reason, time.monotonic()
        job.discard()

    def _expire(self) -> None:
        """Cancel waiting jobs nobody asked about for ``lease`` seconds; forget old finished jobs."""
        now = time.monotonic()
        for job in self._waiting():
            if now - job.seen > self.lease:
                self._cancel(job, "cancelled: the page that asked for it went away")
        finished = [j for j in self.jobs.values() if j.finished is not None]
        for job in sorted(finished, key=lambda j: j.finished or 0.0)[:max(0, len(finished) - FINISHED_KEPT)]:
            del self.jobs[job.id]

    # -- the worker -----------------------------------------------------------------------
    def _next(self) -> Job | None:
        with self._lock:
            while True:
                self._expire()
                waiting = self._waiting()
                if waiting:
                    job = waiting[0]
                    job.state, job.started = "running", time.monotonic()
                    return job
                if self._stopping:
                    return None
                self._lock.wait(timeout=1.0)

    def _work(self) -> None:
        while (job := self._next()) is not None:
            clip, error = None, None
            with self.collect() as warnings:
                try:
                    clip = job.run()
                except UserError as exc:
                    error = str(exc)
                except Exception as exc:  # noqa: BLE001 - the server goes on; the page gets one line
                    log.exception("job %s (%s) failed", job.id, job.label)
                    error = f"internal error ({type(exc).__name__}); the server log has the details"
            gc.collect()
            with self._lock:
                job.warnings, job.finished = list(warnings), time.monotonic()
                if job.started is not None and clip is not None and job.audio_seconds > 0:
                    took = (job.finished - job.started) / job.audio_seconds
                    self.rate = took if self.rate == RATE_START else 0.5 * self.rate + 0.5 * took
                if job.cancel_requested or error is not None:
                    job.state, job.error = ("cancelled", "cancelled") if error is None else ("failed", error)
                    job.discard()
                else:
                    job.state, job.clip = "done", clip
