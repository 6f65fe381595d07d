"""The README's picture of the explorer (docs/img/explorer.png): the lr map zoomed 16x around
lr_hidden 0.3, lr_output 0.1 (1000 steps a run, as the config says) in Debian's chromium,
every tile of the view trained, and the run of the pixel at the view's centre open.

    PYTHONPATH=src python docs/bench/explorer_screenshot.py [--out docs/img/explorer.png]

Trains the view's tiles into a temporary cache (about a minute on 2 cores)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from bpsweep.explore.server import Background
from bpsweep.explore.service import Explorer
from bpsweep.sweeps.config import load_config

ROOT = Path(__file__).resolve().parents[2]
VIEW = "#mode=outcome&z=4&lr_hidden=0.3&lr_output=0.1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "explorer.png"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    config = load_config(ROOT / "experiments" / "map-lr-hidden-output.toml")
    with tempfile.TemporaryDirectory() as cache, sync_playwright() as p:
        server = Background(Explorer(config, Path(cache)))
        try:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server.url + VIEW)
            page.wait_for_function("window.explorer && window.explorer.state.ready")
            done = "window.explorer.coverage().full === 1 && !window.explorer.state.loading"
            page.wait_for_function(done, timeout=600_000)
            box = page.locator("#map").bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2 + 40, box["y"] + box["height"] / 2 - 30)
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.wait_for_function("window.explorer.state.lastPixel", timeout=60_000)
            page.wait_for_timeout(500)  # the curves drawn
            page.screenshot(path=args.out)
            browser.close()
        finally:
            server.stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
