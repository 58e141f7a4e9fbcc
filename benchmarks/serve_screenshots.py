"""The pictures of ``audiodiff serve`` in README.md and docs/: the page after a generation, after a repaint,
and its history, taken in headless Chromium (Debian's chromium and chromium-driver, Selenium) with the shipped
models.

    python benchmarks/serve_screenshots.py   # -> docs/serve.png, docs/serve-repaint.png, docs/serve-history.png

Starts ``python -m audiodiff serve --port 0`` in a temporary folder (127.0.0.1 only) and stops it at the end.
The PNGs are reduced to 256 colours to stay small.
"""
from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio",
         "--hide-scrollbars", "--window-size=1400,900")


def wait_for(driver, script: str, timeout: float = 900.0):
    deadline = time.monotonic() + timeout
    while not (value := driver.execute_script(f"return {script}")):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {script}")
        time.sleep(0.2)
    return value


def save(driver, path: Path) -> None:
    driver.save_screenshot(str(path))
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    print(f"{path}: {path.stat().st_size // 1024} KiB")


def submit_and_wait(driver, button: str) -> None:
    before = driver.execute_script("return state.clip ? state.clip.id : ''")
    driver.find_element(By.ID, button).click()
    wait_for(driver, f"state.clip && state.clip.id !== '{before}' && document.querySelectorAll('#roll rect.note')"
                     ".length")
    time.sleep(1.0)  # the spectrogram image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", default=str(Path(__file__).resolve().parent.parent / "docs"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    docs = Path(args.docs)
    with tempfile.TemporaryDirectory() as out:
        server = subprocess.Popen([sys.executable, "-m", "audiodiff", "serve", "--port", "0", "--out", out],
                                  stdout=subprocess.PIPE, text=True)
        url = next(m.group(1) for line in server.stdout if (m := re.search(r"serving (http://\S+)", line)))
        options = webdriver.ChromeOptions()
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='audiodiff-chromium-')}")
        options.binary_location = args.chromium
        driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
        try:
            driver.get(url)
            wait_for(driver, "state.options")
            driver.find_element(By.ID, "prompt").send_keys("D minor, 96 bpm, 3/4, violin, 8 s, seed 7")
            driver.find_element(By.ID, "chords").send_keys("Dm | Gm A7 | Dm | A7 Dm")
            submit_and_wait(driver, "generate")
            driver.execute_script("const p = document.getElementById('player'); p.currentTime = 3.1;")
            time.sleep(0.5)
            save(driver, docs / "serve.png")
            cells = driver.find_elements(By.CSS_SELECTOR, "#ruler .bar-cell")
            ActionChains(driver).click(cells[2]).key_down(Keys.SHIFT).click(cells[3]).key_up(Keys.SHIFT).perform()
            submit_and_wait(driver, "repaint")
            cells = driver.find_elements(By.CSS_SELECTOR, "#ruler .bar-cell")
            ActionChains(driver).click(cells[2]).key_down(Keys.SHIFT).click(cells[3]).key_up(Keys.SHIFT).perform()
            save(driver, docs / "serve-repaint.png")
            driver.find_element(By.ID, "extend_seconds").clear()
            driver.find_element(By.ID, "extend_seconds").send_keys("4")
            submit_and_wait(driver, "extend")
            submit_and_wait(driver, "regenerate")
            driver.refresh()
            wait_for(driver, "document.querySelectorAll('#history li[data-clip]').length === 4")
            time.sleep(1.0)
            driver.execute_script("document.getElementById('history-panel').scrollIntoView()")
            save(driver, docs / "serve-history.png")
        finally:
            driver.quit()
            server.send_signal(signal.SIGINT)
            server.wait(timeout=300)


if __name__ == "__main__":
    main()
