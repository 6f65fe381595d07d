"""The explorer's page in a real browser: Playwright drives Debian's chromium against a server
on 127.0.0.1 (a thread of this process: bpsweep.explore.server.Background). The page loads
and shows its tiles, a wheel zoom fetches the deeper level's tiles, which are the map of that
level pixel for pixel; a click shows the run of the pixel under the pointer; the view lives in
the URL (a reload restores it and fetches no tile from the server); a bad request's message
and a busy server are shown, and the busy server's tiles are asked again. A quick plane: the lr
map's with 20 steps a run.

Needs playwright (the test extra) and chromium (``apt-get install -y chromium``; no browser is
downloaded); skipped, saying which is missing, without them."""

from __future__ import annotations

import base64
import io
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)
CHROMIUM = os.environ.get("BPSWEEP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip(
        f"no chromium at {CHROMIUM} (apt-get install -y chromium, or set BPSWEEP_CHROMIUM)",
        allow_module_level=True,
    )

from bpsweep.explore import service  # noqa: E402
from bpsweep.explore.server import Background  # noqa: E402
from bpsweep.explore.service import Explorer  # noqa: E402
from bpsweep.sweeps.config import load_config  # noqa: E402
from bpsweep.sweeps.window import axis_values  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LR_MAP = ROOT / "experiments" / "map-lr-hidden-output.toml"
STEPS = ["max_steps=20"]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip
VIEWPORT = {"width": 900, "height": 700}  # the map: about 540 x 670 pixels, level 1 fits
WAIT = 20_000  # ms


def png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture(scope="module")
def map512(tmp_path_factory):
    """`bpsweep map` of the quick plane at 512 x 512 pixels (level 1), trained before the
    server starts (numba kernels never run from two threads at once): its raw PNG."""
    from bpsweep.maps import runner
    from bpsweep.sweeps.options import RunOptions

    config = load_config(LR_MAP, overrides=[*STEPS, "map.resolution=[512, 512]"])
    options = RunOptions(out=tmp_path_factory.mktemp("map512"))
    _, drawn = runner.run_map(config, options, figure=False)
    return png_pixels(drawn.png.read_bytes())


@pytest.fixture(scope="module")
def server(map512, tmp_path_factory):
    config = load_config(LR_MAP, overrides=STEPS)
    background = Background(Explorer(config, tmp_path_factory.mktemp("explore")))
    yield background
    background.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(e))
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("window.explorer && window.explorer.state.ready", timeout=WAIT)


def settled(page) -> None:
    """Every tile of the view loaded at the current level."""
    page.wait_for_function(
        "window.explorer.coverage().full === 1 && !window.explorer.state.loading", timeout=WAIT
    )


def on_queue(explorer, function):
    """Run ``function`` on the explorer's kernel thread (never two threads in numba)."""
    return explorer.queue.submit(("test", id(function)), (-2, 0.0), function).result()


def map_centre(page) -> tuple[float, float]:
    box = page.locator("#map").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_the_page_loads_and_a_wheel_zoom_shows_the_deeper_levels_map(page, server, map512):
    tiles = []
    page.on("response", lambda r: tiles.append(r) if "/tiles/" in r.url else None)
    open_page(page, server.url + "#z=0")
    settled(page)
    assert page.evaluate("window.explorer.map.getZoom()") == 0
    assert page.inner_text("#title") == "map-lr-hidden-output: lr_hidden × lr_output"
    assert len(page.query_selector_all("#legend .legend-row")) >= 4
    assert "stuck (max_steps, no fit)" in page.inner_text("#legend")
    assert re.search(r"tiles? pending", page.inner_text("#pending"))
    assert page.query_selector(".start-icon") is not None  # the lesson's start, lr 0.1 x 0.1
    x, y = map_centre(page)
    page.mouse.move(x + 37, y - 23)
    page.mouse.wheel(0, -120)  # one notch in: one level
    page.wait_for_function("window.explorer.map.getZoom() === 1", timeout=WAIT)
    settled(page)
    shown = page.evaluate(
        "[...window.explorer.state.main._bpTiles.values()].map((img) => img._bpCoords)"
        ".filter((c) => c.z === 1)"
    )
    assert len(shown) == 4  # the whole of level 1 fits
    assert {r.status for r in tiles if "/outcome/1/" in r.url} == {200}
    requests = server.requests["tiles"]
    for c in shown:  # the browser's copy of each tile (from its cache), as PNG bytes
        path = f"/tiles/{server.app.state.plane}/outcome/1/{c['x']}/{c['y']}.png"
        data = page.evaluate(
            """async (path) => { const b = new Uint8Array(await (await fetch(path)).arrayBuffer());
              let s = ""; for (const v of b) s += String.fromCharCode(v); return btoa(s); }""",
            path,
        )
        block = map512[c["y"] * 256 : (c["y"] + 1) * 256, c["x"] * 256 : (c["x"] + 1) * 256]
        assert np.array_equal(png_pixels(base64.b64decode(data)), block), path
    assert server.requests["tiles"] == requests  # they were in the browser's cache
    assert "level 1 (2x): 512 pixels a side" in page.inner_text("#view-text")
    assert "lr_hidden = " in page.inner_text("#pointer-text")


def test_a_click_shows_the_run_of_the_pixel_under_the_pointer(page, server):
    from bpsweep.engine.trainer import train

    open_page(page, server.url + "#mode=outcome&z=1&lr_hidden=0.5&lr_output=0.25")
    settled(page)
    x, y = map_centre(page)
    tile = page.evaluate(
        """([x, y]) => {
          for (const img of window.explorer.state.main._bpTiles.values()) {
            const r = img.getBoundingClientRect();
            if (img._bpCoords.z === 1 && x >= r.left && x < r.right && y >= r.top && y < r.bottom)
              return {...img._bpCoords, left: r.left, top: r.top, width: r.width};
          }
        }""",
        [x, y],
    )
    assert tile["width"] == 256  # one tile pixel a screen pixel
    col, row = int(x - tile["left"]), int(y - tile["top"])
    i, j = tile["x"] * 256 + col, (1 - tile["y"]) * 256 + 255 - row
    page.mouse.click(tile["left"] + col + 0.5, tile["top"] + row + 0.5)
    page.wait_for_function(
        f"window.explorer.state.lastPixelAt && window.explorer.state.lastPixelAt.i === '{i}'",
        timeout=WAIT,
    )
    d = page.evaluate("window.explorer.state.lastPixel")
    assert page.evaluate("window.explorer.state.lastPixelAt") == {"z": 1, "i": str(i), "j": str(j)}
    lr_h = axis_values(-0.5, 3.0, 512, "log", [i])[0]
    lr_o = axis_values(-0.5, 3.0, 512, "log", [j])[0]
    assert d["axes"] == {"lr_hidden": lr_h, "lr_output": lr_o}
    run = on_queue(
        server.explorer,
        lambda: train(
            "dosage", init="statquest-start", lr_hidden=lr_h, lr_output=lr_o, max_steps=20,
            trace=True,
        ),
    )  # fmt: skip
    assert (d["status"], d["steps"]) == (run.status, run.steps)
    ssr = [v if math.isfinite(v) else None for v in run.trace["ssr"]]
    assert d["trace"]["ssr"] == ssr and d["trace"]["step"] == list(range(run.steps + 1))
    panel = page.inner_text("#pixel")
    assert f"pixel ({i}, {j}) of level 1" in panel and f"status\t{run.status}" in panel
    assert page.inner_text("#command") == d["command"]
    # the loss curve and the trajectories are drawn: a point per step, and ink on the canvas
    assert page.evaluate("document.getElementById('loss-plot')._bpDrawn") == sum(
        v is not None and v > 0 for v in ssr
    )
    assert page.evaluate("document.getElementById('param-plot')._bpDrawn") > 0
    ink = page.evaluate(
        """() => { const c = document.getElementById('loss-plot');
          const a = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0; for (let k = 2; k < a.length; k += 4) if (a[k] > 150 && a[k - 2] < 100) n++;
          return n; }"""
    )  # pixels of the curve's blue
    assert ink > 50


def test_the_view_lives_in_the_url_and_a_reload_fetches_no_tile(page, server, browser):
    open_page(page, server.url)
    settled(page)
    assert page.evaluate("window.explorer.map.getZoom()") == 1  # the whole plane fits
    x, y = map_centre(page)
    page.mouse.move(x, y)
    page.mouse.wheel(0, -120)
    page.wait_for_function("window.explorer.map.getZoom() === 2", timeout=WAIT)
    page.mouse.move(x + 10, y + 10)
    page.mouse.down()
    page.mouse.move(x - 87, y - 51, steps=6)  # drag: pan
    page.mouse.up()
    page.select_option("#mode", "steps")
    settled(page)
    page.wait_for_function("window.explorer.state.oldMains.length === 0", timeout=WAIT)
    url = page.url
    assert re.search(r"#mode=steps&z=2&lr_hidden=[0-9.e-]+&lr_output=[0-9.e-]+$", url), url
    centre = page.evaluate("window.explorer.map.getCenter()")
    tiles, trained = server.requests["tiles"], server.explorer.store.trained
    page.reload()
    page.wait_for_function("window.explorer && window.explorer.state.ready", timeout=WAIT)
    settled(page)
    assert page.url == url and page.input_value("#mode") == "steps"
    assert page.evaluate("window.explorer.map.getZoom()") == 2
    again = page.evaluate("window.explorer.map.getCenter()")
    assert abs(again["lat"] - centre["lat"]) < 1e-9 and abs(again["lng"] - centre["lng"]) < 1e-9
    assert server.requests["tiles"] == tiles  # every tile from the browser's cache
    # shared: another browser (an empty cache) opening the URL sees the same view
    other = browser.new_context(viewport=VIEWPORT).new_page()
    open_page(other, url)
    settled(other)
    assert other.evaluate("window.explorer.map.getCenter()") == again
    assert other.evaluate("window.explorer.map.getZoom()") == 2
    assert server.requests["tiles"] > tiles and server.explorer.store.trained == trained
    other.context.close()


def test_a_bad_request_shows_the_servers_message(page, server):
    deepest = server.explorer.max_level
    open_page(page, server.url + f"#mode=outcome&z={deepest}&lr_hidden=9.99&lr_output=9.99")
    assert page.is_visible("#limit")
    assert "float64 can no longer separate neighbouring pixels" in page.inner_text("#limit")
    page.click("#save-config")  # 4096 pixels across a view of 540 at the deepest level
    message = page.wait_for_selector("#messages .message", timeout=WAIT)
    assert "view span: expected a span that float64 resolves into 4096 distinct values" in (
        message.inner_text()
    )
    page.goto(server.url + "#z=1000")  # the page's own check of its URL
    page.wait_for_function("window.explorer && window.explorer.state.ready", timeout=WAIT)
    assert f"the URL's zoom 1000 is beyond level {deepest}" in page.inner_text("#messages")


def test_a_busy_servers_tiles_are_asked_again(page, server, monkeypatch):
    monkeypatch.setattr(service, "MAX_PENDING", 0)
    open_page(page, server.url + "#mode=basin&z=4&lr_hidden=0.011&lr_output=9.9")  # diverged
    note = page.wait_for_selector("#messages .message.note", timeout=WAIT)
    assert "tiles are waiting to be trained; try again soon" in note.inner_text()
    assert page.evaluate("window.explorer.coverage().full") == 0
    monkeypatch.setattr(service, "MAX_PENDING", 512)
    settled(page)
