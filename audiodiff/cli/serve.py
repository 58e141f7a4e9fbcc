"""``audiodiff serve``: load the models once and serve the web page (:mod:`audiodiff.serve`) until Ctrl-C."""
from __future__ import annotations

import argparse
import ipaddress
import socket
from pathlib import Path

from audiodiff.cli.messages import CliError, warn

# An idle connection stays open this long: more than a busy CPU may keep a page's next poll waiting, so a poll
# rarely meets a connection the server is closing.
KEEP_ALIVE_SECONDS = 30


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), or CliError in one line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as err:
        raise CliError(f"cannot listen on {host}:{port} ({err.strerror or err}); pass another --port") from None
    return sock


def cmd_serve(args: argparse.Namespace) -> None:
    """Check the options, load the models, and serve until interrupted."""
    try:
        import uvicorn

        from audiodiff.serve.app import build_app
    except ImportError as err:
        raise CliError(f"audiodiff serve needs the serve extra ({err.name} is missing): "
                       "pip install 'audiodiff[serve]'") from None
    from audiodiff import __version__
    from audiodiff.cli.generate_render import load_pipeline
    from audiodiff.cli.messages import collect_warnings
    from audiodiff.serve.engine import Engine
    from audiodiff.serve.jobs import JobQueue
    from audiodiff.serve.storage import Store

    local = _is_loopback(args.host)
    if not local:
        warn(f"serving on {args.host}: anyone who can reach this machine can use the page, generate and "
             "download; --host 127.0.0.1 keeps it to this machine")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out} is not a directory")
    store = Store(out)
    sock = listen(args.host, args.port)
    print("loading the models...", flush=True)
    pipeline, threads = load_pipeline(args)
    for note in pipeline.warnings:
        warn(note)
    checkpoints = {name: getattr(args, name) for name in ("structure", "acoustic", "codec")}
    engine = Engine(pipeline, store, checkpoints, threads)
    queue = JobQueue(collect_warnings, max_waiting=args.queue)
    app = build_app(engine, queue, local_only=local,
                    info={"version": __version__, "warnings": pipeline.warnings, "out": str(out)})
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"audiodiff {__version__} serving http://{shown}:{port}/ (writing to {out}; Ctrl-C stops)", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(f"http://{shown}:{port}/")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                           timeout_keep_alive=KEEP_ALIVE_SECONDS))
    server.run(sockets=[sock])
