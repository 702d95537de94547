"""The viewer page in a real browser: headless Chromium driven by Playwright.

Needs the ``playwright`` Python package (``pip install -e '.[browser]'``) and a Chromium binary
(Debian: ``apt-get install chromium``; another one via ``GLOWGAN_CHROMIUM=/path/to/chrome``).
Playwright's own browser download is not used. Without them the tests are skipped, unless
``GLOWGAN_REQUIRE_BROWSER=1`` (set by ``make test-browser`` and CI), which turns the skip into a failure.
Waits are generous and keyed to the page's explicit signals (``body[data-state="ready"]``,
``body[data-exposure]``), never to fixed sleeps.
"""

import functools
import http.server
import os
import shutil
import threading

import numpy as np
import pytest

from glowgan import hdrio, tonemap
from glowgan.viewer import imagedata
from glowgan.viewer.export import export_static
from glowgan.viewer.server import ViewerServer

WAIT_MS = 60_000  # generous: CI machines are slow and shared
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
# (x, y, width, height) and linear RGB of the constant patches of the synthetic test image.
PATCHES = {
    "dark": ((4, 4, 10, 10), (0.05, 0.05, 0.05)),
    "grey": ((20, 4, 10, 10), (0.18, 0.18, 0.18)),
    "colour": ((36, 4, 10, 10), (0.5, 0.25, 0.1)),
    "bright": ((52, 4, 10, 10), (3.0, 3.0, 3.0)),
}
BACKGROUND = 0.02
HIGHLIGHT = ((70, 30), (200.0, 180.0, 150.0))  # one hot pixel: the Reinhard white point


def _chromium() -> str | None:
    candidates = [os.environ.get("GLOWGAN_CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def _unavailable(reason: str):
    if os.environ.get("GLOWGAN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (GLOWGAN_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[browser]' (or run make test-browser)")
    executable = _chromium()
    if executable is None:
        _unavailable("no Chromium found: apt-get install chromium, or set GLOWGAN_CHROMIUM")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, timeout=WAIT_MS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 640}, device_scale_factor=1)
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, errors


def _scene() -> np.ndarray:
    hdr = np.full((40, 80, 3), BACKGROUND, np.float32)  # [H, W, 3] linear
    for (x, y, w, h), rgb in PATCHES.values():
        hdr[y : y + h, x : x + w] = rgb
    (x, y), rgb = HIGHLIGHT
    hdr[y, x] = rgb
    return hdr


def _centre(name):
    (x, y, w, h), _ = PATCHES[name]
    return x + w // 2, y + h // 2


@pytest.fixture
def scene(tmp_path):
    path = tmp_path / "patches.exr"
    hdrio.write_hdr(path, _scene())
    # what the page receives: the half-float payload
    received, _ = imagedata.decode_image(imagedata.image_payload(path))
    return path, received


@pytest.fixture
def serve():
    servers = []

    def start(sources):
        server = ViewerServer(sources, port=0)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _wait_ready(page):
    page.wait_for_selector('body[data-state="ready"]', state="attached")


def _set_exposure(page, stops: float):
    page.fill("#exposure", str(stops))
    page.press("#exposure", "Enter")
    page.wait_for_function(f"document.body.dataset.exposure === '{stops:.3f}'")


def _shown(page, x, y):
    return page.evaluate(f"glowganViewer.shownPixel(0, {x}, {y})")[:3]


def _codes(display: np.ndarray) -> np.ndarray:
    """8-bit codes of sRGB-encoded display values, quantised like hdrio.write_ldr."""
    return np.floor(np.asarray(display, np.float64) * 255 + 0.5).astype(int)


def _srgb_code(linear: float) -> int:
    """IEC 61966-2-1 encoding of one linear value, clipped, as an 8-bit code (the formula, not tonemap.py)."""
    x = min(max(linear, 0.0), 1.0)
    encoded = 12.92 * x if x <= 0.0031308 else 1.055 * x ** (1 / 2.4) - 0.055
    return int(np.floor(encoded * 255 + 0.5))


def test_exposure_slider_operators_and_readout_match_python(page, scene, serve):
    path, received = scene
    page.goto(serve([path]))
    _wait_ready(page)
    assert page.evaluate("location.hash").startswith("#view=")  # one image: opened directly
    auto = float(page.evaluate("glowganViewer.state.autoExposure"))
    assert auto == pytest.approx(tonemap.auto_exposure_stops(_scene()), abs=1e-6)

    _set_exposure(page, 0.0)
    before = {name: _shown(page, *_centre(name)) for name in PATCHES}
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("+")
    page.keyboard.press("+")  # two half stops: +1 stop, the linear value doubles
    page.wait_for_function("document.body.dataset.exposure === '1.000'")
    for name, (_, rgb) in PATCHES.items():
        shown = _shown(page, *_centre(name))
        for channel, value in enumerate(rgb):
            assert abs(before[name][channel] - _srgb_code(value)) <= 1, (name, before[name])
            assert abs(shown[channel] - _srgb_code(2.0 * value)) <= 1, (name, shown)
    assert _shown(page, *_centre("bright")) == [255, 255, 255]
    assert before["grey"][0] < _shown(page, *_centre("grey"))[0]

    page.fill("#exposure-slider", "-2")  # the slider itself
    page.wait_for_function("document.body.dataset.exposure === '-2.000'")
    for operator in tonemap.OPERATORS:
        page.select_option("#operator", operator)
        page.wait_for_function(f"document.body.dataset.operator === '{operator}'")
        expected = _codes(tonemap.tonemap(received, exposure_stops=-2.0, operator=operator))
        for name in PATCHES:
            x, y = _centre(name)
            assert np.abs(np.array(_shown(page, x, y)) - expected[y, x]).max() <= 1, (operator, name)

    x, y = _centre("colour")
    point = page.evaluate(f"glowganViewer.clientPoint(0, {x}, {y})")
    page.mouse.move(point["x"], point["y"])
    page.wait_for_function(f"document.getElementById('readout').dataset.x === '{x}'")
    readout = page.eval_on_selector("#readout", "e => ({...e.dataset, text: e.textContent})")
    rgb = np.array(PATCHES["colour"][1])
    assert [float(readout[c]) for c in "rgb"] == pytest.approx(rgb, rel=2.0**-10)
    assert float(readout["lum"]) == pytest.approx(rgb @ [0.2126, 0.7152, 0.0722], rel=2.0**-10)
    assert "R 0.5000  G 0.2500" in readout["text"] and "L 0.2923 (2^\u22121.77)" in readout["text"]
    assert "\u22122.00 stops" in readout["text"]  # the exposure in stops, as shown


def test_static_export_works_from_disk_and_from_a_static_server(page, scene, tmp_path):
    path, _ = scene
    out = tmp_path / "site"
    export_static([path], out, progress=False)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    static_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=static_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        x, y = _centre("grey")
        for url in (out.joinpath("index.html").as_uri(), f"http://127.0.0.1:{static_server.server_address[1]}/"):
            page.goto(url)
            _wait_ready(page)
            assert page.is_hidden("#message"), page.inner_text("#message")
            _set_exposure(page, 1.0)
            assert np.abs(np.array(_shown(page, x, y)) - _srgb_code(0.36)).max() <= 1, url
    finally:
        static_server.shutdown()
        static_server.server_close()


def test_gallery_pairs_and_shows_unreadable_files(page, scene, serve, tmp_path):
    path, _ = scene
    folder = tmp_path / "gallery"
    folder.mkdir()
    shutil.copy(path, folder / "patches.exr")
    hdrio.write_ldr(folder / "patches.png", tonemap.tonemap(_scene()))
    (folder / "broken.exr").write_bytes(b"not an EXR")
    page.goto(serve([folder]))
    _wait_ready(page)
    assert page.locator(".card").count() == 2
    error = page.wait_for_selector(".thumb-error")
    assert "broken.exr" in error.inner_text() and "not an OpenEXR file" in error.inner_text()
    page.click(".card:has-text('broken.exr')")
    panel_error = page.wait_for_selector(".panel .error")
    assert "not an OpenEXR file" in panel_error.inner_text()
    page.keyboard.press("Escape")
    page.wait_for_selector("#gallery:not([hidden])")
    page.click(".card:has-text('patches.exr')")
    page.wait_for_selector("#extras a:has-text('preview')")
    _wait_ready(page)
    assert page.locator(".panel").count() == 1
