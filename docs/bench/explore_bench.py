"""The explorer in a real browser, timed (figures printed, not a test):

    PYTHONPATH=src python docs/bench/explore_bench.py                      # the lr map, 1000 steps
    PYTHONPATH=src python docs/bench/explore_bench.py --set max_steps=100  # quicker

Each repeat starts a server (a thread of this process) on a fresh tile cache and drives
Debian's chromium (Playwright, headless, 1280 x 800) through:

- a fresh view: the page opened at level 3 around lr_hidden 0.3, lr_output 0.1 (after a
  warm-up that trained level 0): seconds to the first picture covering the view (the coarser
  preview) and to every tile of level 3;
- a zoom: one wheel notch in at the view's centre: seconds from the wheel event to the first
  frame of the zoom with the view covered (the coarser level scaled up), and to every tile of
  the new level, against the kernel time of the tiles it had to train (the same tiles trained
  again, kernel alone, on the explorer's queue right after: side by side);
- a colour change (outcome -> steps, every tile's runs in the server's memory), a change back
  (every tile in the browser's cache) and a reload (everything cached), each to every tile;
- cached tiles served per second: the browser fetching the view's tiles again and again past
  its cache (cache: "no-store"), 6 at a time (a browser's connections to one server).

Best of --repeats (3) with the range. Times are performance.now() in the page, read each
frame (requestAnimationFrame). The server shares this process with Playwright's client, which
waits while the page works.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip

# every frame, once the page is up: when the view is first covered, and when it is complete
WATCH = """
window.__open = {};
(function tick() {
  const ex = window.explorer;
  if (ex && ex.state && ex.state.ready) {
    const c = ex.coverage();
    if (c.any === 1 && window.__open.any === undefined) window.__open.any = performance.now();
    if (c.full === 1 && !c.loading) { window.__open.full = performance.now(); return; }
  }
  requestAnimationFrame(tick);
})();
"""

ZOOM = """(target) => {
  const b = window.__zoom = {};
  const ex = window.explorer, map = ex.map;
  map.getContainer().addEventListener("wheel", () => {
    if (b.t0 === undefined) b.t0 = performance.now();
  }, { capture: true });
  (function tick() {
    if (b.t0 !== undefined) {
      const now = performance.now(), c = ex.coverage();
      const zooming = map._animatingZoom === target || c.zoom === target;
      if (zooming && c.any === 1 && b.preview === undefined) b.preview = now - b.t0;
      if (c.zoom === target && c.full === 1 && !c.loading) { b.full = now - b.t0; return; }
    }
    requestAnimationFrame(tick);
  })();
}"""

COLOUR = """(mode) => {
  const b = window.__colour = { t0: performance.now() };
  const ex = window.explorer, select = document.getElementById("mode");
  select.value = mode;
  select.dispatchEvent(new Event("change"));
  (function tick() {
    const c = ex.coverage();
    if (ex.state.oldMains.length === 0 && c.full === 1 && !c.loading) {
      b.done = performance.now() - b.t0;
      return;
    }
    requestAnimationFrame(tick);
  })();
}"""

SERVED = """async ([urls, total, workers]) => {
  let k = 0;
  const t0 = performance.now();
  async function worker() {
    while (k < total) {
      const r = await fetch(urls[k++ % urls.length], { cache: "no-store" });
      await r.arrayBuffer();
    }
  }
  await Promise.all(Array.from({ length: workers }, worker));
  return (performance.now() - t0) / 1000;
}"""


def chromium() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).is_file():
        sys.exit("explore_bench: no chromium (apt-get install -y chromium)")
    return found


def kernel_seconds(explorer, tiles) -> float:
    """The kernel's time for these tiles, trained again on the explorer's queue: expand each
    tile's runs, then time the chunk trainer alone (what bpsweep map's workers call)."""
    from bpsweep.maps import tiles as tiles_module
    from bpsweep.sweeps.chunks import CHUNK_TRAINERS
    from bpsweep.sweeps.expand import expand_columns

    def job():
        total = 0.0
        for grid, tx, ty in tiles:
            config = explorer._config_of(grid)
            ids = grid.run_ids(tx, ty)
            columns = expand_columns(config, ids)
            t = time.perf_counter()
            CHUNK_TRAINERS["cpu"](columns, len(ids), config.base_dir, tiles_module._DATA_CACHE)
            total += time.perf_counter() - t
        return total

    return explorer.queue.submit(("bench", time.time()), (-1, 0.0), job).result()


def one_repeat(config, browser, args) -> dict:
    from bpsweep.explore.server import Background
    from bpsweep.explore.service import Explorer

    folder = Path(tempfile.mkdtemp(prefix="explore-bench-"))
    explorer = Explorer(config, folder)
    saved = []
    save = explorer.store.save

    def recording(grid, tx, ty, data, kind):
        saved.append((grid, tx, ty))
        return save(grid, tx, ty, data, kind)

    explorer.store.save = recording
    server = Background(explorer)
    out = {}
    try:
        explorer.tile_future(0, 0, 0).result()  # warm-up: numba's kernels loaded, level 0
        saved.clear()
        width, height = args.viewport
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_init_script(WATCH)
        page = context.new_page()
        page.goto(f"{server.url}#mode=outcome&z=3&lr_hidden=0.3&lr_output=0.1")
        page.wait_for_function("window.__open.full !== undefined", timeout=0)
        opened = page.evaluate("window.__open")
        out["open preview s"] = opened["any"] / 1000
        out["open full s"] = opened["full"] / 1000
        out["open tiles"] = len(saved)
        out["open kernel s"] = kernel_seconds(explorer, list(saved))
        saved.clear()

        page.evaluate(ZOOM, 4)
        box = page.locator("#map").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.wheel(0, -120)
        page.wait_for_function("window.__zoom.full !== undefined", timeout=0)
        zoom = page.evaluate("window.__zoom")
        out["zoom preview s"] = zoom["preview"] / 1000
        out["zoom full s"] = zoom["full"] / 1000
        out["zoom tiles"] = len(saved)
        out["zoom kernel s"] = kernel_seconds(explorer, list(saved))
        saved.clear()

        before = server.requests["tiles"]
        for mode, name in (("steps", "colour change s"), ("outcome", "colour back s")):
            page.evaluate(COLOUR, mode)
            page.wait_for_function("window.__colour.done !== undefined", timeout=0)
            out[name] = page.evaluate("window.__colour.done") / 1000
        out["colour trained"] = len(saved)
        served_colour = server.requests["tiles"] - before

        before = server.requests["tiles"]
        page.reload()
        page.wait_for_function("window.__open.full !== undefined", timeout=0)
        out["reload s"] = page.evaluate("window.__open.full") / 1000
        out["reload tile requests"] = server.requests["tiles"] - before
        out["colour tile requests"] = served_colour

        urls = page.evaluate(
            "[...window.explorer.state.main._bpTiles.values()].map((img) => img._bpCoords)"
        )
        plane = server.app.state.plane
        urls = [f"/tiles/{plane}/outcome/{c['z']}/{c['x']}/{c['y']}.png" for c in urls]
        seconds = page.evaluate(SERVED, [urls, args.fetches, 6])
        out["cached tiles/s"] = args.fetches / seconds
        context.close()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "experiments/map-lr-hidden-output.toml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fetches", type=int, default=600, help="cached tile fetches timed")
    parser.add_argument(
        "--viewport", default="1280x800", type=lambda t: tuple(int(v) for v in t.split("x"))
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from bpsweep.sweeps.config import load_config

    config = load_config(args.config, overrides=args.overrides)
    runs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=ARGS)
        for k in range(args.repeats):
            runs.append(one_repeat(config, browser, args))
            print(f"repeat {k + 1}: " + ", ".join(f"{n} {v:.3g}" for n, v in runs[-1].items()))
        browser.close()
    steps = max(config.values_of("max_steps"))
    print(
        f"\nexplore_bench: {config.name}, max_steps {steps}, viewport "
        f"{args.viewport[0]}x{args.viewport[1]}, best of {args.repeats} [range]"
    )

    def row(label, key, best=min, fmt="{:.2f}", unit="s"):
        values = [r[key] for r in runs]
        lo, hi = min(values), max(values)
        print(
            f"  {label:<46} {fmt.format(best(values))} {unit} [{fmt.format(lo)}-{fmt.format(hi)}]"
        )

    row("fresh view (level 3): first picture", "open preview s")
    row("fresh view: every tile", "open full s")
    row("  kernel time of the tiles it trained", "open kernel s")
    row("zoom in one level: first frame, view covered", "zoom preview s")
    row("zoom: every tile of the new level", "zoom full s")
    row("  kernel time of the tiles it trained", "zoom kernel s")
    for name, part in (("zoom", "zoom: every tile"), ("open", "fresh view: every tile")):
        ratios = [r[f"{name} full s"] / r[f"{name} kernel s"] for r in runs]
        tiles = statistics.mean(r[f"{name} tiles"] for r in runs)
        print(
            f"  {part + ' / kernel time':<46} {min(ratios):.2f}x "
            f"[{min(ratios):.2f}-{max(ratios):.2f}] ({tiles:.0f} tiles trained)"
        )
    row("colour change (runs in memory)", "colour change s")
    row("colour change back (browser's cache)", "colour back s")
    row("reload (everything cached)", "reload s")
    row("cached tiles served", "cached tiles/s", best=max, fmt="{:.0f}", unit="/s")
    print(
        f"  trained by the colour changes: {sum(r['colour trained'] for r in runs)}; tile "
        f"requests reaching the server on reload: {sum(r['reload tile requests'] for r in runs)}"
    )


if __name__ == "__main__":
    main()
