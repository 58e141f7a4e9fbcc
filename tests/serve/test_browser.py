"""audiodiff serve in a real browser: Debian's Chromium driven by Selenium against a server over tiny models.

Skipped when Chromium or chromedriver is missing, unless AUDIODIFF_BROWSER_TESTS=required (CI sets it) where
that fails. With AUDIODIFF_SCREENSHOTS=DIR the tests save their pages there.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from serve_fixtures import LiveServer, make_app

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
PROMPT = "D minor, 96 bpm, 3/4, violin, 6 s, seed 7"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                  "--window-size=1400,1000")


def start_chromium():
    """A headless Chromium under Selenium with a fresh profile (the system's chromium and chromedriver)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='audiodiff-chromium-')}")
    options.binary_location = CHROMIUM
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def site(tiny_ckpts, tmp_path_factory):
    """(url, engine, queue, driver): a live server over tiny models and a Chromium looking at it."""
    if not (CHROMIUM and CHROMEDRIVER):
        message = "Chromium and chromedriver are needed: apt-get install chromium chromium-driver"
        if os.environ.get("AUDIODIFF_BROWSER_TESTS") == "required":
            pytest.fail(message)
        pytest.skip(message)
    app, engine, queue = make_app(tiny_ckpts, tmp_path_factory.mktemp("serve") / "out")
    with LiveServer(app) as live:
        driver = start_chromium()
        driver.implicitly_wait(0)
        try:
            driver.get(live.url)
            yield live.url, engine, queue, driver
        finally:
            driver.quit()


def wait_for(driver, script: str, timeout: float = 60.0):
    """Poll a JavaScript expression until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for: {script}"
        time.sleep(0.1)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def shoot(driver, name: str) -> None:
    folder = os.environ.get("AUDIODIFF_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / name))


def generate(driver, prompt: str, chords: str = "") -> str:
    """Type a prompt (and chords), click Generate, wait for the clip; its id."""
    from selenium.webdriver.common.by import By

    before = driver.execute_script("return state.clip ? state.clip.id : null")
    for field, text in (("prompt", prompt), ("chords", chords)):
        box = driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(text)
    driver.find_element(By.ID, "generate").click()
    return wait_for(driver, f"state.clip && state.clip.id !== {json.dumps(before)} && "
                            "document.querySelectorAll('#roll rect.note').length && state.clip.id")


def test_generate_plays_the_audio_and_shows_the_plans_notes(site):
    from selenium.webdriver.common.by import By

    url, engine, _, driver = site
    clip = generate(driver, PROMPT, "Dm | Gm A7 | Dm | A7 Dm")
    duration = wait_for(driver, "document.getElementById('player').readyState >= 1 && "
                                "document.getElementById('player').duration")
    assert duration == pytest.approx(4 * 3 * 60 / 96 + 1.0, abs=0.01)  # the 4 bars of chords and the release
    driver.execute_script("document.getElementById('player').play()")
    wait_for(driver, "document.getElementById('player').currentTime > 0.3", timeout=20)
    assert driver.execute_script("return !document.getElementById('player').paused")
    wait_for(driver, "Number(document.getElementById('playhead').getAttribute('x1')) > 0", timeout=10)
    driver.execute_script("document.getElementById('player').pause()")

    sidecar = engine.store.sidecar(clip)
    step = 60.0 / sidecar["bpm"] * {"3/4": 1, "2/4": 1, "4/4": 1, "6/8": 1.5}[sidecar["meter"]] / 4
    notes = [n for t in sidecar["plan_data"]["tracks"] for n in t["notes"] if n[1] * step < sidecar["seconds"]]
    shown = driver.execute_script("return document.querySelectorAll('#roll rect.note').length")
    assert shown == len(notes) > 0
    tracks = driver.execute_script("return new Set([...document.querySelectorAll('#roll rect.note')]"
                                   ".map(r => r.getAttribute('fill'))).size")
    assert tracks == len(sidecar["plan_data"]["tracks"])
    assert driver.find_element(By.ID, "result-meta").text.count("seed 7") == 1

    links = {a.get_attribute("class").split("download-")[1]: a.get_attribute("href")
             for a in driver.find_elements(By.CSS_SELECTOR, "#downloads a.download")}
    stems = {name for name in links if name.startswith("stem-")}
    assert set(links) - stems == {"wav", "midi", "json"} and len(stems) == len(sidecar["plan_data"]["tracks"])
    audio, rate = sf.read(io.BytesIO(fetch(links["wav"])))
    assert rate == 24000 and len(audio) == round(sidecar["seconds"] * rate)
    from audiodiff.music.midi import load_midi

    midi = Path(tempfile.mkdtemp()) / "plan.mid"
    midi.write_bytes(fetch(links["midi"]))
    plan, _ = load_midi(midi)
    assert sum(len(t.notes) for t in plan.tracks) == sum(len(t["notes"]) for t in sidecar["plan_data"]["tracks"])
    shoot(driver, "serve-generate.png")


def test_a_repaint_changes_only_the_selected_bars(site):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, engine, _, driver = site
    source = wait_for(driver, "state.clip && state.clip.id")
    cells = driver.find_elements(By.CSS_SELECTOR, "#ruler .bar-cell")
    ActionChains(driver).click(cells[1]).key_down(Keys.SHIFT).click(cells[2]).key_up(Keys.SHIFT).perform()
    assert driver.find_element(By.ID, "selection-text").text == "bars 2-3"
    driver.find_element(By.ID, "repaint").click()
    clip = wait_for(driver, f"state.clip && state.clip.id !== '{source}' && state.clip.id")
    assert "repaint" in driver.find_element(By.ID, "result-title").text
    old, rate = sf.read(engine.store.path(source, "wav"), dtype="int16")
    new, _ = sf.read(engine.store.path(clip, "wav"), dtype="int16")
    bar = int(round(3 * 60 / 96 * rate))  # a 3/4 bar at 96 bpm
    fade = int(0.03 * rate) + 2 * engine.pipeline.codec.hop_length  # the cross-fade, and bars start on a frame
    assert len(old) == len(new)
    assert np.array_equal(old[:bar - fade], new[:bar - fade])
    assert np.array_equal(old[3 * bar + fade:], new[3 * bar + fade:])
    assert not np.array_equal(old[bar:3 * bar], new[bar:3 * bar])
    cells = driver.find_elements(By.CSS_SELECTOR, "#ruler .bar-cell")  # the new clip's ruler
    ActionChains(driver).click(cells[1]).key_down(Keys.SHIFT).click(cells[2]).key_up(Keys.SHIFT).perform()
    shoot(driver, "serve-repaint.png")


def test_a_bad_chord_symbol_shows_the_command_lines_message(site):
    from selenium.webdriver.common.by import By

    url, engine, _, driver = site
    box = driver.find_element(By.ID, "chords")
    box.clear()
    box.send_keys("Dm | Hx7")
    driver.find_element(By.ID, "generate").click()
    text = wait_for(driver, "document.getElementById('error-chords').textContent")
    assert text.startswith("unknown chord symbol 'Hx7'; accepted: root A-G")
    box.clear()
    driver.find_element(By.ID, "generate").click()  # the message goes once the field is right
    wait_for(driver, "document.getElementById('error-chords').textContent === ''")


def test_a_second_tab_waits_in_the_queue_cancels_and_gives_up_its_jobs_when_closed(site):
    from selenium.webdriver.common.by import By

    url, engine, queue, driver = site
    gate, original = threading.Event(), engine.pipeline.generate

    def slow(*args, **kwargs):
        gate.wait(60)
        return original(*args, **kwargs)
    engine.pipeline.generate = slow
    first = driver.current_window_handle
    try:
        before = wait_for(driver, "state.clip.id")
        for field, text in (("prompt", "flute, 3 s, seed 1"), ("chords", "")):
            driver.find_element(By.ID, field).clear()
            driver.find_element(By.ID, field).send_keys(text)
        driver.find_element(By.ID, "generate").click()
        wait_for(driver, "[...document.querySelectorAll('#jobs .job-state')].some(e => e.textContent.startsWith("
                         "'generating'))", timeout=20)
        driver.switch_to.new_window("tab")
        driver.get(url)
        wait_for(driver, "state.options")
        driver.find_element(By.ID, "prompt").send_keys("oboe, 3 s, seed 2")
        driver.find_element(By.ID, "generate").click()
        wait_for(driver, "[...document.querySelectorAll('#jobs .job-state')].some(e => e.textContent === "
                         "'waiting: next in the queue')", timeout=20)
        wait_for(driver, "document.getElementById('queue-status').textContent === 'queue: 1 generating, 1 waiting'",
                 timeout=10)
        shoot(driver, "serve-queue.png")
        driver.find_element(By.CSS_SELECTOR, "#jobs .job.queued button.cancel").click()
        wait_for(driver, "[...document.querySelectorAll('#jobs .job-state')].some(e => e.textContent === "
                         "'cancelled')", timeout=10)
        driver.find_element(By.ID, "generate").click()
        wait_for(driver, "document.querySelectorAll('#jobs .job.queued').length === 1", timeout=20)
        waiting = driver.execute_script("return document.querySelector('#jobs .job.queued').dataset.job")
        driver.close()  # a client that goes away cancels its waiting work
        deadline = time.monotonic() + 10
        while queue.jobs[waiting].state != "cancelled":
            assert time.monotonic() < deadline, queue.jobs[waiting]
            time.sleep(0.1)
        driver.switch_to.window(first)
        gate.set()
        wait_for(driver, f"state.clip.id !== '{before}'")
    finally:
        gate.set()
        engine.pipeline.generate = original


def test_the_history_survives_a_reload(site):
    from selenium.webdriver.common.by import By

    url, engine, _, driver = site
    driver.refresh()
    wait_for(driver, "document.querySelectorAll('#history li[data-clip]').length")
    items = driver.find_elements(By.CSS_SELECTOR, "#history li[data-clip]")
    assert [i.get_attribute("data-clip") for i in items] == engine.store.clips()
    oldest = items[-1]
    oldest.find_element(By.CSS_SELECTOR, "button.open").click()
    wait_for(driver, f"state.clip.id === '{oldest.get_attribute('data-clip')}'")
    src = driver.execute_script("return document.getElementById('player').src")
    assert src.endswith(f"/api/clips/{oldest.get_attribute('data-clip')}/files/wav")
    assert all(len(i.find_elements(By.CSS_SELECTOR, "a.download-wav")) == 1 for i in items)
    shoot(driver, "serve-history.png")
