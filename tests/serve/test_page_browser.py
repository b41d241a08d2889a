"""The web page end to end in headless Chromium: search, result grid, upload, zero-shot labels."""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from openbind.index import Library, Record
from openbind.serve.app import ServeSettings, create_app
from openbind.serve.service import Service
from openbind.space.model import SpaceModel
from openbind.types import Modality
from tests.serve.conftest import mp4, png, wav

pytestmark = [pytest.mark.browser, pytest.mark.network]

CHROMIUM = Path("/usr/bin/chromium")
KEY = "browser-key"
DROP_FILE = """(b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
  return transfer;
}"""
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "serve"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def server(space: SpaceModel, library: Library, media_dir: Path) -> Iterator[str]:
    """The app on a free 127.0.0.1 port, served by uvicorn in a thread; the library also holds
    a low hum (red) and a blue video."""
    (media_dir / "hum.wav").write_bytes(wav(220))
    (media_dir / "blue.mp4").write_bytes(mp4((10, 10, 230)))
    library.add(
        space.encode("audio", [media_dir / "hum.wav"]).numpy(),
        [Record(str(media_dir / "hum.wav"), Modality.AUDIO)],
    )
    library.add(
        space.encode("video", [media_dir / "blue.mp4"]).numpy(),
        [Record(str(media_dir / "blue.mp4"), Modality.VIDEO)],
    )
    library.commit()
    service = Service(space, library, label_sets={"default": ("red", "green", "blue")})
    with _serving(create_app(service)) as url:
        yield url


@pytest.fixture
def guarded_server(space: SpaceModel, library: Library) -> Iterator[str]:
    """The app with an API key."""
    with _serving(create_app(Service(space, library), ServeSettings(api_key=KEY))) as url:
        yield url


@contextlib.contextmanager
def _serving(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn in a thread on a free 127.0.0.1 port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    # Started means the app's startup is done: the service has forked its heavy worker. A fork
    # while this thread launches the browser could hand the worker the launch's exec pipe,
    # and the launch would wait for it forever.
    deadline = time.monotonic() + 120
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_search_upload_and_labels_in_chromium(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a busy CI machine can be slow; a pass is usually instant
    assert CHROMIUM.exists(), "the browser test needs Debian's chromium (scripts/install-system.sh)"
    upload = tmp_path / "swatch.png"
    upload.write_bytes(png((10, 220, 10), size=32))  # the green swatch
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(
                viewport={"width": 1200, "height": 900}, user_agent="openbind-test"
            )
            page.goto(server)
            expect(page.locator("#status")).to_contain_text("toy_colour.test")
            expect(page.locator("#status")).to_contain_text("8 items")

            page.fill("#query-text", "red")
            page.press("#query-text", "Enter")
            cards = page.locator("#results .card")
            expect(cards).to_have_count(8)
            expect(cards.first.locator(".path")).to_have_text("hum.wav")  # a low, red sound
            expect(cards.first.locator(".badge")).to_have_text("audio")
            expect(cards.first.locator("audio")).to_have_attribute("src", "/media/6")
            expect(cards.nth(1).locator(".path")).to_have_text("red.png")
            image = cards.nth(1).locator("img")
            expect(image).to_have_attribute("src", "/media/2")
            page.wait_for_function(
                "() => document.querySelector('#results img').naturalWidth === 16"
            )
            expect(page.locator("#results .card.text blockquote").first).not_to_have_text("…")
            page.wait_for_function(
                "() => document.querySelector('#results audio').duration === 0.5"
            )
            video = page.locator("#results .card.video video")
            expect(video).to_have_count(1)
            page.wait_for_function(
                "() => document.querySelector('#results video').videoWidth === 32"
            )

            page.fill("#query-text", "")
            page.set_input_files("#file-input", str(upload))
            expect(page.locator("#drop-file")).to_contain_text("swatch.png")
            labels = page.locator("#labels li")
            expect(labels).to_have_count(3)
            expect(labels.first.locator(".label")).to_have_text("green")
            expect(cards.first.locator(".path")).to_have_text("green.png")

            page.fill("#label-list", "red, blue, yellow")
            page.click("#classify-button")
            expect(labels.first.locator(".label")).to_have_text("yellow")
            expect(labels).to_have_count(3)

            page.fill("#query-text", "red")
            page.click("#search-button")
            expect(page.locator("#weight-box")).to_be_visible()
            expect(page.locator("#summary")).to_contain_text("“red” + swatch.png")
            expect(cards.first.locator(".path")).to_have_text("yellow.png")  # red + green
            page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=True)

            page.select_option("#filter", "text")
            expect(cards).to_have_count(2)
            expect(page.locator("#error")).to_be_hidden()

            # drag and drop a red swatch onto the drop zone: labelled with the typed labels
            dropped = page.evaluate_handle(DROP_FILE, base64.b64encode(png((230, 10, 10))).decode())
            page.dispatch_event("#drop-zone", "drop", {"dataTransfer": dropped})
            expect(page.locator("#drop-file")).to_contain_text("dropped.png")
            expect(page.locator("#labels-for")).to_have_text("for dropped.png")
            expect(labels.first.locator(".label")).to_have_text("red")
        finally:
            browser.close()


def test_api_key_page_works_with_basic_auth_in_chromium(guarded_server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            anonymous = browser.new_context().request.get(guarded_server)
            assert anonymous.status == 401
            assert anonymous.json()["error"]["message"] == "unauthorized"
            context = browser.new_context(http_credentials={"username": "me", "password": KEY})
            page = context.new_page()
            assert page.goto(guarded_server).status == 200
            expect(page.locator("#status")).to_contain_text("6 items")
            page.fill("#query-text", "green")
            page.press("#query-text", "Enter")
            expect(page.locator("#results .card").first.locator(".path")).to_have_text("grass.txt")
            page.select_option("#filter", "image")
            expect(page.locator("#results .card").first.locator(".path")).to_have_text("green.png")
            page.wait_for_function(
                "() => document.querySelector('#results img').naturalWidth === 16"
            )
        finally:
            browser.close()


def test_pages_filters_plurals_and_live_updates_in_chromium(
    server: str, space: SpaceModel, library: Library, media_dir: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(server)
            expect(page.locator("#status")).to_contain_text("8 items")
            page.select_option("#k", "6")
            page.fill("#query-text", "red")
            page.press("#query-text", "Enter")
            cards = page.locator("#results .card")
            expect(cards).to_have_count(6)
            expect(page.locator("#summary")).to_contain_text("1–6 of 8 results for “red”")
            expect(page.locator("#weight-box")).to_be_hidden()  # one part: no slider
            expect(page.locator("#prev-page")).to_be_disabled()
            page.click("#next-page")
            expect(cards).to_have_count(2)
            expect(page.locator("#summary")).to_contain_text("7–8 of 8 results")
            expect(page.locator("#page-info")).to_have_text("page 2 of 2")
            expect(page.locator("#next-page")).to_be_disabled()

            page.fill("#filters", "path=notes/*")
            page.press("#filters", "Enter")
            expect(cards).to_have_count(2)
            expect(page.locator("#pager")).to_be_hidden()
            page.fill("#filters", "path=red.png")
            page.press("#filters", "Enter")
            expect(page.locator("#summary")).to_contain_text("1–1 of 1 result for")
            assert str(media_dir) not in page.content()  # no server path reaches the page
            expect(cards.first.locator("img")).to_have_attribute("alt", "red.png")

            page.fill("#filters", "")
            page.press("#filters", "Enter")
            expect(page.locator("#summary")).to_contain_text("of 8 results")
            (media_dir / "crimson.png").write_bytes(png((250, 0, 0)))
            writer = Library.open(library.path)
            writer.add(
                space.encode("image", media_dir / "crimson.png").numpy(),
                [Record(str(media_dir / "crimson.png"), Modality.IMAGE)],
            )
            writer.commit()
            expect(page.locator("#updated")).to_contain_text("now 9 items")
            expect(page.locator("#summary")).to_contain_text("of 9 results")
            expect(page.locator("#status")).to_contain_text("9 items")
            expect(page.locator("#results .path", has_text="crimson.png")).to_have_count(1)
        finally:
            browser.close()
