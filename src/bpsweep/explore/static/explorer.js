// bpsweep explore: the page. Plain JavaScript over Leaflet (served by bpsweep itself from the
// installed django-js-lib-leaflet package): nothing is fetched from anywhere but this server.
//
// The plane is a 256 x 256 world at zoom 0 (L.CRS.Simple, bounds [[-256, 0], [0, 256]]): zoom
// z shows level z, the config's window at 256 * 2^z pixels a side, one tile pixel per screen
// pixel. u, v: a point as fractions of the window from its left and bottom edges; "axis
// units": a setting's value, or its log10 on a log axis (as the config's centre and span).
"use strict";

(function () {
  const TILE = 256;
  const WORLD = [[-TILE, 0], [0, TILE]];
  const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#bcbd22", "#17becf", "#7f7f7f"];
  const $ = (id) => document.getElementById(id);

  const state = {
    plane: null, // /api/plane
    map: null,
    mode: null,
    main: null, // the tile layer of the current zoom level
    oldMains: [], // layers of the previous colour mode, removed once the new one has loaded
    preview: null, // a coarser level under the main layer (a fresh deep view shows it first)
    previewLevel: null,
    pending: 0, // the server's queue (tiles waiting to be trained)
    trained: 0,
    loading: false,
    seen: new Set(), // messages already shown (tile errors are shown once)
    ssrRange: null,
    pixelSeq: 0,
    pixelMarker: null,
    lastPixel: null,
    writtenHash: null,
  };

  // ------------------------------------------------------------------ requests and messages

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  // fetch, and a failed request's message: the server's JSON {"error": ...} when it sent one.
  async function api(path, options) {
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      throw new ApiError(`cannot reach the server (${err.message}): is bpsweep explore still running?`, 0);
    }
    if (response.ok) return response;
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error) message = body.error;
    } catch (_) { /* not JSON: the status line says it */ }
    throw new ApiError(message, response.status);
  }

  // A message over the map: errors stay until dismissed, notes go after a few seconds.
  function showMessage(text, kind = "error") {
    const box = $("messages");
    const div = document.createElement("div");
    div.className = `message ${kind}`;
    const span = document.createElement("span");
    span.textContent = text;
    const close = document.createElement("button");
    close.className = "small";
    close.textContent = "×";
    close.title = "dismiss";
    close.onclick = () => div.remove();
    div.append(span, close);
    box.append(div);
    while (box.children.length > 4) box.firstChild.remove();
    if (kind !== "error") setTimeout(() => div.remove(), 8000);
    return div;
  }

  function showOnce(text, kind = "error") {
    if (state.seen.has(text)) return;
    state.seen.add(text);
    showMessage(text, kind);
  }

  // ------------------------------------------------------------------ coordinates

  const isLog = (a) => state.plane.scale[a] === "log";
  const axisName = (a) => (a === 0 ? state.plane.x : state.plane.y);
  const fracOfLatLng = (ll) => [ll.lng / TILE, (ll.lat + TILE) / TILE];
  const latLngOfFrac = (u, v) => L.latLng(v * TILE - TILE, u * TILE);
  const axisOfFrac = (a, f) => state.plane.center[a] + (f - 0.5) * state.plane.span[a];
  const fracOfAxis = (a, t) => (t - state.plane.center[a]) / state.plane.span[a] + 0.5;
  const valueOfAxis = (a, t) => (isLog(a) ? Math.pow(10, t) : t);
  const axisOfValue = (a, x) => (isLog(a) ? Math.log10(x) : x);

  // Axis units of pixel idx (a BigInt) of level z: c + (idx + 0.5 - n/2) * s/n, n = 256 * 2^z,
  // with idx - n/2 split in two parts that float64 holds exactly (deep levels have more
  // pixels than 2^53), so that the value is within about an ulp of the server's.
  function pixelAxis(a, z, idx) {
    const d = idx - (1n << BigInt(7 + z));
    const high = (d >> 24n) << 24n;
    const step = state.plane.span[a] * Math.pow(2, -(8 + z));
    return state.plane.center[a] + (Number(high) * step + (Number(d - high) + 0.5) * step);
  }

  // Significant digits that tell apart two values `step` axis units apart around axis units t.
  function digitsFor(a, t, step) {
    let rel;
    if (isLog(a)) rel = step * Math.LN10;
    else rel = step / Math.max(Math.abs(t), step);
    return Math.min(17, Math.max(3, Math.ceil(-Math.log10(rel)) + 1));
  }

  function fmt(x, digits = 4) {
    if (x === null || x === undefined || !Number.isFinite(x)) return "not finite";
    const a = Math.abs(x);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) {
      const [mantissa, exponent] = x.toExponential(digits - 1).split("e");
      return `${String(Number(mantissa))}e${Number(exponent)}`;
    }
    return String(Number(x.toPrecision(digits)));
  }

  // A setting's value (axis units t) shown with the digits that separate pixels of level z.
  function fmtAxis(a, t, z) {
    const step = state.plane.span[a] * Math.pow(2, -(8 + z));
    return fmt(valueOfAxis(a, t), digitsFor(a, t, step));
  }

  // The level-z pixel under a point of the screen: {z, i, j} (BigInts; j from the bottom), or
  // null outside the plane. Read from the tile drawn there, so that it is exact at every depth
  // (Leaflet's own coordinates are float64 in a 256-wide world: a pixel of level 46 is below
  // their resolution); from Leaflet's coordinates where no tile is drawn yet.
  function pixelAt(clientX, clientY) {
    const map = state.map;
    const z = map.getZoom();
    for (const img of state.main._bpTiles.values()) {
      const { z: tz, x: tx, y: ty } = img._bpCoords;
      if (tz !== z) continue;
      const r = img.getBoundingClientRect();
      if (clientX < r.left || clientX >= r.right || clientY < r.top || clientY >= r.bottom) continue;
      const px = Math.min(TILE - 1, Math.floor(((clientX - r.left) * TILE) / r.width));
      const py = Math.min(TILE - 1, Math.floor(((clientY - r.top) * TILE) / r.height));
      const i = BigInt(tx) * 256n + BigInt(px);
      const j = ((1n << BigInt(z)) - 1n - BigInt(ty)) * 256n + BigInt(TILE - 1 - py);
      return { z, i, j };
    }
    const point = map.mouseEventToContainerPoint({ clientX, clientY });
    const [u, v] = fracOfLatLng(map.containerPointToLatLng(point));
    const n = Math.pow(2, 8 + z);
    if (!(u >= 0 && u < 1 && v >= 0 && v < 1)) return null;
    return { z, i: BigInt(Math.floor(u * n)), j: BigInt(Math.floor(v * n)) };
  }

  // The visible part of the window: centre and span in axis units, and its fractions.
  function viewWindow() {
    const b = state.map.getBounds();
    const clip = (f) => Math.min(1, Math.max(0, f));
    const u0 = clip(b.getWest() / TILE), u1 = clip(b.getEast() / TILE);
    const v0 = clip((b.getSouth() + TILE) / TILE), v1 = clip((b.getNorth() + TILE) / TILE);
    return {
      u0, u1, v0, v1,
      cx: axisOfFrac(0, (u0 + u1) / 2),
      cy: axisOfFrac(1, (v0 + v1) / 2),
      sx: (u1 - u0) * state.plane.span[0],
      sy: (v1 - v0) * state.plane.span[1],
    };
  }

  function viewQuery() {
    const w = viewWindow();
    return new URLSearchParams({ cx: String(w.cx), cy: String(w.cy), sx: String(w.sx), sy: String(w.sy) });
  }

  // ------------------------------------------------------------------ tiles

  // Tile fetches go a few at a time, coarse levels first, then nearest the view's centre: a
  // browser holds at most 6 connections to a server, and requests waiting for their tile to
  // be trained would take them all (the status, a pixel's run, the view's position and a
  // coarse preview would wait behind them). Tiles in the browser's cache come back at once.
  const IN_FLIGHT = 4;
  const waiting = new Set();
  let inFlight = 0;

  // Tile URLs this tab has had (immutable: in the browser's cache unless it dropped them):
  // fetched at once, past the queue above (kept over a reload, in sessionStorage).
  const KNOWN = "bpsweep-explore-tiles";
  const known = new Set();
  try { JSON.parse(sessionStorage.getItem(KNOWN) || "[]").forEach((u) => known.add(u)); } catch (_) { /* none */ }
  let saveSoon = 0;
  function saveKnown() {
    clearTimeout(saveSoon);
    try { sessionStorage.setItem(KNOWN, JSON.stringify([...known])); } catch (_) { /* full: kept in memory */ }
  }
  function remember(url) {
    if (known.has(url)) return;
    known.add(url);
    if (known.size > 5000) known.delete(known.values().next().value);
    clearTimeout(saveSoon);
    saveSoon = setTimeout(saveKnown, 1000);
  }
  window.addEventListener("pagehide", saveKnown);

  // Jobs wait for the end of the current task, so that the tiles Leaflet asks for together
  // (a view's main and preview layers) are ordered together.
  let pumpSoon = false;
  function schedule(job) {
    waiting.add(job);
    if (pumpSoon) return;
    pumpSoon = true;
    setTimeout(() => { pumpSoon = false; pump(); }, 0);
  }

  function pump() {
    while (inFlight < IN_FLIGHT && waiting.size) {
      const [u, v] = state.map ? fracOfLatLng(state.map.getCenter()) : [0.5, 0.5];
      let best = null, bestKey = Infinity;
      for (const job of waiting) {
        if (job.signal.aborted) { waiting.delete(job); continue; }
        const n = 2 ** job.z;
        const key = job.z + Math.hypot((job.x + 0.5) / n - u, 1 - (job.y + 0.5) / n - v) / 10;
        if (key < bestKey) { best = job; bestKey = key; }
      }
      if (!best) return;
      waiting.delete(best);
      inFlight++;
      best.start().finally(() => { inFlight--; pump(); });
    }
  }

  // Tiles fetched (not an <img src>), so that the page sees the status: a 503 (the server's
  // queue is full) is asked again after a delay, a 400's message is shown, an error tile's
  // X-Bpsweep-Error header is read; fetch goes through the browser's cache as an image would
  // (tile URLs are immutable). A tile Leaflet drops (panned away, another zoom) is aborted,
  // and the server drops its job when nobody else waits for it.
  const TileLayer = L.TileLayer.extend({
    createTile(coords, done) {
      const img = document.createElement("img");
      img.alt = "";
      img.setAttribute("role", "presentation");
      img._bpCoords = { z: coords.z, x: coords.x, y: coords.y };
      const controller = new AbortController();
      img._bpAbort = () => controller.abort();
      const url = this.getTileUrl(coords);
      const job = { z: coords.z, x: coords.x, y: coords.y, signal: controller.signal, attempt: 0 };
      job.start = () => this._bpFetch(img, url, done, job);
      if (known.has(url)) job.start();
      else schedule(job);
      return img;
    },

    _bpFetch(img, url, done, job) {
      return fetch(url, { signal: job.signal })
        .then(async (response) => {
          if (response.status === 503) {
            const delay = Math.min(500 * 2 ** job.attempt, 5000);
            if (job.attempt === 0) {
              let text = "the server is busy";
              try { text = (await response.json()).error || text; } catch (_) { /* keep it */ }
              showOnce(`${text} (tiles are asked again in a moment)`, "note");
            }
            job.attempt++;
            setTimeout(() => { if (!job.signal.aborted) schedule(job); }, delay);
            return;
          }
          if (response.status === 204) return; // the server saw this request go
          if (!response.ok) {
            let text = `${response.status} ${response.statusText}`;
            try { text = (await response.json()).error || text; } catch (_) { /* keep it */ }
            throw new Error(text);
          }
          if (!response.headers.get("X-Bpsweep-Error")) remember(url);
          else if (!state.plane.train) {
            showOnce("grey crossed tiles were not trained for this finished map (its own " +
              "level is the one of its resolution)", "note");
          }
          const blob = await response.blob();
          const objectUrl = URL.createObjectURL(blob);
          img.onload = () => { URL.revokeObjectURL(objectUrl); done(null, img); };
          img.onerror = () => { URL.revokeObjectURL(objectUrl); done(new Error("not an image"), img); };
          img.src = objectUrl;
        })
        .catch((err) => {
          if (job.signal.aborted) return;
          showOnce(`tile ${job.z}/${job.x}/${job.y}: ${err.message}`);
          done(err, img);
        });
    },

    // Leaflet's own versions look at img.complete, which is true while a fetch runs.
    _abortLoading() {
      for (const key in this._tiles) {
        const tile = this._tiles[key];
        if (tile.coords.z !== this._tileZoom && !tile.loaded) {
          tile.el._bpAbort();
          tile.el.onload = tile.el.onerror = null;
          L.DomUtil.remove(tile.el);
          delete this._tiles[key];
          this.fire("tileabort", { tile: tile.el, coords: tile.coords });
        }
      }
    },

    _removeTile(key) {
      const tile = this._tiles[key];
      if (tile && !tile.loaded) tile.el._bpAbort();
      return L.GridLayer.prototype._removeTile.call(this, key);
    },
  });

  function tileUrl(mode) {
    return `/tiles/${state.plane.plane}/${mode}/{z}/{x}/{y}.png`;
  }

  function makeLayer(mode, options) {
    const layer = new TileLayer(tileUrl(mode), {
      tileSize: TILE, noWrap: true, bounds: WORLD, minZoom: 0, maxZoom: state.plane.max_level,
      ...options,
    });
    layer._bpTiles = new Map();
    const key = (c) => `${c.z}/${c.x}/${c.y}`;
    layer.on("tileloadstart", (e) => layer._bpTiles.set(key(e.coords), e.tile));
    layer.on("tileunload tileabort", (e) => layer._bpTiles.delete(key(e.coords)));
    return layer;
  }

  function makeMain(mode) {
    const layer = makeLayer(mode, { maxNativeZoom: state.plane.max_level, zIndex: 2, className: "main-tiles" });
    layer.on("loading", () => { state.loading = true; schedulePoll(200); });
    layer.on("load", () => {
      if (layer !== state.main) return;
      state.loading = false;
      for (const old of state.oldMains) old.remove();
      state.oldMains = [];
    });
    return layer;
  }

  // The preview's level: a few levels coarser than the view, on a grid of 4 levels so that
  // zooming in step by step reuses its tiles (none below zoom 3: the coarse levels are quick).
  function previewLevel(z) {
    return z < 3 ? null : z - 3 - ((z - 3) % 4);
  }

  function updatePreview() {
    const level = previewLevel(state.map.getZoom());
    if (level === state.previewLevel && state.preview && state.preview._bpMode === state.mode) return;
    if (state.preview) state.preview.remove();
    state.preview = null;
    state.previewLevel = level;
    if (level === null) return;
    state.preview = makeLayer(state.mode, {
      minNativeZoom: level, maxNativeZoom: level, zIndex: 1, className: "preview-tiles",
    });
    state.preview._bpMode = state.mode;
    state.preview.addTo(state.map);
  }

  function setMode(mode) {
    if (mode === state.mode) return;
    state.mode = mode;
    $("mode").value = mode;
    if (state.main) state.oldMains.push(state.main); // kept until the new mode's tiles are in
    state.main = makeMain(mode).addTo(state.map);
    updatePreview();
    renderLegend();
    writeHash();
  }

  // What the screen shows, for the tests and the benchmark: the share of the plane's visible
  // part covered by loaded tiles of any level (`any`) and of the current level (`full`).
  function coverage(samples = 12) {
    const map = state.map;
    const z = map.getZoom();
    const rect = map.getContainer().getBoundingClientRect();
    const nw = map.latLngToContainerPoint(L.latLng(0, 0));
    const se = map.latLngToContainerPoint(L.latLng(-TILE, TILE));
    const left = rect.left + Math.max(0, nw.x), right = rect.left + Math.min(rect.width, se.x);
    const top = rect.top + Math.max(0, nw.y), bottom = rect.top + Math.min(rect.height, se.y);
    const any = [], full = [];
    for (const layer of [state.main, state.preview, ...state.oldMains]) {
      if (!layer) continue;
      for (const img of layer._bpTiles.values()) {
        if (!img.classList.contains("leaflet-tile-loaded") || !img.isConnected) continue;
        const r = img.getBoundingClientRect();
        any.push(r);
        if (layer === state.main && img._bpCoords.z === z) full.push(r);
      }
    }
    const inside = (rects, x, y) => rects.some((r) => x >= r.left && x < r.right && y >= r.top && y < r.bottom);
    let a = 0, f = 0, n = 0;
    for (let p = 0; p < samples; p++) {
      for (let q = 0; q < samples; q++) {
        const x = left + ((p + 0.5) * (right - left)) / samples;
        const y = top + ((q + 0.5) * (bottom - top)) / samples;
        n++;
        if (inside(any, x, y)) a++;
        if (inside(full, x, y)) f++;
      }
    }
    return { any: a / n, full: f / n, zoom: z, loading: state.loading };
  }

  // ------------------------------------------------------------------ the view, the hash

  function writeHash() {
    if (!state.map) return;
    const [u, v] = fracOfLatLng(state.map.getCenter());
    const params = new URLSearchParams();
    params.set("mode", state.mode);
    params.set("z", String(state.map.getZoom()));
    params.set(state.plane.x, String(valueOfAxis(0, axisOfFrac(0, u))));
    params.set(state.plane.y, String(valueOfAxis(1, axisOfFrac(1, v))));
    const hash = `#${params.toString()}`;
    state.writtenHash = hash;
    if (hash !== location.hash) history.replaceState(null, "", hash);
  }

  // The view a hash names (#mode=...&z=...&<x setting>=...&<y setting>=...), checked.
  function viewOfHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    const plane = state.plane;
    const out = {};
    if (p.has("mode")) {
      const mode = p.get("mode");
      if (plane.modes.includes(mode)) out.mode = mode;
      else showMessage(`the URL's colour mode ${JSON.stringify(mode)} is not one of ${plane.modes.join(", ")}`);
    }
    if (p.has("z")) {
      const z = Number(p.get("z"));
      if (!Number.isInteger(z) || z < 0) {
        showMessage(`the URL's zoom ${JSON.stringify(p.get("z"))} is not a whole number from 0 to ${plane.max_level}`);
      } else if (z > plane.max_level) {
        showMessage(`the URL's zoom ${z} is beyond level ${plane.max_level}, the deepest: ${limitText()}`);
        out.z = plane.max_level;
      } else out.z = z;
    }
    if (p.has(plane.x) || p.has(plane.y)) {
      const x = Number(p.get(plane.x)), y = Number(p.get(plane.y));
      const u = fracOfAxis(0, axisOfValue(0, x)), v = fracOfAxis(1, axisOfValue(1, y));
      if (Number.isFinite(u) && Number.isFinite(v)) out.center = latLngOfFrac(u, v);
      else showMessage(`the URL's centre (${plane.x}=${p.get(plane.x)}, ${plane.y}=${p.get(plane.y)}) is not a point of this plane`);
    }
    return out;
  }

  function applyHash() {
    if (location.hash === state.writtenHash) return;
    const view = viewOfHash();
    if (view.mode) setMode(view.mode);
    if (view.z !== undefined || view.center) {
      state.map.setView(view.center || state.map.getCenter(), view.z ?? state.map.getZoom(), { animate: false });
    }
  }

  function limitText() {
    return "float64 can no longer separate neighbouring pixels deeper than this";
  }

  function onMoveEnd() {
    const map = state.map;
    const z = map.getZoom();
    const [u, v] = fracOfLatLng(map.getCenter());
    api("/api/view", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ z, u, v }),
    }).catch((err) => showOnce(err.message));
    updatePreview();
    writeHash();
    renderView();
    const limit = $("limit");
    limit.hidden = z < state.plane.max_level;
    limit.textContent = `deepest level (${z}): ${limitText()}`;
  }

  function renderView() {
    const w = viewWindow();
    const z = state.map.getZoom();
    const lines = [`level ${z} (${2 ** z}x): ${(TILE * 2 ** z).toLocaleString()} pixels a side`];
    for (const a of [0, 1]) {
      const [f0, f1] = a === 0 ? [w.u0, w.u1] : [w.v0, w.v1];
      const t0 = axisOfFrac(a, f0), t1 = axisOfFrac(a, f1);
      const step = state.plane.span[a] * Math.pow(2, -(8 + z));
      const d = digitsFor(a, (t0 + t1) / 2, step);
      const span = isLog(a) ? `${fmt(t1 - t0, 3)} decades` : `span ${fmt(t1 - t0, 3)}`;
      lines.push(`${axisName(a)} ${fmt(valueOfAxis(a, t0), d)} … ${fmt(valueOfAxis(a, t1), d)} (${span})`);
    }
    $("view-text").replaceChildren(...lines.map((t) => textDiv(t)));
  }

  function textDiv(text, className) {
    const div = document.createElement("div");
    div.textContent = text;
    if (className) div.className = className;
    return div;
  }

  let pointerFrame = 0;
  function onPointer(e) {
    if (pointerFrame) return;
    const { clientX, clientY } = e.originalEvent;
    pointerFrame = requestAnimationFrame(() => {
      pointerFrame = 0;
      const p = pixelAt(clientX, clientY);
      const box = $("pointer-text");
      if (!p) {
        box.textContent = "outside the plane";
        return;
      }
      const x = fmtAxis(0, pixelAxis(0, p.z, p.i), p.z), y = fmtAxis(1, pixelAxis(1, p.z, p.j), p.z);
      box.replaceChildren(textDiv(`${state.plane.x} = ${x}, ${state.plane.y} = ${y}`),
        textDiv(`pixel (${p.i}, ${p.j}) of level ${p.z}`, "muted"));
    });
  }

  // ------------------------------------------------------------------ the legend

  function swatch(background, className = "swatch") {
    const span = document.createElement("span");
    span.className = className;
    span.style.background = background;
    return span;
  }

  function legendRow(sw, label) {
    const div = document.createElement("div");
    div.className = "legend-row";
    div.append(sw, document.createTextNode(label));
    return div;
  }

  function colourBar(colors, low, high, label) {
    const box = document.createElement("div");
    box.className = "colourbar";
    box.append(textDiv(label));
    box.append(swatch(`linear-gradient(to right, ${colors.join(", ")})`, "bar"));
    const ends = document.createElement("div");
    ends.className = "bar-ends";
    ends.append(textDiv(low), textDiv(high));
    box.append(ends);
    return box;
  }

  function renderLegend() {
    const legends = state.plane.legends;
    const box = $("legend");
    box.replaceChildren();
    const mode = state.mode;
    if (mode === "outcome") {
      for (const [label, dark, light] of legends.outcome) {
        box.append(legendRow(swatch(`linear-gradient(to right, ${dark}, ${light})`), label));
      }
    } else if (mode === "steps") {
      const s = legends.steps;
      box.append(colourBar(s.colors, fmt(s.low), fmt(s.high), s.label));
    } else if (mode === "final_ssr") {
      const s = legends.final_ssr;
      const [lo, hi] = state.ssrRange ? state.ssrRange.map((v) => fmt(v, 3)) : ["…", "…"];
      box.append(colourBar(s.colors, lo, hi, `${s.label}, the range of level 0`));
      box.append(legendRow(swatch(s.not_finite), "not finite (diverged)"));
    } else if (mode === "chaos") {
      for (const [label, colour] of legends.chaos.families) box.append(legendRow(swatch(colour), label));
    } else if (mode === "basin") {
      const s = legends.basin;
      const bar = document.createElement("div");
      bar.className = "legend-row";
      for (const c of s.colors) bar.append(swatch(c, "swatch narrow"));
      box.append(bar, textDiv(s.label, "muted"));
      box.append(legendRow(swatch(s.none), "not a good fit"));
    }
    if (state.startShown) box.append(legendRow(textDiv("★", "star-key"), "the lesson's start"));
    box.append(legendRow(swatch("#7f0000"), "crossed: a tile that failed (see the message)"));
    if (!state.plane.train) box.append(legendRow(swatch("#9e9e9e"), "crossed: not trained for this map"));
  }

  // ------------------------------------------------------------------ the server's queue

  let pollTimer = 0;
  function schedulePoll(delay) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, delay);
  }

  async function poll() {
    try {
      const s = await (await api("/api/status")).json();
      state.pending = s.pending;
      state.trained = s.trained;
      $("pending").textContent = s.pending
        ? `${s.pending} tile${s.pending === 1 ? "" : "s"} pending`
        : `no tiles pending (${s.trained} trained here)`;
      $("pending").classList.toggle("busy", s.pending > 0);
      for (const e of s.errors) showOnce(e);
      if (s.ssr_range && String(s.ssr_range) !== String(state.ssrRange)) {
        state.ssrRange = s.ssr_range;
        renderLegend();
      }
    } catch (err) {
      $("pending").textContent = err.message;
    }
    schedulePoll(state.pending > 0 || state.loading ? 1000 : 4000);
  }

  // ------------------------------------------------------------------ a pixel's run

  // A small line plot on a canvas: series [{x: [...], y: [...], color}], gaps at null.
  function plot(canvas, series, { logY = false, xLabel = "" } = {}) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 320, h = canvas.clientHeight || 160;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const m = { l: 46, r: 10, t: 8, b: 30 };
    const ty = (y) => (logY ? (y > 0 ? Math.log10(y) : NaN) : y);
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const s of series) {
      s.x.forEach((x, k) => {
        const y = s.y[k] === null ? NaN : ty(s.y[k]);
        if (!Number.isFinite(y)) return;
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      });
    }
    if (!Number.isFinite(x0)) return 0;
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    const pad = (y1 - y0) * 0.04;
    y0 -= pad; y1 += pad;
    const px = (x) => m.l + ((x - x0) / (x1 - x0)) * (w - m.l - m.r);
    const py = (y) => h - m.b - ((y - y0) / (y1 - y0)) * (h - m.t - m.b);
    g.strokeStyle = "#999"; g.fillStyle = "#333"; g.lineWidth = 1;
    g.font = "11px system-ui, sans-serif";
    g.strokeRect(m.l, m.t, w - m.l - m.r, h - m.t - m.b);
    g.textAlign = "center"; g.textBaseline = "top";
    for (const t of ticks(x0, x1, 5)) {
      g.fillText(fmt(t, 4), px(t), h - m.b + 3);
      g.beginPath(); g.moveTo(px(t), h - m.b); g.lineTo(px(t), h - m.b + 3); g.stroke();
    }
    g.fillText(xLabel, (m.l + w - m.r) / 2, h - 14);
    g.textAlign = "right"; g.textBaseline = "middle";
    const yt = logY ? decades(y0, y1) : ticks(y0, y1, 4);
    for (const t of yt) {
      g.fillText(logY ? (Number.isInteger(t) ? fmt(Math.pow(10, t), 1) : fmt(Math.pow(10, t), 2)) : fmt(t, 3), m.l - 4, py(t));
      g.beginPath(); g.moveTo(m.l - 3, py(t)); g.lineTo(m.l, py(t)); g.stroke();
    }
    let drawn = 0;
    g.save();
    g.beginPath(); g.rect(m.l, m.t, w - m.l - m.r, h - m.t - m.b); g.clip();
    for (const s of series) {
      g.strokeStyle = s.color; g.lineWidth = 1.5; g.beginPath();
      let pen = false;
      s.x.forEach((x, k) => {
        const y = s.y[k] === null ? NaN : ty(s.y[k]);
        if (!Number.isFinite(y)) { pen = false; return; }
        if (pen) g.lineTo(px(x), py(y)); else g.moveTo(px(x), py(y));
        pen = true;
        drawn++;
      });
      g.stroke();
    }
    g.restore();
    return drawn;
  }

  function ticks(lo, hi, n) {
    const raw = (hi - lo) / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) || 10 * mag;
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    return out;
  }

  function decades(lo, hi) {
    const out = [];
    for (let t = Math.ceil(lo); t <= Math.floor(hi); t++) out.push(t);
    if (out.length < 2) return ticks(lo, hi, 3);
    const every = Math.ceil(out.length / 6);
    return out.filter((t) => t % every === 0);
  }

  function onClick(e) {
    const { clientX, clientY } = e.originalEvent;
    clearTimeout(state.clickTimer);
    // a double click zooms: the pixel panel waits to see whether a second click comes
    state.clickTimer = setTimeout(() => {
      const p = pixelAt(clientX, clientY);
      if (p) openPixel(p);
    }, 250);
  }

  async function openPixel(p) {
    const seq = ++state.pixelSeq;
    $("pixel-section").hidden = false;
    const box = $("pixel");
    box.replaceChildren(textDiv(`training pixel (${p.i}, ${p.j}) of level ${p.z} with its trace…`, "muted"));
    const n = Math.pow(2, 8 + p.z);
    const centre = latLngOfFrac((Number(p.i) + 0.5) / n, (Number(p.j) + 0.5) / n);
    if (state.pixelMarker) state.pixelMarker.remove();
    state.pixelMarker = L.circleMarker(centre, {
      radius: 7, color: "#fff", weight: 2, fill: false, interactive: false, className: "pixel-marker",
    }).addTo(state.map);
    try {
      const response = await api(`/api/pixel?z=${p.z}&i=${p.i}&j=${p.j}`);
      const data = await response.json();
      if (seq !== state.pixelSeq) return;
      state.lastPixel = data;
      state.lastPixelAt = { z: p.z, i: String(p.i), j: String(p.j) };
      renderPixel(data, p);
    } catch (err) {
      if (seq !== state.pixelSeq) return;
      box.replaceChildren(textDiv(err.message, "error-text"));
      showMessage(err.message);
    }
  }

  function table(rows) {
    const t = document.createElement("table");
    for (const [k, v] of rows) {
      const tr = t.insertRow();
      tr.insertCell().textContent = k;
      tr.insertCell().textContent = v;
    }
    return t;
  }

  // The run of pixel p = {z, i, j}: its indices are shown from p (JSON numbers round indices
  // above 2^53, as deep levels have), the rest from the server's answer d.
  function renderPixel(d, p) {
    const box = $("pixel");
    const [xn, yn] = [state.plane.x, state.plane.y];
    const params = Object.keys(d.start);
    const same = (a, b) => a.map((k) => `${k}=${fmt(b[k], 6)}`).join("  ");
    const head = document.createElement("div");
    head.className = "pixel-head";
    head.append(textDiv(`${xn} = ${d.axes[xn]}`), textDiv(`${yn} = ${d.axes[yn]}`));
    const where = textDiv(`pixel (${p.i}, ${p.j}) of level ${p.z}; data ${d.dataset}`, "muted");
    const facts = table([
      ["status", d.status],
      ["steps", String(d.steps)],
      ["initial SSR", fmt(d.initial_ssr, 6)],
      ["final SSR", fmt(d.final_ssr, 6)],
      ["start", same(params, d.start)],
      ["final", same(params, d.final)],
    ]);
    facts.className = "facts";
    const loss = document.createElement("canvas");
    loss.className = "plot";
    loss.id = "loss-plot";
    const traj = document.createElement("canvas");
    traj.className = "plot";
    traj.id = "param-plot";
    const key = document.createElement("div");
    key.className = "plot-key";
    params.forEach((p, k) => {
      const span = document.createElement("span");
      span.style.color = TAB10[k % TAB10.length];
      span.textContent = `— ${p} `;
      key.append(span);
    });
    const settings = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "every setting of this run";
    settings.append(summary, table(Object.entries(d.settings).map(([k, v]) => [k, String(v)])));
    const cmd = document.createElement("pre");
    cmd.id = "command";
    cmd.textContent = d.command;
    const copy = document.createElement("button");
    copy.textContent = "copy the command";
    copy.onclick = () => {
      const done = () => { copy.textContent = "copied"; setTimeout(() => (copy.textContent = "copy the command"), 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(d.command).then(done, () => selectText(cmd));
      } else selectText(cmd);
    };
    box.replaceChildren(head, where, facts, textDiv("SSR per step (log scale)", "plot-title"), loss,
      textDiv("parameters per step", "plot-title"), traj, key, textDiv("reproduce it:", "plot-title"), cmd, copy, settings);
    const steps = d.trace.step;
    loss._bpDrawn = plot(loss, [{ x: steps, y: d.trace.ssr, color: "#1f77b4" }], { logY: true, xLabel: "step" });
    traj._bpDrawn = plot(traj, params.map((p, k) => ({ x: steps, y: d.trace[p], color: TAB10[k % TAB10.length] })),
      { xLabel: "step" });
  }

  function selectText(element) {
    const range = document.createRange();
    range.selectNodeContents(element);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    showMessage("selected: press Ctrl-C to copy", "note");
  }

  // ------------------------------------------------------------------ from a view to a result

  async function saveConfig() {
    const button = $("save-config");
    button.disabled = true;
    try {
      const response = await api(`/api/config?${viewQuery()}`);
      const text = await response.text();
      const found = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
      const name = found ? found[1] : "view.toml";
      const a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([text], { type: "application/toml" }));
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      showMessage(`saved ${name}: bpsweep map ${name} trains this view at 4096 x 4096`, "note");
    } catch (err) {
      showMessage(err.message);
    } finally {
      button.disabled = false;
    }
  }

  async function measure() {
    const button = $("measure");
    const side = Number($("measure-side").value);
    const box = $("dimension");
    button.disabled = true;
    const tiles = Math.ceil(side / TILE) ** 2;
    box.replaceChildren(textDiv(`measuring at ${side} x ${side}: training up to ${tiles} tile${tiles === 1 ? "" : "s"} of its own…`, "muted"));
    try {
      const response = await api(`/api/dimension?${viewQuery()}&side=${side}`);
      const d = await response.json();
      const out = [];
      if (!d.dimensions.length) out.push(textDiv("no boundary in this view: one outcome only"));
      for (const e of d.dimensions) {
        const D = e.D === null ? "undefined" : e.D.toFixed(3);
        const u = e.uncertainty === null ? "" : ` ± ${e.uncertainty.toFixed(3)}`;
        out.push(textDiv(`${e.classes}: D = ${D}${u}`, "dimension-value"));
        out.push(textDiv(e.summary, "muted"));
      }
      if (d.plot) {
        const img = document.createElement("img");
        img.src = d.plot;
        img.alt = "box counts of the outcome boundaries";
        img.className = "dimension-plot";
        out.push(img);
      }
      box.replaceChildren(...out);
    } catch (err) {
      box.replaceChildren(textDiv(err.message, "error-text"));
      showMessage(err.message);
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ start

  async function start() {
    try {
      state.plane = await (await api("/api/plane")).json();
    } catch (err) {
      showMessage(`cannot load the plane: ${err.message}`);
      return;
    }
    const plane = state.plane;
    document.title = `${plane.name}: bpsweep explore`;
    $("title").textContent = `${plane.name}: ${plane.x} × ${plane.y}`;
    $("fixed").textContent = `fixed: ${plane.fixed}` + (plane.train ? "" : " · browsing a finished map (nothing is trained)");
    for (const m of plane.modes) $("mode").append(new Option(m, m));
    const map = L.map("map", {
      crs: L.CRS.Simple, minZoom: 0, maxZoom: plane.max_level, zoomSnap: 1, zoomDelta: 1,
      wheelPxPerZoomLevel: 120, maxBounds: WORLD, maxBoundsViscosity: 1.0, fadeAnimation: false,
      boxZoom: true, doubleClickZoom: true,
    });
    state.map = map;
    window.explorer.map = map;
    const view = viewOfHash();
    if (view.z !== undefined || view.center) {
      map.setView(view.center || L.latLng(-TILE / 2, TILE / 2), view.z ?? 1, { animate: false });
    } else {
      map.fitBounds(WORLD);
    }
    setMode(view.mode || plane.mode);
    if (plane.start) {
      const u = fracOfAxis(0, axisOfValue(0, plane.start[0])), v = fracOfAxis(1, axisOfValue(1, plane.start[1]));
      if (u >= 0 && u <= 1 && v >= 0 && v <= 1) {
        L.marker(latLngOfFrac(u, v), {
          icon: L.divIcon({ className: "start-icon", html: "★", iconSize: [22, 22] }),
          interactive: false, keyboard: false,
        }).addTo(map);
        state.startShown = true;
      }
    }
    renderLegend();
    map.on("moveend", onMoveEnd);
    map.on("mousemove", onPointer);
    map.on("click", onClick);
    map.on("dblclick", () => clearTimeout(state.clickTimer));
    let limitShown = 0;
    map.getContainer().addEventListener("wheel", (e) => {
      if (e.deltaY < 0 && map.getZoom() >= plane.max_level && Date.now() - limitShown > 4000) {
        limitShown = Date.now();
        showMessage(`level ${plane.max_level} is the deepest: ${limitText()}`, "note");
      }
    }, { passive: true });
    window.addEventListener("hashchange", applyHash);
    $("mode").addEventListener("change", (e) => setMode(e.target.value));
    $("save-config").addEventListener("click", saveConfig);
    $("measure").addEventListener("click", measure);
    $("pixel-close").addEventListener("click", () => {
      $("pixel-section").hidden = true;
      if (state.pixelMarker) state.pixelMarker.remove();
      state.pixelMarker = null;
    });
    onMoveEnd();
    poll();
    state.ready = true;
  }

  window.explorer = { state, pixelAt, pixelAxis, coverage, viewWindow, openPixel, showMessage };
  start();
})();
