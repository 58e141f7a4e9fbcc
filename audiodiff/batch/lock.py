"""One batch at a time per output directory (a lock file with the holder's pid and host), and worker
processes that die with their parent."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from audiodiff.batch import BatchError

LOCK_NAME = "batch.lock"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold ``out/batch.lock`` (``pid host``) while the block runs. Raises BatchError if a live process
    holds it; a lock whose process is gone (killed run) is stale and taken over."""
    path = out / LOCK_NAME
    host = socket.gethostname()
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid, holder = _holder(path)
            if pid is None:  # being written right now, or torn: look again
                time.sleep(0.05)
                if _holder(path)[0] is None:
                    path.unlink(missing_ok=True)
                continue
            if holder != host:
                raise BatchError(f"{out} is in use by pid {pid} on {holder}; if that run is gone, remove "
                                 f"{path}") from None
            if pid_alive(pid) and pid != os.getpid():
                raise BatchError(f"{out} is in use by another batch (pid {pid}); wait for it to finish or "
                                 "stop it first") from None
            path.unlink(missing_ok=True)  # stale: its run was killed
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {host}\n")
        break
    try:
        yield
    finally:
        if _holder(path)[0] == os.getpid():
            path.unlink(missing_ok=True)


def _holder(path: Path) -> tuple[int | None, str]:
    """(pid, host) written in a lock file; (None, '') if it is missing or unreadable."""
    try:
        pid, host = path.read_text().split()
        return int(pid), host
    except (OSError, ValueError):
        return None, ""


def die_with_parent(parent_pid: int) -> None:
    """Make this (worker) process end when ``parent_pid`` ends, even by SIGKILL: PR_SET_PDEATHSIG on
    Linux, else a thread that watches the parent pid."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent_pid:  # the parent died before prctl took effect
                    os._exit(1)
                return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()
