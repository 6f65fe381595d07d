"""The explorer's web application (Starlette): the page, its static files, the tiles and a
small JSON API over an :class:`~bpsweep.explore.service.Explorer`.

A local server is a door, so: requests whose Host header is not this server's are refused
(a web page elsewhere must not reach it through DNS rebinding); no request names a file (the
static files are a fixed table); every parameter is checked and a bad one gets a 400 whose
JSON ``error`` the page shows; work is bounded per request (one tile, one pixel's run, a view
of at most 1024 x 1024 pixels) and in all (the kernel queue refuses more than 512 waiting
tiles: 503). Tile URLs hold the plane's key, so they are immutable and cached for a year: a
reload or a colour mode seen before costs nothing.

Routes: ``/`` the page; ``/static/<name>`` its files and Leaflet's; ``/tiles/<plane>/<mode>/
<z>/<x>/<y>.png``; ``/api/plane``; ``/api/status``; ``/api/view`` (POST: where the page looks,
for the queue's order); ``/api/pixel?z=&i=&j=``; ``/api/config?cx=&cy=&sx=&sy=``;
``/api/dimension?cx=&cy=&sx=&sy=&side=``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import _version
from ..errors import BpsweepError
from ..maps.tiles import TILE
from ..model import STATUSES
from ..sweeps.window import COLOR_MODES
from .service import Busy, Explorer, NotTrained

STATIC = Path(__file__).parent / "static"
#: Rendered tiles kept as PNG bytes (about 20-60 kB each), so cached tiles go out at once.
RENDERED = 2048
IMMUTABLE = "public, max-age=31536000, immutable"


def _leaflet_folder() -> Path | None:
    """Leaflet's files as the django-js-lib-leaflet package installs them (no Django needed:
    only its static folder is read)."""
    try:
        import js_lib_leaflet
    except ImportError:
        return None
    return Path(js_lib_leaflet.__file__).parent / "static" / "js_lib_leaflet"


def static_files() -> dict[str, Path]:
    """The files the page may fetch, by name: a fixed table (a request names an entry, never
    a path)."""
    files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
    leaflet = _leaflet_folder()
    if leaflet is not None:
        files["leaflet.js"] = leaflet / "leaflet.js"
        files["leaflet.css"] = leaflet / "leaflet.css"
        for image in (leaflet / "images").glob("*.png"):
            files[f"images/{image.name}"] = image
    return files


TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".html": "text/html"}


class Bad(Exception):
    """A bad request: 400 with this message."""


def _int(request: Request, name: str, low: int, high: int) -> int:
    text = request.query_params.get(name)
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise Bad(f"{name}: expected a whole number, found {text!r}") from None
    if not low <= value <= high:
        raise Bad(f"{name}: expected a whole number from {low} to {high}, found {value}")
    return value


def _float(request: Request, name: str) -> float:
    text = request.query_params.get(name)
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise Bad(f"{name}: expected a number, found {text!r}") from None
    if not math.isfinite(value):
        raise Bad(f"{name}: expected a finite number, found {text!r}")
    return value


def create_app(explorer: Explorer, hosts: set[str]) -> Starlette:
    """The application serving ``explorer``; ``hosts``: the Host headers it answers (the
    others are refused)."""
    files = static_files()
    plane = hashlib.sha256(
        f"{explorer.store.key}{explorer.fit_ssr!r}{_version.__version__}".encode()
    ).hexdigest()[:16]
    rendered: dict = {}
    errors: list[str] = []

    def error(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def page(request: Request) -> Response:
        return Response((STATIC / "index.html").read_bytes(), media_type="text/html")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        path = files.get(name)
        if path is None:
            return error(f"no such file: {name}", 404)
        headers = {"Cache-Control": "no-cache"}
        return Response(path.read_bytes(), media_type=TYPES.get(path.suffix), headers=headers)

    async def plane_info(request: Request) -> Response:
        return JSONResponse(describe(explorer, plane))

    async def status(request: Request) -> Response:
        return JSONResponse(
            {
                "pending": explorer.queue.pending(),
                "done": explorer.queue.done,
                "trained": explorer.store.trained,
                "errors": errors[-5:],
                # the final_ssr colour scale, once a final_ssr tile has fixed it (the legend's)
                "ssr_range": explorer._ssr_range,
            }
        )

    async def view(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            z = int(body["z"])
            u, v = float(body["u"]), float(body["v"])
        except (ValueError, KeyError, TypeError):
            return error("view: expected JSON {z, u, v}")
        if not (0 <= z <= explorer.max_level and math.isfinite(u) and math.isfinite(v)):
            return error("view: z out of range, or u, v not finite")
        explorer.set_view(z, u, v)
        return JSONResponse({"pending": explorer.queue.pending()})

    async def tile(request: Request) -> Response:
        p = request.path_params
        if p["plane"] != plane:
            return error("tile: of another plane (an old page? reload it)", 404)
        mode = p["mode"]
        if mode not in COLOR_MODES:
            return error(f"mode: expected one of {', '.join(COLOR_MODES)}, found {mode!r}")
        try:
            z, x, y = int(p["z"]), int(p["x"]), int(p["y"])
            explorer.check_tile(z, x, y)
        except (ValueError, BpsweepError) as exc:
            return error(f"tile: {exc}")
        key = (z, x, y, mode)
        png = rendered.get(key)
        if png is None:
            # the chaos mode needs the tile's moved starts too: trained with it in one call
            job = ("chaos" if mode == "chaos" else "tile", z, x, y)
            futures = explorer.chaos_future if mode == "chaos" else explorer.tile_future
            try:
                future = futures(z, x, y)
            except Busy as exc:
                return error(str(exc), 503)
            try:
                arrays = await _wait(request, future)
            except _Gone:
                explorer.queue.give_up(job)
                return Response(status_code=204)
            except NotTrained as exc:
                return _message_tile(str(exc), "#9e9e9e")
            except Exception as exc:  # a tile that fails: an error tile, and the server goes on
                errors.append(f"tile ({z}, {x}, {y}): {exc}")
                return _message_tile(str(exc), "#7f0000")
            png = await run_in_threadpool(explorer.png, arrays, mode)
            rendered[key] = png
            while len(rendered) > RENDERED:
                rendered.pop(next(iter(rendered)))
        return Response(png, media_type="image/png", headers={"Cache-Control": IMMUTABLE})

    async def pixel(request: Request) -> Response:
        z = _int(request, "z", 0, explorer.max_level)
        n = (TILE << z) - 1
        i, j = _int(request, "i", 0, n), _int(request, "j", 0, n)
        return await _queued(request, ("pixel", z, i, j), lambda: explorer.pixel_run(z, i, j))

    async def config(request: Request) -> Response:
        cx, cy, sx, sy = (_float(request, k) for k in ("cx", "cy", "sx", "sy"))
        text = explorer.view_config(cx, cy, sx, sy)
        name = text.split('"', 2)[1] if text.startswith("name") else "view"
        headers = {"Content-Disposition": f'attachment; filename="{name}.toml"'}
        return Response(text, media_type="application/toml", headers=headers)

    async def dimension(request: Request) -> Response:
        cx, cy, sx, sy = (_float(request, k) for k in ("cx", "cy", "sx", "sy"))
        side = _int(request, "side", 32, 1024)
        explorer.view_spec(cx, cy, sx, sy, side)  # checked before it is queued
        key = ("measure", cx, cy, sx, sy, side)
        return await _queued(request, key, lambda: explorer.measure(cx, cy, sx, sy, side))

    async def _queued(request: Request, key, function) -> Response:
        """A queue job's result as JSON (a plot's PNG bytes as a data URL)."""
        try:
            future = explorer.queue.submit(key, (-1, 0.0), function)  # before the tiles
        except Busy as exc:
            return error(str(exc), 503)
        try:
            result = await _wait(request, future)
        except _Gone:
            explorer.queue.give_up(key)
            return Response(status_code=204)
        if isinstance(result, dict) and isinstance(result.get("plot"), bytes):
            result["plot"] = "data:image/png;base64," + base64.b64encode(result["plot"]).decode()
        return JSONResponse(result)

    routes = [
        Route("/", page),
        Route("/static/{name:path}", static),
        Route("/api/plane", plane_info),
        Route("/api/status", status),
        Route("/api/view", view, methods=["POST"]),
        Route("/api/pixel", pixel),
        Route("/api/config", config),
        Route("/api/dimension", dimension),
        Route("/tiles/{plane}/{mode}/{z}/{x}/{y}.png", tile),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(_Guard, hosts=hosts)])
    app.state.explorer = explorer
    app.state.plane = plane
    return app


class _Gone(Exception):
    """The client went away while its job waited."""


async def _wait(request: Request, future):
    """The future's result, checking every quarter second that the client is still there."""
    wrapped = asyncio.wrap_future(future)
    while True:
        try:
            return await asyncio.wait_for(asyncio.shield(wrapped), 0.25)
        except TimeoutError:
            if await request.is_disconnected():
                raise _Gone from None


class _Guard:
    """ASGI middleware: refuse a Host header that is not this server's (DNS rebinding), and
    turn a bad parameter (Bad, BpsweepError) into a 400 with its message as JSON."""

    def __init__(self, app, hosts: set[str]):
        self.app = app
        self.hosts = {h.lower() for h in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
        if host not in self.hosts:
            known = ", ".join(sorted(self.hosts))
            response = JSONResponse(
                {"error": f"Host {host!r} is not this server's ({known})"}, status_code=400
            )
            return await response(scope, receive, send)
        try:
            return await self.app(scope, receive, send)
        except (Bad, BpsweepError) as exc:
            return await JSONResponse({"error": str(exc)}, status_code=400)(scope, receive, send)


def describe(explorer: Explorer, plane: str) -> dict:
    """What the page needs to know of the plane: axes, window, levels, modes and legends."""
    from ..maps.image import (
        CHAOTIC_COLOUR,
        DIVERGED_RAMP,
        FALSE_CONV,
        GOOD_FIT,
        NO_BASIN_COLOUR,
        NO_VALUE_COLOUR,
        PALE,
        STUCK_COLOUR,
        TAB10,
        VIRIDIS,
    )
    from ..maps.runner import _fixed_text, start_point

    spec = explorer.spec
    fit = explorer.fit_ssr
    start = start_point(explorer.config)
    return {
        "plane": plane,
        "name": explorer.config.name,
        "x": spec.x,
        "y": spec.y,
        "scale": list(spec.scale),
        "center": list(spec.center),
        "span": list(spec.span),
        "tile": TILE,
        "max_level": explorer.max_level,
        "fixed": _fixed_text(explorer.config),
        "start": list(start) if start else None,
        "mode": spec.color if spec.color in COLOR_MODES else "outcome",
        "modes": list(COLOR_MODES),
        "train": explorer.train,
        "max_steps": explorer.max_steps,
        "legends": {
            "outcome": [
                [f"good fit (SSR < {fit:g}); dark = fast", *GOOD_FIT],
                [f"false convergence (SSR >= {fit:g}); dark = fast", *FALSE_CONV],
                ["stuck (max_steps, no fit)", STUCK_COLOUR, STUCK_COLOUR],
                ["diverged; dark = fast", *DIVERGED_RAMP],
            ],
            "steps": {
                "colors": list(VIRIDIS),
                "low": 1,
                "high": explorer.max_steps,
                "label": "steps (log scale)",
            },  # fmt: skip
            "final_ssr": {
                "colors": list(VIRIDIS),
                "label": "final SSR (log scale)",
                "not_finite": NO_VALUE_COLOUR,
            },  # fmt: skip
            "chaos": {
                "families": [
                    [f"good fit (SSR < {fit:g}), stable", PALE[0]],
                    ["false convergence, stable", PALE[1]],
                    ["stuck, stable", PALE[2]],
                    ["diverged, stable", PALE[3]],
                    [
                        f"chaotic: one of {explorer.chaos} starts moved by 1e-12 ends with "
                        f"another status or steps",
                        CHAOTIC_COLOUR,
                    ],
                ],
                "moves": explorer.chaos,
            },
            "basin": {
                "colors": list(TAB10),
                "none": NO_BASIN_COLOUR,
                "label": "each solution (good fits' final parameters, hidden units in "
                "canonical order, on a 0.25 grid) its own colour",
            },  # fmt: skip
        },
        "statuses": list(STATUSES),
        "version": _version.__version__,
    }


def _message_tile(message: str, colour: str) -> Response:
    """A tile-sized PNG of one colour with a cross (an error, or not trained), not cached."""
    from ..maps.image import _pil, _rgb

    rgb = np.empty((TILE, TILE, 3), dtype=np.uint8)
    rgb[:] = _rgb(colour).astype(np.uint8)
    k = np.arange(TILE)
    rgb[k, k] = rgb[k, TILE - 1 - k] = 255
    buffer = io.BytesIO()
    _pil().fromarray(rgb, "RGB").save(buffer, format="PNG")
    shown = message[:200].encode("ascii", "replace").decode()
    headers = {"Cache-Control": "no-store", "X-Bpsweep-Error": shown}
    return Response(buffer.getvalue(), media_type="image/png", headers=headers)


__all__ = ["create_app", "describe", "static_files"]
