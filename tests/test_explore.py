"""The explorer's endpoints, without a browser (Starlette's TestClient): a tile is the map of
its level pixel for pixel, a colour change or a second request trains nothing, every bad
request gets a 400 (a busy server a 503) whose JSON names what is wrong, a failing tile is an
error tile and the server goes on, a finished map is browsed without training, deep levels
train the right pixels. A quick plane: the lr map's with 30 steps a run."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient  # noqa: E402

from bpsweep.commands.explore import _finished_map  # noqa: E402
from bpsweep.explore import service  # noqa: E402
from bpsweep.explore.app import create_app  # noqa: E402
from bpsweep.explore.server import hosts_for  # noqa: E402
from bpsweep.explore.service import Explorer  # noqa: E402
from bpsweep.model import STATUSES  # noqa: E402
from bpsweep.sweeps.chunks import CHUNK_TRAINERS  # noqa: E402
from bpsweep.sweeps.config import load_config  # noqa: E402
from bpsweep.sweeps.window import axis_values  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LR_MAP = ROOT / "experiments" / "map-lr-hidden-output.toml"
STEPS = ["max_steps=30"]
HOST = "testserver"


def png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture
def explorer(tmp_path):
    ex = Explorer(load_config(LR_MAP, overrides=STEPS), tmp_path / "cache")
    yield ex
    ex.close()


@pytest.fixture
def client(explorer):
    with TestClient(create_app(explorer, {HOST})) as c:
        c.plane = c.get("/api/plane").json()
        yield c


def tile_url(client, z, x, y, mode="outcome"):
    return f"/tiles/{client.plane['plane']}/{mode}/{z}/{x}/{y}.png"


def on_queue(explorer, function):
    """Run ``function`` on the explorer's kernel thread (numba kernels never run from two
    threads at once), and return what it returns."""
    return explorer.queue.submit(("test", id(function)), (-2, 0.0), function).result()


@pytest.fixture(scope="module")
def map512(tmp_path_factory):
    """`bpsweep map` of the quick plane at 512 x 512 pixels (level 1 of its window), trained
    apart from any explorer's tile cache (no explorer's kernel thread is running: module
    fixtures come first): its raw PNG's pixels and its results."""
    from bpsweep.maps import runner
    from bpsweep.sweeps.options import RunOptions

    out = tmp_path_factory.mktemp("map512")
    config = load_config(LR_MAP, overrides=[*STEPS, "map.resolution=[512, 512]"])
    _, drawn = runner.run_map(config, RunOptions(out=out), figure=False)
    return png_pixels(drawn.png.read_bytes()), drawn.results


def test_the_tiles_of_level_1_are_the_map_at_512_pixels_bit_for_bit(client, explorer, map512):
    plane = client.plane
    assert plane["tile"] == 256 and plane["scale"] == ["log", "log"] and plane["max_level"] >= 24
    image, results = map512
    import pandas as pd

    status = pd.read_parquet(results, columns=["map_i", "map_j", "status"])
    codes = status["status"].map(STATUSES.index).to_numpy().reshape(512, 512)  # [j, i]
    for x in (0, 1):
        for y in (0, 1):
            r = client.get(tile_url(client, 1, x, y))
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            tile = png_pixels(r.content)
            assert tile.shape == (256, 256, 3)
            # Leaflet's y counts from the top, as the PNG's rows do
            assert np.array_equal(tile, image[y * 256 : (y + 1) * 256, x * 256 : (x + 1) * 256])
            arrays = explorer.tile_future(1, x, y).result()
            j0 = (1 - y) * 256  # the map's rows from the bottom
            block = codes[j0 : j0 + 256, x * 256 : (x + 1) * 256][::-1]
            assert np.array_equal(arrays.status, block)
    assert len(np.unique(codes)) == 3  # the test can tell outcomes apart


def test_another_colour_or_the_same_tile_again_trains_nothing(client, explorer):
    first = client.get(tile_url(client, 0, 0, 0))
    assert first.status_code == 200 and explorer.store.trained == 1
    done = explorer.queue.done
    pictures = {"outcome": first.content}
    for mode in ("steps", "final_ssr", "basin", "outcome"):
        r = client.get(tile_url(client, 0, 0, 0, mode))
        assert r.status_code == 200 and "x-bpsweep-error" not in r.headers
        pictures.setdefault(mode, r.content)
        assert png_pixels(r.content).shape == (256, 256, 3)
    assert explorer.store.trained == 1 and explorer.queue.done == done  # nothing queued
    assert len({p for p in pictures.values()}) == 4  # four different pictures
    status = client.get("/api/status").json()
    assert status["pending"] == 0 and status["trained"] == 1 and status["errors"] == []
    lo, hi = status["ssr_range"]  # the final_ssr colour bar's ends, once known
    assert 0 < lo < hi


def test_every_bad_request_is_a_400_whose_json_says_what_is_wrong(client, explorer):
    p = client.plane["plane"]
    deepest = explorer.max_level
    cases = {
        f"/tiles/{p}/colour/0/0/0.png": "mode: expected one of outcome, steps",
        f"/tiles/{p}/outcome/{deepest + 1}/0/0.png": f"levels 0..{deepest} (float64",
        f"/tiles/{p}/outcome/-1/0/0.png": "zoom level -1",
        f"/tiles/{p}/outcome/1/2/0.png": "tile (2, 0) is outside level 1 (0..1)",
        f"/tiles/{p}/outcome/1/0/-1.png": "is outside level 1",
        f"/tiles/{p}/outcome/1/a/0.png": "tile: invalid literal",
        "/api/pixel?z=0&i=256&j=0": "i: expected a whole number from 0 to 255, found 256",
        "/api/pixel?z=0&i=0": "j: expected a whole number, found None",
        f"/api/pixel?z={deepest + 1}&i=0&j=0": f"z: expected a whole number from 0 to {deepest}",
        "/api/config?cx=-0.5&cy=-0.5&sx=3&sy=nan": "sy: expected a finite number, found 'nan'",
        "/api/config?cx=-0.5&cy=-0.5&sx=0&sy=3": "span: expected two numbers > 0",
        "/api/config?cx=-0.5&cy=-0.5&sx=3": "sy: expected a number, found None",
        "/api/config?cx=-0.5&cy=-0.5&sx=1e-14&sy=3": "view span: expected a span that float64",
        "/api/dimension?cx=-0.5&cy=-0.5&sx=3&sy=3&side=16": "side: expected a whole number "
        "from 32 to 1024, found 16",
        "/api/dimension?cx=-0.5&cy=400&sx=3&sy=3&side=64": "view center: expected a window",
    }
    for url, message in cases.items():
        r = client.get(url)
        assert r.status_code == 400, (url, r.status_code, r.text)
        assert message in r.json()["error"], (url, r.json())
    for body in (b"{}", b"not json", json.dumps({"z": 0, "u": "x", "v": 0}).encode()):
        r = client.post("/api/view", content=body)
        assert r.status_code == 400 and "view: expected JSON {z, u, v}" in r.json()["error"]
    r = client.post("/api/view", json={"z": deepest + 1, "u": 0.5, "v": 0.5})
    assert r.status_code == 400 and "z out of range" in r.json()["error"]
    # what is not there: another plane's tiles (an old page), a file the table lacks
    r = client.get(f"/tiles/{'0' * 16}/outcome/0/0/0.png")
    assert r.status_code == 404 and "another plane" in r.json()["error"]
    for name in ("nothing.js", "..%2F__init__.py", "%2E%2E/app.py", "images%2F..%2Fapp.py"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 404 and "no such file" in r.json()["error"], name
    assert explorer.store.trained == 0 and explorer.queue.done == 0  # none of it queued work


def test_the_page_its_files_and_leaflets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name in ("leaflet.js", "leaflet.css", "explorer.js", "explorer.css"):
        assert f'/static/{name}"' in page.text
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and len(r.content) > 1000, name
        assert r.headers["cache-control"] == "no-cache"
    assert "https://" not in client.get("/static/explorer.js").text  # nothing from elsewhere
    assert client.get("/static/images/marker-icon.png").headers["content-type"] == "image/png"


def test_the_host_header_must_be_this_servers(explorer):
    hosts = hosts_for("127.0.0.1", 8765)
    assert hosts == {"127.0.0.1:8765", "localhost:8765", "[::1]:8765"}
    assert hosts_for("192.168.1.5", 80) == {"192.168.1.5:80"}
    app = create_app(explorer, hosts)
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        assert c.get("/api/status").status_code == 200
        for host in ("evil.example:8765", "127.0.0.1:8766", "localhost", "127.0.0.1.evil:8765"):
            r = c.get("/api/plane", headers={"Host": host})
            assert r.status_code == 400, host
            assert f"Host {host!r} is not this server's" in r.json()["error"]
        r = c.get("/", headers={"Host": "LOCALHOST:8765"})  # names are case-insensitive
        assert r.status_code == 200


def test_a_busy_server_answers_503_and_queues_nothing(client, explorer, monkeypatch):
    monkeypatch.setattr(service, "MAX_PENDING", 0)
    for url in (tile_url(client, 0, 0, 0), "/api/pixel?z=0&i=1&j=2"):
        r = client.get(url)
        assert r.status_code == 503 and "tiles are waiting to be trained" in r.json()["error"]
    assert explorer.queue.pending() == 0 and explorer.store.trained == 0
    monkeypatch.setattr(service, "MAX_PENDING", 512)
    assert client.get(tile_url(client, 0, 0, 0)).status_code == 200


def test_a_failing_tile_is_an_error_tile_and_the_server_goes_on(client, explorer, monkeypatch):
    cpu = CHUNK_TRAINERS["cpu"]

    def broken(*args):
        raise RuntimeError("the kernel broke")

    monkeypatch.setitem(CHUNK_TRAINERS, "cpu", broken)
    r = client.get(tile_url(client, 1, 0, 0))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["x-bpsweep-error"] == "the kernel broke"
    assert r.headers["cache-control"] == "no-store"  # asked again next time
    picture = png_pixels(r.content)
    assert tuple(picture[10, 100]) == (0x7F, 0, 0) and tuple(picture[100, 100]) == (255,) * 3
    assert client.get("/api/status").json()["errors"] == ["tile (1, 0, 0): the kernel broke"]
    monkeypatch.setitem(CHUNK_TRAINERS, "cpu", cpu)
    for x in (0, 1):  # the same tile again, and another: trained
        r = client.get(tile_url(client, 1, x, 0))
        assert r.status_code == 200 and "x-bpsweep-error" not in r.headers
    assert explorer.store.trained == 2


def test_two_requests_for_one_tile_train_it_once(explorer, monkeypatch):
    import httpx2

    calls = []
    cpu = CHUNK_TRAINERS["cpu"]

    def counting(columns, *args):
        calls.append(len(columns["run_id"]))
        return cpu(columns, *args)

    monkeypatch.setitem(CHUNK_TRAINERS, "cpu", counting)
    app = create_app(explorer, {HOST})

    async def both():
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=f"http://{HOST}") as c:
            plane = (await c.get("/api/plane")).json()["plane"]
            urls = [f"/tiles/{plane}/{m}/1/1/0.png" for m in ("outcome", "outcome", "steps")]
            return await asyncio.gather(*(c.get(u) for u in urls))

    a, b, steps = asyncio.run(both())
    assert a.status_code == b.status_code == steps.status_code == 200
    assert a.content == b.content and a.content != steps.content
    assert calls == [256 * 256] and explorer.store.trained == 1


def test_a_pixel_is_its_tiles_run_with_its_trace_and_command(client, explorer):
    tile = client.get(tile_url(client, 1, 1, 0))  # the top right quarter: lr_output > 0.3
    assert tile.status_code == 200
    arrays = explorer.tile_future(1, 1, 0).result()
    for i, j in ((300, 500), (511, 256), (256, 400)):
        r = client.get(f"/api/pixel?z=1&i={i}&j={j}")
        assert r.status_code == 200
        d = r.json()
        row, col = 511 - j, i - 256  # the tile's rows from the top
        assert d["status"] == STATUSES[arrays.status[row, col]]
        assert d["steps"] == arrays.steps[row, col]
        ssr = arrays.final_ssr[row, col]
        assert d["final_ssr"] == (ssr if math.isfinite(ssr) else None)
        x = axis_values(-0.5, 3.0, 512, "log", [i])[0]
        assert d["axes"] == {
            "lr_hidden": x,
            "lr_output": axis_values(-0.5, 3.0, 512, "log", [j])[0],
        }
        assert d["settings"]["lr_hidden"] == x and d["settings"]["max_steps"] == 30
        assert d["start"] == {"w1": 2.74, "b1": 0.0, "w2": -1.13, "b2": 0.0, "w3": 0.36,
                              "w4": 0.63, "b3": 0.0}  # fmt: skip
        trace = d["trace"]
        assert trace["step"][0] == 0 and trace["step"][-1] == d["steps"]
        assert len(trace["ssr"]) == len(trace["w1"]) == d["steps"] + 1
        assert trace["ssr"][0] == d["initial_ssr"]
        assert d["command"].startswith("bpsweep train --init w1=2.74,b1=0.0,")
        assert f"--lr-hidden {float(x)!r}" in d["command"] and "--max-steps 30" in d["command"]


def test_a_view_is_saved_as_a_map_config_and_its_dimension_measured(client, explorer):
    r = client.get("/api/config?cx=-0.52&cy=-1.05&sx=0.5&sy=0.25")
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith('attachment; filename="map-lr-hidden')
    saved = tomllib.loads(r.text)
    assert saved["map"]["center"] == [-0.52, -1.05] and saved["map"]["span"] == [0.5, 0.25]
    assert saved["map"]["resolution"] == [4096, 4096] and saved["train"]["max_steps"] == 30
    r = client.get("/api/dimension?cx=-0.5&cy=-0.5&sx=3&sy=3&side=64")
    assert r.status_code == 200
    d = r.json()
    assert d["side"] == 64 and d["window"]["resolution"] == [64, 64]
    classes = [e["classes"] for e in d["dimensions"]]
    assert classes == ["diverged vs not", "converged vs not"]
    for e in d["dimensions"]:
        assert 0.5 < e["D"] < 2 and e["summary"].startswith("D = ") and e["table"]
    assert d["plot"].startswith("data:image/png;base64,")
    assert base64.b64decode(d["plot"].split(",", 1)[1])[:4] == b"\x89PNG"


def test_a_finished_map_is_browsed_without_training(map512):
    config, out = _finished_map(map512[1], [])  # a map of level 1 of its window
    browse = Explorer(config, out, train=False)
    try:
        with TestClient(create_app(browse, {HOST})) as c:
            plane = c.get("/api/plane").json()
            assert plane["train"] is False
            own = c.get(f"/tiles/{plane['plane']}/outcome/1/0/1.png")
            assert own.status_code == 200 and "x-bpsweep-error" not in own.headers
            for mode in ("final_ssr", "basin"):  # final_ssr's scale without a level-0 tile
                assert "x-bpsweep-error" not in c.get(own.url.path.replace("outcome", mode)).headers
            grey = c.get(f"/tiles/{plane['plane']}/outcome/0/0/0.png")
            assert grey.status_code == 200 and grey.headers["cache-control"] == "no-store"
            assert "was not trained for this map" in grey.headers["x-bpsweep-error"]
            assert tuple(png_pixels(grey.content)[10, 100]) == (0x9E, 0x9E, 0x9E)
            assert c.get("/api/status").json()["errors"] == []  # not an error
        assert browse.store.trained == 0 and browse.store.reused == 1
    finally:
        browse.close()


def test_deep_levels_train_the_pixels_of_their_level(client, explorer):
    """Level 7 has more pixels a side than a config may ask for, and from level 24 on a run id
    j * W + i overflows int64: their tiles are the runs at their pixels all the same."""
    from bpsweep.engine.trainer import train

    r = client.get(tile_url(client, 7, 64, 20))
    assert r.status_code == 200 and "x-bpsweep-error" not in r.headers
    z, x, y = 24, 9_000_000, 3  # near the top: lr_output near 10
    r = client.get(tile_url(client, z, x, y))
    assert r.status_code == 200 and "x-bpsweep-error" not in r.headers
    arrays = explorer.tile_future(z, x, y).result()
    n = 256 << z
    for row, col in ((0, 0), (255, 255), (100, 17)):
        i, j = x * 256 + col, ((1 << z) - 1 - y) * 256 + 255 - row
        lr_h = axis_values(-0.5, 3.0, n, "log", [i])[0]
        lr_o = axis_values(-0.5, 3.0, n, "log", [j])[0]
        assert 8 < lr_o < 10
        run = on_queue(
            explorer,
            lambda h=lr_h, o=lr_o: train(
                "dosage", init="statquest-start", lr_hidden=h, lr_output=o, max_steps=30
            ),
        )
        assert (run.status, run.steps) == (
            STATUSES[arrays.status[row, col]],
            arrays.steps[row, col],
        )
        assert run.final_ssr == arrays.final_ssr[row, col] or not math.isfinite(run.final_ssr)
        d = client.get(f"/api/pixel?z={z}&i={i}&j={j}").json()
        assert d["axes"] == {"lr_hidden": lr_h, "lr_output": lr_o} and d["status"] == run.status


def test_a_keep_alive_connection_does_not_wait_for_delayed_acks(explorer):
    """The server's socket says TCP, so that asyncio sets TCP_NODELAY on each connection: a
    response written in two parts (headers, body) does not wait for the client's delayed ACK
    (40 ms a request on a keep-alive connection: a browser's tiles, 25 a second)."""
    import http.client
    import socket
    import time

    from bpsweep.explore.server import Background, bind

    sock = bind("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    sock.close()
    server = Background(explorer)
    try:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        connection = http.client.HTTPConnection("127.0.0.1", port)
        t = time.perf_counter()
        for _ in range(100):
            connection.request("GET", "/api/status")
            assert connection.getresponse().read().startswith(b'{"pending":0')
        seconds = time.perf_counter() - t
        connection.close()
    finally:
        server.stop()
    assert seconds < 3.0, f"100 requests on one connection took {seconds:.2f} s"


def test_the_chaos_mode_is_map_chaos_and_trains_its_tile_once(tmp_path):

    steps = ["max_steps=200"]  # at 30 steps no start moved by 1e-12 ends otherwise
    explorer = Explorer(load_config(LR_MAP, overrides=steps), tmp_path / "cache")
    with TestClient(create_app(explorer, {HOST})) as client:
        client.plane = client.get("/api/plane").json()
        _check_chaos_tiles(client, explorer, tmp_path, steps)
    explorer.close()


def _check_chaos_tiles(client, explorer, tmp_path, steps):
    from bpsweep.maps import runner
    from bpsweep.sweeps.options import RunOptions

    r = client.get(tile_url(client, 0, 0, 0, "chaos"))
    assert r.status_code == 200 and "x-bpsweep-error" not in r.headers
    # the tile and its chaos counts, stored as bpsweep map --chaos stores them, in one job
    assert explorer.store.trained == 2 and explorer.queue.done == 1
    for mode in ("outcome", "steps", "chaos"):  # from the same arrays: nothing queued
        assert client.get(tile_url(client, 0, 0, 0, mode)).status_code == 200
    assert explorer.store.trained == 2 and explorer.queue.done == 1
    config = load_config(LR_MAP, overrides=[*steps, "map.resolution=[256, 256]"])
    _, drawn = runner.run_map(
        config, RunOptions(out=tmp_path / "map"), color="chaos", figure=False, chaos=4
    )
    tile = png_pixels(r.content)
    assert np.array_equal(tile, png_pixels(drawn.png.read_bytes()))
    chaotic = (tile == 0).all(axis=2).sum()  # black: a moved start ends otherwise
    assert 0 < chaotic < 256 * 256
    legend = client.plane["legends"]["chaos"]
    assert legend["moves"] == 4 and legend["families"][-1][1] == "#000000"


def test_the_chaos_mode_of_a_finished_map_without_chaos_tiles_is_grey(map512):
    _, results = map512
    config, out = _finished_map(Path(results), [])
    ex = Explorer(config, out, train=False)
    try:
        with TestClient(create_app(ex, {HOST})) as c:
            c.plane = c.get("/api/plane").json()
            r = c.get(tile_url(c, 1, 0, 0, "chaos"))
            assert r.status_code == 200 and "not trained" in r.headers["x-bpsweep-error"]
            assert c.get(tile_url(c, 1, 0, 0)).status_code == 200  # its tile is there
            assert ex.store.trained == 0
    finally:
        ex.close()
