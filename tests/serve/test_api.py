"""The JSON API of audiodiff serve over tiny models: the command line's bytes and messages, bad inputs,
uploads, path traversal, the queue under concurrent requests."""
from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile as sf
from serve_fixtures import HEADERS, make_app, wait_job

from audiodiff.cli import main
from audiodiff.music.plan import TAIL_SECONDS
from audiodiff.serve.app import MAX_UPLOAD_BYTES

PROMPT = "D minor, 96 bpm, 3/4, violin, 3 s, seed 7"
CHORDS = "Dm | Gm A7"


@pytest.fixture
def server(tiny_ckpts, tmp_path):
    """A TestClient on a fresh app (its queue running) and the app's engine and queue."""
    from starlette.testclient import TestClient

    app, engine, queue = make_app(tiny_ckpts, tmp_path / "out")
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as client:
        yield client, engine, queue


def model_args(ckpts: dict[str, str]) -> list[str]:
    return ["--structure", ckpts["structure"], "--acoustic", ckpts["acoustic"], "--codec", ckpts["codec"]]


def generate(client, **fields) -> dict:
    """POST /api/generate and wait for the job; its last view."""
    files = {"melody": fields.pop("melody")} if "melody" in fields else None
    response = client.post("/api/generate", data={"prompt": PROMPT, **fields}, files=files, headers=HEADERS)
    assert response.status_code == 202, response.text
    return wait_job(client, response.json())


def test_generate_writes_the_same_bytes_as_the_command_line(server, tiny_ckpts, tmp_path, capsys):
    client, engine, _ = server
    job = generate(client, chords=CHORDS)
    assert job["state"] == "done", job
    wav = tmp_path / "cli.wav"
    assert main(["generate", PROMPT, "--chords", CHORDS, "-o", str(wav), "--plan-out", str(tmp_path / "cli.mid"),
                 "--threads", str(engine.threads), *model_args(tiny_ckpts)]) == 0
    clip = job["clip"]
    assert engine.store.path(clip, "wav").read_bytes() == wav.read_bytes()
    assert engine.store.path(clip, "midi").read_bytes() == (tmp_path / "cli.mid").read_bytes()
    for kind in ("wav", "midi", "json"):
        response = client.get(f"/api/clips/{clip}/files/{kind}?download=1")
        assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    audio, rate = sf.read(engine.store.path(clip, "wav"))
    assert len(audio) == round((2 * 3 * 60 / 96 + TAIL_SECONDS) * rate)  # the two bars of chords set the length
    info = client.get(f"/api/clips/{clip}").json()
    assert info["seed"] == 7 and info["chords"] == CHORDS and info["roll"]["bars"] == 2
    assert [c["id"] for c in client.get("/api/clips").json()] == [clip]


@pytest.mark.parametrize("fields, field", [
    ({"prompt": "D minorr"}, "prompt"),
    ({"prompt": "D minor, 900 bpm"}, "prompt"),
    ({"chords": "Dm | Hx7"}, "chords"),
    ({"chords": "Dm | | A7"}, "chords"),
    ({"form": "AABA", "bars_per_section": "0"}, "bars_per_section"),
    ({"bars_per_section": "4"}, "bars_per_section"),
    ({"prompt": "C major, 240 bpm, 600 s"}, "prompt"),
])
def test_a_bad_input_gets_the_command_lines_message_beside_its_field(server, tiny_ckpts, tmp_path, capsys, fields,
                                                                      field):
    client, engine, _ = server
    response = client.post("/api/generate", data={"prompt": "D minor", **fields}, headers=HEADERS)
    assert response.status_code == 400 and response.json()["field"] == field
    message = response.json()["error"]
    if fields.get("bars_per_section") != "0":  # the page checks this number itself, like argparse does
        argv = ["generate", fields.get("prompt", "D minor"), "-o", str(tmp_path / "x.wav"), *model_args(tiny_ckpts)]
        for name in ("chords", "form", "bars_per_section"):
            if name in fields:
                argv += [f"--{name.replace('_', '-')}", fields[name]]
        capsys.readouterr()
        assert main(argv) == 2
        assert capsys.readouterr().err.strip() == f"error: {message}"
    assert "Traceback" not in message and list(engine.store.root.iterdir()) == []


def test_uploads_are_limited_checked_and_parsed_before_use(server, tmp_path):
    client, engine, _ = server
    cases = [
        (b"", 400, "empty"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", 400, "not a MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00\x01", 400, "tune.mid: truncated MIDI file"),
        (b"MThd" + b"\x00" * MAX_UPLOAD_BYTES, 400, f"at most {MAX_UPLOAD_BYTES // 1024} KiB"),
        (b"MThd" + b"\x00" * (MAX_UPLOAD_BYTES + 100_000), 413, "larger than"),
    ]
    for data, status, words in cases:
        response = client.post("/api/generate", data={"prompt": "flute"}, files={"melody": ("tune.mid", data)},
                               headers=HEADERS)
        assert response.status_code == status and words in response.json()["error"], response.text
        assert str(engine.store.root) not in response.json()["error"]
    response = client.post("/api/render", data={}, headers=HEADERS)
    assert response.status_code == 400 and response.json()["field"] == "render_midi"
    chunks = iter([b"--b\r\nContent-Disposition: form-data; name=\"melody\"; filename=\"a.mid\"\r\n\r\nMThd",
                   *[b"\x00" * 1024 * 1024] * 3])  # no length given: counted as it streams in
    response = client.post("/api/generate", content=chunks,
                           headers={**HEADERS, "content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413
    assert list(engine.store.root.iterdir()) == []


def test_render_and_melody_uploads_make_clips(server, tmp_path):
    client, engine, _ = server
    plan_job = generate(client)
    midi = engine.store.path(plan_job["clip"], "midi").read_bytes()
    evil = "../../../evil.mid"
    for data, field in (({"seed": "x"}, "render_seed"), ({"seconds": "ten"}, "render_seconds"),
                        ({"seed": "-4"}, "render_seed"), ({"seconds": "-2"}, "render_seconds")):
        response = client.post("/api/render", data=data, files={"render_midi": ("a.mid", midi)}, headers=HEADERS)
        assert response.status_code == 400 and response.json()["field"] == field, response.text
    response = client.post("/api/render", data={"seed": "3"}, files={"render_midi": (evil, midi)}, headers=HEADERS)
    job = wait_job(client, response.json())
    assert job["state"] == "done" and client.get(f"/api/clips/{job['clip']}").json()["kind"] == "render"
    melody = wait_job(client, client.post("/api/generate", data={"prompt": "flute, seed 2"},
                                          files={"melody": (evil, midi)}, headers=HEADERS).json())
    assert melody["state"] == "done"
    assert "melody" in client.get(f"/api/clips/{melody['clip']}").json()["files"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing written outside --out
    assert not any(".." in p.name or "evil" in p.name for p in engine.store.root.iterdir())


@pytest.mark.parametrize("path", [
    "/api/clips/..%2F..%2Fetc%2Fpasswd/files/wav",
    "/api/clips/../../etc/passwd",
    "/api/clips/20260101-000000-abcd/files/wav",
    "/api/clips/20260101-000000-abcd/files/..%2F..%2Fx",
    "/api/clips/20260101-000000-abcd/files/stem-..%2Fx",
    "/api/clips/%2Fetc%2Fpasswd",
    "/api/jobs/nope",
    "/static/..%2F..%2Fapp.py",
    "/static/../app.py",
])
def test_no_request_reads_outside_the_folder(server, path):
    client, _, _ = server
    response = client.get(path)
    assert response.status_code == 404, (path, response.status_code, response.text[:200])
    assert "Traceback" not in response.text


def test_posts_need_the_page_header_and_a_known_host(server, tiny_ckpts, tmp_path):
    from starlette.testclient import TestClient

    client, _, _ = server
    response = client.post("/api/generate", data={"prompt": PROMPT})
    assert response.status_code == 403 and "x-audiodiff" in response.json()["error"]
    assert client.post("/api/clips/20260101-000000-abcd/repaint", data={"bars": "1"},
                       headers=HEADERS).status_code == 404
    app, _, _ = make_app(tiny_ckpts, tmp_path / "other")
    with TestClient(app, base_url="http://evil.example") as other:  # DNS rebinding
        assert other.get("/api/clips").status_code == 400
    assert "default-src 'self'" in client.get("/").headers["content-security-policy"]


def test_edits_repaint_extend_and_new_takes(server):
    client, engine, _ = server
    source = generate(client, prompt="D minor, 96 bpm, 3/4, violin, 6 s, seed 7")["clip"]

    def edit(action, **data):
        response = client.post(f"/api/clips/{source}/{action}", data=data, headers=HEADERS)
        return response if response.status_code != 202 else wait_job(client, response.json())

    repaint = edit("repaint", bars="2-3")
    assert repaint["state"] == "done"
    old, _ = sf.read(engine.store.path(source, "wav"), dtype="int16")
    new, rate = sf.read(engine.store.path(repaint["clip"], "wav"), dtype="int16")
    info = client.get(f"/api/clips/{source}").json()["roll"]
    bar = int(round(info["steps_per_bar"] * info["seconds_per_step"] * rate))
    fade = int(0.03 * rate) + 2 * engine.pipeline.codec.hop_length  # the cross-fade, and bars start on a frame
    assert np.array_equal(old[:bar - fade], new[:bar - fade]) and not np.array_equal(old, new)
    extend = edit("extend", seconds="2")
    assert extend["state"] == "done"
    assert client.get(f"/api/clips/{extend['clip']}").json()["seconds"] == pytest.approx(8.0)
    take = edit("regenerate", keep="melody,chords", seed="11")
    assert take["state"] == "done"
    take_info = client.get(f"/api/clips/{take['clip']}").json()
    source_info = client.get(f"/api/clips/{source}").json()
    assert take_info["seed"] == 11 and take_info["parent"] == source
    melody = [t for t in take_info["roll"]["tracks"] if t["name"] == "melody"]
    assert melody == [t for t in source_info["roll"]["tracks"] if t["name"] == "melody"]
    for action, data, field in (("repaint", {"bars": "5-8"}, "bars"), ("repaint", {"bars": "x"}, "bars"),
                                ("extend", {"seconds": "-1"}, "extend_seconds"),
                                ("extend", {"seconds": "nan"}, "extend_seconds"),
                                ("regenerate", {"keep": "tuba"}, "keep"), ("dance", {}, None)):
        response = edit(action, **data)
        assert response.status_code == (404 if field is None else 400)
        assert response.json()["field"] == field
    assert len(client.get("/api/clips").json()) == 4


def test_prompt_pickers_rewrite_one_field(server):
    client, _, _ = server

    def ask(**body):
        return client.post("/api/prompt", json=body, headers=HEADERS)

    assert ask(text="violin, Dm", field="bpm", value=96).json()["text"] == "D minor, 96 bpm, violin"
    assert ask(text="violin, Dm 90", field="bpm", value="").json()["text"] == "D minor, violin"
    assert ask(text="", field="program", value="73").json()["text"] == "flute"
    response = ask(text="violin", field="bpm", value=900)
    assert response.status_code == 400 and response.json()["field"] == "bpm"
    assert ask(text="violin violin").json()["field"] == "prompt"
    assert ask(text="Dm").json()["plays"] == "D minor, 100 bpm, 4/4, acoustic grand piano, 10 s"
    options = client.get("/api/options").json()
    assert len(options["keys"]) == 24 and options["meters"] == ["2/4", "3/4", "4/4", "6/8"]
    assert {"program": 40, "name": "violin"} in options["instruments"] and options["queue"]["waiting"] == 0


def _gate(engine):
    """Make the engine's generations wait for the returned event (so that jobs queue up behind one)."""
    gate, original = threading.Event(), engine.pipeline.generate

    def slow(*args, **kwargs):
        assert gate.wait(60)
        return original(*args, **kwargs)
    engine.pipeline.generate = slow
    return gate


def test_concurrent_requests_queue_or_get_busy_and_the_server_goes_on(tiny_ckpts, tmp_path):
    from starlette.testclient import TestClient

    app, engine, queue = make_app(tiny_ckpts, tmp_path / "out", max_waiting=3)
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as client:
        gate = _gate(engine)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: client.post("/api/generate", data={"prompt": f"flute, 2 s, seed {i}"},
                                                          headers=HEADERS), range(8)))
        codes = sorted(a.status_code for a in answers)
        assert codes == [202] * 4 + [503] * 4  # one runs, three wait, the rest are refused
        assert all("busy" in a.json()["error"] for a in answers if a.status_code == 503)
        jobs = [a.json() for a in answers if a.status_code == 202]
        views = {j["id"]: client.get(f"/api/jobs/{j['id']}").json() for j in jobs}
        assert sorted(v.get("place", 0) for v in views.values()) == [0, 1, 2, 3]
        running = next(i for i, v in views.items() if v["state"] == "running")
        assert client.get("/api/queue").json() == {"running": running, "waiting": 3, "max_waiting": 3}
        last = next(i for i, v in views.items() if v.get("place") == 3)
        assert client.post(f"/api/jobs/{last}/cancel", headers=HEADERS).json()["state"] == "cancelled"
        gate.set()
        states = sorted(wait_job(client, j)["state"] for j in jobs)
        assert states == ["cancelled", "done", "done", "done"]
        assert len(engine.store.clips()) == 3
        assert generate(client)["state"] == "done"  # still alive


def test_a_page_that_went_away_loses_its_waiting_jobs(tiny_ckpts, tmp_path):
    import time

    from starlette.testclient import TestClient

    app, engine, queue = make_app(tiny_ckpts, tmp_path / "out", lease=0.5)
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as client:
        gate = _gate(engine)
        first, second = (client.post("/api/generate", data={"prompt": f"flute, 2 s, seed {i}"},
                                     headers=HEADERS).json() for i in range(2))
        time.sleep(1.0)  # nobody asks about the second job
        gate.set()
        assert wait_job(client, first)["state"] == "done"
        gone = client.get(f"/api/jobs/{second['id']}").json()
        assert gone["state"] == "cancelled" and "went away" in gone["error"]


def test_a_failed_generation_shows_its_message_and_the_server_goes_on(server):
    client, engine, _ = server
    original = engine.pipeline.generate

    def broken(*args, **kwargs):
        raise ValueError("the acoustic model produced NaN or infinite latents (seed 7)")
    engine.pipeline.generate = broken
    job = generate(client)
    assert job["state"] == "failed" and job["error"] == "the acoustic model produced NaN or infinite latents (seed 7)"

    def crash(*args, **kwargs):
        raise ZeroDivisionError("secret internals")
    engine.pipeline.generate = crash
    job = generate(client)
    assert job["state"] == "failed" and "secret" not in job["error"] and "ZeroDivisionError" in job["error"]
    assert engine.store.clips() == []
    engine.pipeline.generate = original
    assert generate(client)["state"] == "done"


def test_serve_refuses_a_port_in_use_in_one_line(tiny_ckpts, tmp_path, capsys):
    from audiodiff.cli.serve import listen

    sock = listen("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert main(["serve", "--port", str(port), "--out", str(tmp_path / "o"), *model_args(tiny_ckpts)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: cannot listen on 127.0.0.1:") and err.count("\n") == 1
    finally:
        sock.close()


def test_a_bad_melody_file_is_reported_beside_the_melody_field(server):
    import mido

    client, _, _ = server
    mid = mido.MidiFile()
    track = mido.MidiTrack([mido.Message("note_on", channel=9, note=36, velocity=90, time=0),
                            mido.Message("note_off", channel=9, note=36, velocity=0, time=240)])
    mid.tracks.append(track)
    data = io.BytesIO()
    mid.save(file=data)
    response = client.post("/api/generate", data={"prompt": "flute"}, files={"melody": ("drums.mid", data.getvalue())},
                           headers=HEADERS)
    assert response.status_code == 400
    assert response.json() == {"error": "drums.mid: no pitched notes (only drums)", "field": "melody"}


def test_every_track_is_offered_as_a_stem_that_sums_to_the_mix(server):
    client, engine, _ = server
    clip = generate(client)["clip"]
    tracks = engine.store.sidecar(clip)["plan_data"]["tracks"]
    files = client.get(f"/api/clips/{clip}").json()["files"]
    stems = [f for f in files if f.startswith("stem-")]
    assert files[:3] == ["wav", "midi", "json"] and len(stems) == len(tracks)
    assert stems[0] == f"stem-0_{tracks[0]['name'].lower()}"
    mix, rate = sf.read(io.BytesIO(client.get(f"/api/clips/{clip}/files/wav").content))
    parts = [sf.read(io.BytesIO(client.get(f"/api/clips/{clip}/files/{s}").content))[0] for s in stems]
    assert rate == 24000 and all(len(p) == len(mix) for p in parts)
    assert np.abs(np.sum(parts, axis=0) - mix).max() <= (len(parts) + 1) / 32768  # 16-bit rounding of each file


def test_serve_without_the_extra_says_how_to_install_it(tiny_ckpts, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["serve", "--out", str(tmp_path / "o"), *model_args(tiny_ckpts)]) == 2
    assert "pip install 'audiodiff[serve]'" in capsys.readouterr().err


def test_the_command_line_does_not_import_the_web_stack():
    import subprocess
    import sys

    code = ("import sys, audiodiff.cli; audiodiff.cli.build_parser(); "
            "print(sorted({'starlette', 'uvicorn'} & set(sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
