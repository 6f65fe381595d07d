// bpsweep explore: a minimal page (the full one replaces it)
(async function () {
  const plane = await (await fetch("/api/plane")).json();
  document.getElementById("title").textContent = plane.name;
  const map = L.map("map", { crs: L.CRS.Simple, minZoom: 0, maxZoom: plane.max_level });
  const bounds = [[-256, 0], [0, 256]];
  L.tileLayer(`/tiles/${plane.plane}/${plane.mode}/{z}/{x}/{y}.png`, {
    tileSize: 256, noWrap: true, bounds: bounds, maxNativeZoom: plane.max_level,
  }).addTo(map);
  map.fitBounds(bounds);
})();
