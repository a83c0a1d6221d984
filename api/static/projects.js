// The project list: a clean URL from the filter form (blank fields left out), a polygon drawn on a small map
// (clicks add corners; closing it writes WKT into the polygon field), and the page marked ready once drawn
// (the table is the server's: ready as soon as the document is parsed).
(function () {
  "use strict";
  const C = JSON.parse(document.getElementById("list-config").textContent);
  const form = document.getElementById("filters");

  form.addEventListener("submit", () => {
    for (const input of form.querySelectorAll("input, select, textarea")) {
      if (input.name && input.type !== "checkbox" && !input.value.trim()) { input.disabled = true; }
    }
  });

  const details = form.querySelector("details.draw");
  const polygonField = document.getElementById("polygon");
  let map = null;

  function round(x) { return Math.round(x * 1e6) / 1e6; }

  function setUp() {
    if (map) { map.invalidateSize(); return; }
    map = L.map("draw-map", { attributionControl: Boolean(C.basemap && C.basemap.attribution), doubleClickZoom: false });
    map.setView([31.33, 120.75], 10);
    const base = L.layerGroup().addTo(map);
    let corners = [];
    const outline = L.polyline([], { color: "#c53030", weight: 2 }).addTo(map);
    const shape = L.polygon([], { color: "#c53030", weight: 2, fillOpacity: 0.15 }).addTo(map);
    const shown = /^\s*POLYGON\s*\(\(([^()]*)\)\)\s*$/i.exec(polygonField.value);
    if (shown) {
      const ring = shown[1].split(",").map((pair) => pair.trim().split(/\s+/).map(Number)).filter((xy) => xy.length === 2 && xy.every(Number.isFinite));
      shape.setLatLngs(ring.map(([x, y]) => [y, x]));
    }
    window.Registry.basemap(map, C.basemap, base, {}).then((park) => {
      if (shape.getLatLngs()[0] && shape.getLatLngs()[0].length) { map.fitBounds(shape.getBounds()); } else if (park) { map.fitBounds(park); }
    }).catch((error) => console.error(error));
    map.on("click", (event) => {
      corners.push(event.latlng);
      shape.setLatLngs([]);
      outline.setLatLngs(corners);
    });
    document.getElementById("draw-finish").addEventListener("click", () => {
      if (corners.length < 3) { return; }
      const ring = [...corners, corners[0]].map((p) => `${round(p.lng)} ${round(p.lat)}`);
      polygonField.value = `POLYGON((${ring.join(", ")}))`;
      shape.setLatLngs(corners);
      outline.setLatLngs([]);
      corners = [];
    });
    document.getElementById("draw-clear").addEventListener("click", () => {
      corners = [];
      outline.setLatLngs([]);
      shape.setLatLngs([]);
      polygonField.value = "";
    });
    document.getElementById("draw-bbox").addEventListener("click", () => {
      const b = map.getBounds();
      document.getElementById("bbox").value = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(round).join(",");
    });
  }

  // Leaflet (scripts and stylesheet) is loaded when the drawing map is first opened: the list itself needs no map.
  const element = window.registryAsset;
  let loading = null;
  function load() {
    loading = loading || Promise.all([element("link", { rel: "stylesheet", href: C.style }),
      C.scripts.reduce((done, src) => done.then(() => element("script", { src })), Promise.resolve())]);
    return loading.then(setUp).catch((error) => console.error(error));
  }

  details.addEventListener("toggle", () => { if (details.open) { load(); } });
  if (details.open) { load(); }
  performance.mark("data-ready");
  document.body.dataset.ready = "1";
})();
