"""The web application: the page, its scripts, and the JSON API it calls (Starlette).

Every answer is JSON; a problem is ``{"error": one line, "field": page field}`` with status 400 (bad input),
404 (no such clip, job or file), 403 (a POST without the page's header), 413 (too large), 503 (busy), 500
(anything else, without a traceback). POSTs must carry ``X-Audiodiff: 1``: a form on another web site cannot
set it, so it cannot make this server work. Files are picked by clip id and kind (:mod:`.storage`).
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audiodiff.serve.engine import Engine, FieldError, Task
from audiodiff.serve.jobs import Busy, JobQueue
from audiodiff.serve.storage import MEDIA_TYPES, NotFound, check_midi_upload

log = logging.getLogger("audiodiff.serve")

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # a MIDI file; the largest of the Lakh MIDI set is under 1 MiB
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
PAGE_HEADER = "x-audiodiff"
LOCAL_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                                 b"object-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def problem(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


class Guard:
    """ASGI middleware: refuses POSTs without the page's header (403) or with a body over MAX_BODY_BYTES (413,
    also while it streams in), and adds the security headers to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        if scope["method"] == "POST":
            refusal = None
            length = headers.get(b"content-length", b"")
            if headers.get(PAGE_HEADER.encode()) != b"1":
                refusal = problem(403, f"requests need the header '{PAGE_HEADER}: 1' (the page sends it)")
            elif length and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
                refusal = problem(413, f"the request is larger than {MAX_BODY_BYTES // 1024} KiB")
            if refusal is not None:
                await refusal(scope, receive, send_secure)
                return
            receive = _limited(receive)
        await self.app(scope, receive, send_secure)


class TooLarge(Exception):
    """A request body grew past MAX_BODY_BYTES while it was read."""


def _limited(receive: Receive) -> Receive:
    """``receive`` that raises TooLarge once the body passed MAX_BODY_BYTES (a body sent without a length)."""
    seen = 0

    async def inner() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > MAX_BODY_BYTES:
            raise TooLarge
        return message
    return inner


async def _form(request: Request) -> tuple[dict[str, str], dict[str, tuple[bytes, str]]]:
    """The text fields and uploaded files of a form (each file at most MAX_UPLOAD_BYTES, checked as MIDI)."""
    async with request.form(max_files=2, max_fields=20, max_part_size=64 * 1024) as form:
        texts: dict[str, str] = {}
        files: dict[str, tuple[bytes, str]] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(MAX_UPLOAD_BYTES + 1)
                if not data and not value.filename:
                    continue  # a file field left empty
                try:
                    check_midi_upload(data, MAX_UPLOAD_BYTES)
                except ValueError as exc:
                    raise FieldError(name, f"{_shown_name(value.filename)}: {exc}") from None
                files[name] = (data, _shown_name(value.filename))
            else:
                texts[name] = value
        return texts, files


def _shown_name(filename: str | None) -> str:
    """An uploaded file's name as the page shows it (no folders, printable, short); never used as a path."""
    name = (filename or "upload.mid").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in name if c.isprintable())[:80] or "upload.mid"


def build_app(engine: Engine, queue: JobQueue, *, local_only: bool = True,
              info: dict | None = None) -> Starlette:
    """The application for ``engine`` and ``queue`` (started and stopped with the app). ``local_only``
    accepts only requests addressed to this machine by name (no DNS rebinding). ``info``: shown on the page
    (version, warnings)."""
    store = engine.store

    async def submit(make: Callable[[], Task]) -> Response:
        task = await run_in_threadpool(make)
        try:
            job = queue.submit(task.label, task.audio_seconds, task.run, lambda: store.remove(task.clip))
        except Busy as exc:
            store.remove(task.clip)
            return problem(503, str(exc))
        return JSONResponse(queue.view(job.id), status_code=202)

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def options(request: Request) -> Response:
        from audiodiff.serve.prompt_fields import options as prompt_options

        return JSONResponse({**prompt_options(engine.pipeline.programs), **(info or {}),
                             "max_upload_bytes": MAX_UPLOAD_BYTES, "queue": queue.status()})

    async def prompt(request: Request) -> Response:
        from audiodiff.serve.prompt_fields import rewrite

        try:
            body = await request.json()
            text, field, value = str(body.get("text", "")), body.get("field"), body.get("value")
        except (ValueError, AttributeError):
            return problem(400, "want a JSON object with text, and optionally field and value")
        try:
            return JSONResponse(rewrite(text, field, value))
        except FieldError as exc:
            return problem(400, str(exc), exc.field)

    async def generate(request: Request) -> Response:
        texts, files = await _form(request)
        return await submit(lambda: engine.generate(
            texts.get("prompt", ""), chords=texts.get("chords", ""), form=texts.get("form", ""),
            bars_per_section=texts.get("bars_per_section", ""), melody=files.get("melody"),
            melody_track=texts.get("melody_track", ""), drums=texts.get("drums", "1") != "0"))

    async def render(request: Request) -> Response:
        texts, files = await _form(request)
        if "render_midi" not in files:
            raise FieldError("render_midi", "choose a MIDI file to render")
        return await submit(lambda: engine.render(files["render_midi"], texts.get("seed", ""),
                                                  texts.get("seconds", "")))

    async def edit(request: Request) -> Response:
        texts, _ = await _form(request)
        clip, action = request.path_params["clip"], request.path_params["action"]
        if action == "repaint":
            return await submit(lambda: engine.repaint(clip, texts.get("bars", "")))
        if action == "extend":
            return await submit(lambda: engine.extend(clip, texts.get("seconds", "")))
        if action == "regenerate":
            return await submit(lambda: engine.regenerate(clip, texts.get("keep", ""), texts.get("seed", "")))
        raise NotFound(f"no action {action!r}; actions: repaint, extend, regenerate")

    async def job(request: Request) -> Response:
        try:
            return JSONResponse(queue.view(request.path_params["job"]))
        except KeyError:
            raise NotFound(f"no job {request.path_params['job']!r}") from None

    async def cancel(request: Request) -> Response:
        try:
            return JSONResponse(queue.cancel(request.path_params["job"]))
        except KeyError:
            raise NotFound(f"no job {request.path_params['job']!r}") from None

    async def queue_status(request: Request) -> Response:
        return JSONResponse(queue.status())

    async def history(request: Request) -> Response:
        from audiodiff.serve.clips import summary

        out = []
        for clip in store.clips():
            try:
                out.append(summary(store, clip))
            except (NotFound, ValueError, KeyError, TypeError):
                continue  # a sidecar not written by audiodiff, or being removed
        return JSONResponse(out)

    async def clip_info(request: Request) -> Response:
        from audiodiff.serve.clips import details

        try:
            return JSONResponse(await run_in_threadpool(details, store, request.path_params["clip"]))
        except (ValueError, KeyError, TypeError):
            raise NotFound(f"clip {request.path_params['clip']} has no readable sidecar") from None

    async def clip_file(request: Request) -> Response:
        clip, kind = request.path_params["clip"], request.path_params["kind"]
        path = store.existing(clip, kind)
        disposition = "attachment" if request.query_params.get("download") else "inline"
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                            filename=path.name, content_disposition_type=disposition)

    async def not_found(request: Request, exc: Exception) -> Response:
        return problem(404, str(exc))

    async def bad_input(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FieldError)
        return problem(400, str(exc), exc.field)

    async def too_large(request: Request, exc: Exception) -> Response:
        return problem(413, f"the request is larger than {MAX_BODY_BYTES // 1024} KiB")

    async def failed(request: Request, exc: Exception) -> Response:
        from starlette.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return problem(exc.status_code, str(exc.detail))
        log.exception("request %s %s failed", request.method, request.url.path)
        return problem(500, f"internal error ({type(exc).__name__}); the server log has the details")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        queue.start()
        yield
        queue.stop()

    routes = [
        Route("/", page),
        Route("/api/options", options),
        Route("/api/prompt", prompt, methods=["POST"]),
        Route("/api/generate", generate, methods=["POST"]),
        Route("/api/render", render, methods=["POST"]),
        Route("/api/queue", queue_status),
        Route("/api/jobs/{job}", job),
        Route("/api/jobs/{job}/cancel", cancel, methods=["POST"]),
        Route("/api/clips", history),
        Route("/api/clips/{clip}", clip_info),
        Route("/api/clips/{clip}/files/{kind}", clip_file),
        Route("/api/clips/{clip}/{action}", edit, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(Guard)]
    if local_only:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=LOCAL_HOSTS))
    handlers: dict[type[Exception] | int, Callable[[Request, Exception], Awaitable[Response]]] = {
        NotFound: not_found, FieldError: bad_input, TooLarge: too_large, Exception: failed, 404: failed,
        405: failed}
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)
