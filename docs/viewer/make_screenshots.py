"""Regenerate the screenshots in docs/viewer/ with headless Chromium (see tests/test_browser.py for needs).

    .venv/bin/python docs/viewer/make_screenshots.py

Shows three procedural sky panoramas (glowgan.data.world, 128 x 256) written as `glowgan generate`
writes its samples, and a fourth as an 8-bit JPEG "photo" (clipped at its automatic exposure), in the
gallery; then one sample at two exposures with the cursor on the sun.
"""

import argparse
import tempfile
import threading
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from glowgan import hdrio, tonemap
from glowgan.data.world import render_scenes
from glowgan.generate import write_sample
from glowgan.metrics.dynamic_range import luminance
from glowgan.viewer.gallery import image_id
from glowgan.viewer.server import ViewerServer

SEEDS = (0, 1, 2)
PHOTO_SEED = 3
SHOWN_SEED = 1
VIEWPORT = {"width": 1200, "height": 640}
WAIT_MS = 60_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="folder for the PNGs")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sky-samples"
        scenes = render_scenes("sky", SEEDS, height=128, width=256)  # [N, H, W, 3] linear
        for seed, hdr in zip(SEEDS, scenes):
            write_sample(folder, f"seed{seed:06d}", hdr)
        photo = render_scenes("sky", [PHOTO_SEED], height=128, width=256)[0]
        hdrio.write_ldr(folder / "photo.jpg", tonemap.tonemap(photo, exposure_stops=tonemap.auto_exposure_stops(photo)))
        server = ViewerServer([folder], port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            shown = scenes[SEEDS.index(SHOWN_SEED)]
            sun_y, sun_x = np.unravel_index(np.argmax(luminance(shown)), shown.shape[:2])
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium)
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(WAIT_MS)
                page.goto(server.url)
                page.wait_for_selector('body[data-state="ready"]', state="attached")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=args.out / "gallery.png")
                page.goto(f"{server.url}#view={image_id(folder / f'seed{SHOWN_SEED:06d}.exr')}")
                page.wait_for_function(
                    "document.body.dataset.state === 'ready' && glowganViewer.state.panels.every((p) => p.image)"
                    " && glowganViewer.state.panels.length > 0"
                )
                page.wait_for_load_state("networkidle")
                point = page.evaluate(f"glowganViewer.clientPoint(0, {sun_x}, {sun_y})")
                auto = float(page.evaluate("glowganViewer.state.autoExposure"))
                for name, stops in (("single-auto-exposure.png", None), ("single-minus-6-stops.png", round(auto - 6, 2))):
                    if stops is not None:  # the page opens at the automatic exposure
                        page.fill("#exposure", f"{stops:.2f}")
                        page.press("#exposure", "Enter")
                        page.wait_for_function(f"document.body.dataset.exposure === '{stops:.3f}'")
                        page.evaluate("document.activeElement.blur()")
                    page.mouse.move(0, 0)  # typing the exposure moved the pointer
                    page.mouse.move(point["x"], point["y"])
                    page.wait_for_function(f"document.getElementById('readout').dataset.x === '{sun_x}'")
                    page.screenshot(path=args.out / name)
                browser.close()
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
