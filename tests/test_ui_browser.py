"""The web UI in a real browser: Playwright (sync API) driving Debian's Chromium against the app
served on 127.0.0.1 with the tiny backend and the tiny encoder.

Chromium is looked for at ``$VSLERP_CHROMIUM`` (default ``/usr/bin/chromium``); without it
these tests skip, saying how to install it (``make test`` installs it when run as root), except
under CI (``$CI`` set), where a missing browser fails them.

Each test takes a screenshot of its tab. They are written to the test's temporary folder; with
``VSLERP_UPDATE_SCREENSHOTS=1`` they replace the committed ones in ``docs/screenshots/``
(the page shows the backend as "tiny (offline, random weights)", so they are honest).
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from ui_helpers import STEPS, Files, RunningApp, launch_tiny_app, write_files

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("VSLERP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
#: Longest wait for anything the model produces (the first one loads the tiny model).
MODEL_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return write_files(tmp_path_factory.mktemp("ui-browser-files"))


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    if not CHROMIUM.exists():
        message = (f"browser tests need Chromium at {CHROMIUM}, which is missing: install "
                   f"Debian's package (sudo apt-get install chromium; `make test` does it "
                   f"when run as root) or point VSLERP_CHROMIUM at a Chromium binary")
        # CI must run the browser tests, never skip them: there a missing browser is a failure.
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield from launch_tiny_app(tmp_path_factory.mktemp("ui-browser-out"))


@pytest.fixture(scope="module")
def context(running: RunningApp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        ctx = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture
def page(context: Any, running: RunningApp) -> Iterator[Any]:
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(running.url)
    page.wait_for_selector("#vslerp-file-a input[type=file]", state="attached")
    try:
        yield page
    finally:
        page.close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """Full-page screenshot as a palette PNG (small enough to commit)."""
    folder = SCREENSHOTS if os.environ.get("VSLERP_UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ui-{name}-tiny.png"
    image = Image.open(io.BytesIO(page.screenshot(full_page=True, animations="disabled")))
    image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                  dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def upload_endpoints(page: Any, files: Files) -> None:
    page.locator("#vslerp-file-a input[type=file]").set_input_files(files.a)
    page.locator("#vslerp-file-b input[type=file]").set_input_files(files.b)
    expect(page.locator("#vslerp-preview-a img")).to_be_visible()
    expect(page.locator("#vslerp-preview-b img")).to_be_visible()


def set_number(page: Any, elem_id: str, value: float) -> None:
    """Type into the number box of a slider or number field."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def drag_slider_to(page: Any, elem_id: str, fraction: float) -> None:
    """Press the mouse on a slider's track at ``fraction`` of its width and release it."""
    track = page.locator(f"#{elem_id} input[type=range]")
    box = track.bounding_box()
    track.click(position={"x": box["width"] * fraction, "y": box["height"] / 2})


def open_accordion(page: Any, label: str) -> None:
    """Open the visible accordion called ``label`` (hidden tabs have their own)."""
    page.get_by_text(label, exact=True).filter(visible=True).first.click()


def test_interpolate_upload_move_alpha_click_and_see_the_image(
        page: Any, files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expect(page.locator("#vslerp-backend input")).to_have_value("tiny (offline, random weights)")
    expect(page.locator("#vslerp-banner")).to_contain_text("offline, random weights")
    upload_endpoints(page, files)
    open_accordion(page, "Decoding settings")
    set_number(page, "vslerp-steps", STEPS)
    drag_slider_to(page, "vslerp-alpha", 0.75)  # α = 1.5 (before any image: decodes nothing)
    expect(page.locator("#vslerp-alpha input[type=number]")).to_have_value("1.5")
    expect(page.locator("#vslerp-result img")).to_have_count(0)
    start = time.perf_counter()
    page.locator("#vslerp-generate").click()
    expect(page.locator("#vslerp-result img")).to_be_visible(timeout=MODEL_TIMEOUT_MS)
    elapsed = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n[ui] click to first image, tiny model, {STEPS} steps (first use loads the "
              f"model unless another test did): {elapsed:.2f} s")
    expect(page.locator("#vslerp-status")).to_contain_text("α = 1.5")
    expect(page.locator("#vslerp-geometry")).to_contain_text("cos(A, B)")
    first = page.locator("#vslerp-result img").get_attribute("src")
    screenshot(page, "interpolate", tmp_path)
    # Now the sliders are live: moving α decodes again, no click needed.
    drag_slider_to(page, "vslerp-alpha", 0.25)  # α = -1.5
    expect(page.locator("#vslerp-status")).to_contain_text("α = -1.5",
                                                           timeout=MODEL_TIMEOUT_MS)
    # The image element swaps its source a moment after the status text renders (both come
    # from one response): wait for the swap rather than reading the attribute once.
    expect(page.locator("#vslerp-result img")).not_to_have_attribute("src", first,
                                                                      timeout=MODEL_TIMEOUT_MS)
    # Scrubbing back to α = 1.5 is served from the result cache: the same picture again.
    drag_slider_to(page, "vslerp-alpha", 0.75)
    expect(page.locator("#vslerp-status")).to_contain_text("from the cache",
                                                           timeout=MODEL_TIMEOUT_MS)
    expect(page.locator("#vslerp-result img")).to_have_attribute("src", first,
                                                                 timeout=MODEL_TIMEOUT_MS)


def test_grid_shows_t_by_k_cells(page: Any, files: Files, tmp_path: Path) -> None:
    upload_endpoints(page, files)
    page.get_by_role("tab", name="Grid").click()
    expect(page.locator("#vslerp-grid-endpoints")).to_contain_text(files.a.name)
    page.locator("#vslerp-grid-t textarea, #vslerp-grid-t input").first.fill("0:1:3")
    page.locator("#vslerp-grid-alpha textarea, #vslerp-grid-alpha input").first.fill("-1,0,1")
    open_accordion(page, "Decoding settings")
    set_number(page, "vslerp-grid-steps", STEPS)
    page.locator("#vslerp-grid-go").click()
    expect(page.locator("#vslerp-grid-summary")).to_contain_text("3 × 3 cells",
                                                                 timeout=MODEL_TIMEOUT_MS)
    cells = page.locator("#vslerp-gallery button.thumbnail-item")
    expect(cells).to_have_count(9)
    expect(page.locator("#vslerp-sheet img")).to_be_visible()
    # Gradio splits the shown file name from its extension; the download link carries it whole.
    expect(page.locator("#vslerp-grid-zip a[href]").first).to_have_attribute(
        "href", re.compile(r"vslerp-grid\.zip$"))
    screenshot(page, "grid", tmp_path)


def test_bad_file_shows_an_error_naming_it(page: Any, files: Files) -> None:
    page.locator("#vslerp-file-a input[type=file]").set_input_files(files.notes)
    toast = page.locator(".toast-body").filter(has_text="notes.png")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text("not an image")
    page.locator("#vslerp-file-b input[type=file]").set_input_files(files.broken)
    expect(page.locator(".toast-body").filter(has_text="broken.png")).to_contain_text(
        "truncated")
    # The app is still up: the user clears the refused file and the next good one is taken.
    page.locator("#vslerp-file-b button[aria-label=Clear]").click()
    page.locator("#vslerp-file-b input[type=file]").set_input_files(files.b)
    expect(page.locator("#vslerp-preview-b img")).to_be_visible()


def test_conformity_tab_scores_images(page: Any, files: Files, tmp_path: Path) -> None:
    page.get_by_role("tab", name="Conformity").click()
    uploads = [*files.photos, *files.generated[:3]]
    page.locator("#vslerp-score-files input[type=file]").set_input_files(uploads)
    expect(page.locator("#vslerp-score-files")).to_contain_text(files.photos[0].stem)
    page.locator("#vslerp-score-go").click()
    expect(page.locator("#vslerp-score-summary")).to_contain_text("6 images",
                                                                  timeout=MODEL_TIMEOUT_MS)
    # Gradio's dataframe is an ARIA grid: one header row plus one row per scored item.
    expect(page.locator("#vslerp-score-table [role=row]")).to_have_count(len(uploads) + 1)
    expect(page.locator("#vslerp-histogram img")).to_be_visible()
    expect(page.locator("#vslerp-most button.thumbnail-item")).to_have_count(3)
    screenshot(page, "conformity", tmp_path)


def test_rank_tab_renders_the_report(page: Any, files: Files, tmp_path: Path) -> None:
    page.get_by_role("tab", name="Rank generators").click()
    page.locator("#vslerp-rank-ref input[type=file]").set_input_files(files.generated[:5])
    page.locator("#vslerp-rank-name-1 textarea, #vslerp-rank-name-1 input").first.fill("photos")
    page.locator("#vslerp-rank-files-1 input[type=file]").set_input_files(files.photos)
    page.locator("#vslerp-rank-name-2 textarea, #vslerp-rank-name-2 input").first.fill("zipped")
    page.locator("#vslerp-rank-files-2 input[type=file]").set_input_files(files.archive)
    expect(page.locator("#vslerp-rank-files-2")).to_contain_text("outputs")
    page.locator("#vslerp-rank-go").click()
    expect(page.locator("#vslerp-rank-summary")).to_contain_text("Closest to the reference",
                                                                 timeout=MODEL_TIMEOUT_MS)
    expect(page.locator("#vslerp-rank-table [role=row]")).to_have_count(1 + 3)
    report = page.frame_locator("#vslerp-report iframe")
    expect(report.locator("h1")).to_contain_text("Conformity ranking")
    expect(report.locator("body")).to_contain_text("zipped")
    expect(page.locator("#vslerp-report-files")).to_contain_text("report")
    page.locator("#vslerp-report iframe").scroll_into_view_if_needed()
    expect(report.locator("img").first).to_be_visible()
    screenshot(page, "rank", tmp_path)


def test_about_tab_names_the_backend_and_its_mean(page: Any, tmp_path: Path) -> None:
    page.get_by_role("tab", name="About").click()
    expect(page.locator("#vslerp-about-backend")).to_contain_text("tiny")
    page.locator("#vslerp-load").click()
    expect(page.locator("#vslerp-about-backend")).to_contain_text("‖m‖",
                                                                  timeout=MODEL_TIMEOUT_MS)
    expect(page.locator("#vslerp-about-backend")).to_contain_text("D = 32")
    screenshot(page, "about", tmp_path)
