"""The page in a real browser: Debian's Chromium, driven by Playwright, against `siamface serve`.

The server runs as the command a user would start (a tiny untrained model, on a free loopback
port); the browser picks two photos on the page (real LFW images when ../shared/lfw is there,
else synthetic 250x250 frames), reads the verdict from the page, enrolls one photo in a gallery
and identifies it, and saves a screenshot ($SIAMFACE_SCREENSHOT, else in the test's folder).
Under CI (CI=true) a missing Chromium fails the test; elsewhere it skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from conftest import SHARED_LFW, missing
from inference.conftest import random_photo, write_tiny_run
from serve.conftest import free_port, wait_until_up

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> Path:
    """Debian's Chromium; fails under CI when it is missing, else skips."""
    if not CHROMIUM.is_file():
        missing(f"{CHROMIUM} not found: `apt-get install chromium` (.ci/run does)")
    return CHROMIUM


def two_photos(folder: Path) -> tuple[list[Path], bool]:
    """Two photos to upload and whether they have faces to detect: the first two JPEGs of the
    real deep-funneled archive, else two synthetic frames; the second made black and white."""
    archive = SHARED_LFW / "lfw-deepfunneled.tgz"
    if not archive.is_file() and os.environ.get("CI") == "true":  # CI has it: test detection
        missing(f"real LFW data not found at {SHARED_LFW}")
    paths = []
    if archive.is_file():
        with tarfile.open(archive) as tar:
            for member in tar:
                if member.name.endswith(".jpg"):
                    paths.append(folder / Path(member.name).name)
                    paths[-1].write_bytes(tar.extractfile(member).read())
                    if len(paths) == 2:
                        Image.open(paths[1]).convert("L").save(paths[1])
                        return paths, True
    for seed in (1, 2):
        paths.append(folder / f"frame-{seed}.png")
        Image.fromarray(random_photo(seed)).save(paths[-1])
    Image.open(paths[-1]).convert("L").save(paths[-1])
    return paths[-2:], False


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, list[Path], bool]]:
    """`siamface serve` on a free loopback port: (its URL, the two photos, detection on)."""
    photos, faces = two_photos(tmp_path)
    # a model of colour photos alone: the black-and-white photo gets its note
    run_dir = write_tiny_run(tmp_path / "run", threshold=4.5, overrides=["augment.grey_p=0"])
    port = free_port()
    command = [sys.executable, "-m", "siamface", "serve", str(run_dir), "--port", str(port),
               "--db", str(tmp_path / "galleries.sqlite3"), "--workers", "1",
               *([] if faces else ["--no-detect"])]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, server)
        yield url, photos, faces
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_page_verifies_two_photos_and_identifies_one(served, tmp_path):
    from playwright.sync_api import sync_playwright

    url, (photo_a, photo_b), faces = served
    executable = chromium()
    screenshot = Path(os.environ.get("SIAMFACE_SCREENSHOT", tmp_path / "serve-page.png"))
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(executable),
            args=CHROMIUM_ARGS, viewport={"width": 1000, "height": 760})
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(url)
            page.set_input_files("#photo-a", str(photo_a))
            page.set_input_files("#photo-b", str(photo_b))
            with page.expect_response(f"{url}/api/verify") as answer:
                page.click("#verify-button")
            api = answer.value.json()
            page.wait_for_selector("#verdict[data-verdict]")
            verdict = page.inner_text("#verdict")
            assert verdict.startswith("Same person" if api["same"] else "Different people")
            assert f"probability {api['probability']:.3f}" in verdict
            assert f"threshold {api['threshold_probability']:.3f}" in verdict
            assert page.is_visible("#frame-a .box") is faces  # the face boxed when detected
            if faces:
                assert "face" in page.inner_text("#faces-a")
            assert api["photo_a"]["note"] is None and "black" not in page.inner_text("#faces-a")
            assert page.inner_text("#faces-b").endswith(f"; {api['photo_b']['note']}")
            assert api["photo_b"]["note"].startswith("the photo is black and white but the model")
            page.screenshot(path=str(screenshot), full_page=True)

            page.click("#show-gallery")
            page.fill("#new-gallery", "friends")
            page.click("#create-gallery")
            page.wait_for_selector("#gallery-select option[value=friends]", state="attached")
            page.fill("#person-name", "Person A")
            page.set_input_files("#enroll-photos", str(photo_a))
            page.click("#enroll-button")
            page.wait_for_selector("#people li")
            page.set_input_files("#probe", str(photo_a))
            page.click("#identify-button")
            page.wait_for_selector("#identity[data-verdict]")
            assert page.get_attribute("#identity", "data-verdict") == "Person A"
            assert page.inner_text("#matches tbody tr:first-child").split("\t")[1] == "Person A"
            page.set_input_files("#probe", str(photo_b))  # black and white: its note is shown
            page.click("#identify-button")
            page.wait_for_selector("#identity:has-text('; the photo is black and white but')")
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    own = (f"{url}/", f"blob:{url}/")  # the server, and the photos picked (object URLs)
    assert requested and all(u.startswith(own) for u in requested)  # nothing from elsewhere
