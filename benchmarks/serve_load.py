"""Load on ``audiodiff serve``: N generate requests at once against one server (the shipped models unless
given), each followed until it is done or refused; then the server's answers and memory afterwards.

    python benchmarks/serve_load.py --requests 30 --threads 2

Starts ``python -m audiodiff serve --port 0`` in a temporary folder, sends only to 127.0.0.1, stops it with
Ctrl-C (SIGINT) at the end. Memory is the server's resident set (/proc, so Linux only).
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx

HEADERS = {"X-Audiodiff": "1"}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def start(args: argparse.Namespace, out: str) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "audiodiff", "serve", "--port", "0", "--out", out, "--queue", str(args.queue),
               "--threads", str(args.threads)]
    for name in ("structure", "acoustic", "codec"):
        if getattr(args, name):
            command += [f"--{name}", getattr(args, name)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    for line in server.stdout:
        found = re.search(r"serving (http://\S+/)", line)
        if found:
            return server, found.group(1).rstrip("/")
    raise SystemExit(f"the server did not start (exit {server.wait()})")


def get(client: httpx.Client, path: str, retries: list) -> dict:
    """GET with retries on a connection the server closed at the same moment (as a browser retries)."""
    for _ in range(5):
        try:
            return client.get(path).json()
        except httpx.TransportError:
            retries.append(path)
            time.sleep(0.5)
    return client.get(path).json()


def one_request(url: str, i: int, seconds: float, results: list, barrier: threading.Barrier) -> None:
    """POST a generation at the same moment as the others, then follow it to its end."""
    with httpx.Client(base_url=url, timeout=120) as client:
        barrier.wait()
        t0 = time.monotonic()
        response = client.post("/api/generate", data={"prompt": f"D minor, 96 bpm, violin, {seconds:g} s, seed {i}"},
                               headers=HEADERS)
        row = {"status": response.status_code, "answer_s": time.monotonic() - t0, "retries": []}
        if response.status_code == 202:
            job = response.json()
            while job["state"] in ("queued", "running"):
                time.sleep(0.2)
                job = get(client, f"/api/jobs/{job['id']}", row["retries"])
            row.update(state=job["state"], total_s=time.monotonic() - t0, took=job.get("took"))
        else:
            row.update(state="refused", error=response.json().get("error", ""))
        results.append(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each clip")
    parser.add_argument("--threads", type=int, default=2, help="the server's torch threads")
    parser.add_argument("--queue", type=int, default=8, help="the server's --queue")
    for name in ("structure", "acoustic", "codec"):
        parser.add_argument(f"--{name}", help=f"{name} checkpoint (default: shipped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        server, url = start(args, out)
        try:
            with httpx.Client(base_url=url, timeout=60) as client:  # one generation first: everything warm
                job = client.post("/api/generate", data={"prompt": f"{args.seconds:g} s, seed 0"},
                                  headers=HEADERS).json()
                while job["state"] in ("queued", "running"):
                    time.sleep(0.2)
                    job = client.get(f"/api/jobs/{job['id']}").json()
                time.sleep(1.0)
                idle = rss_mb(server.pid)
            results: list[dict] = []
            peak, done = [idle], threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak.append(rss_mb(server.pid))
                    time.sleep(0.1)
            sampler = threading.Thread(target=sample)
            sampler.start()
            barrier = threading.Barrier(args.requests)
            workers = [threading.Thread(target=one_request, args=(url, i, args.seconds, results, barrier))
                       for i in range(args.requests)]
            t0 = time.monotonic()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            wall = time.monotonic() - t0
            done.set()
            sampler.join()
            with httpx.Client(base_url=url, timeout=10) as client:
                t1 = time.monotonic()
                alive = client.get("/api/options").status_code == 200 and client.get("/api/clips").status_code == 200
                answer_ms = (time.monotonic() - t1) * 1000
            after = rss_mb(server.pid)
            time.sleep(5.0)
            settled = rss_mb(server.pid)
        finally:
            server.send_signal(signal.SIGINT)
            code = server.wait(timeout=60)
    states = {s: sum(r["state"] == s for r in results) for s in ("done", "refused", "failed", "cancelled")}
    took = [r["took"] for r in results if r.get("took")]
    busy = sum(r["status"] == 503 and "busy" in r.get("error", "") for r in results)
    print(f"{args.requests} concurrent requests for {args.seconds:g} s clips, --queue {args.queue}, "
          f"--threads {args.threads}, {os.cpu_count()} CPUs")
    print(f"answered: {len(results)}/{args.requests}; done {states['done']}, refused busy {busy} "
          f"(of {states['refused']} refused), failed {states['failed']}, cancelled {states['cancelled']}")
    print(f"polls retried after a closed connection: {sum(len(r['retries']) for r in results)}")
    print(f"first answer (202 or 503) within {max(r['answer_s'] for r in results) * 1000:.0f} ms for all requests")
    if took:
        print(f"one generation in the server: median {statistics.median(took):.2f} s (min {min(took):.2f}, "
              f"max {max(took):.2f}); last one done after {wall:.1f} s")
    print(f"afterwards: alive {alive} (2 GETs in {answer_ms:.0f} ms); exit on SIGINT {code}")
    print(f"server RSS MB: idle {idle:.0f}, peak {max(peak):.0f}, right after {after:.0f}, 5 s later {settled:.0f}")


if __name__ == "__main__":
    main()
