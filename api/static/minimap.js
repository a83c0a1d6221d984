// A page's small map of its geometry (a project's features, a feature, a page of features, a layer's extent),
// over the registry's base map; the page is marked ready (body data-ready) once it is drawn.
(function () {
  "use strict";
  const C = JSON.parse(document.getElementById("minimap-config").textContent);
  const R = window.Registry;
  const map = L.map("minimap", { attributionControl: Boolean(C.basemap && C.basemap.attribution), scrollWheelZoom: false });
  map.setView([31.33, 120.75], 11);
  const base = L.layerGroup().addTo(map);
  const style = { color: C.colour || "#c05621", weight: 4, fillColor: C.colour || "#c05621", fillOpacity: 0.45 };

  function draw(geojson) {
    const layer = L.geoJSON(geojson, {
      style,
      pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 6, color: "#222", weight: 1, fillColor: style.color, fillOpacity: 0.9 }),
    }).addTo(map);
    const bounds = layer.getBounds();
    if (bounds.isValid()) { map.fitBounds(bounds, { maxZoom: 16, padding: [12, 12] }); }
    return layer;
  }

  const geometry = C.url
    ? fetch(C.url, { headers: { Accept: "application/geo+json" } }).then((r) => { if (!r.ok) { throw new Error(`HTTP ${r.status}`); } return r.json(); })
    : Promise.resolve(C.geojson);
  Promise.all([R.basemap(map, C.basemap, base, { labels: Boolean(C.labels) }), geometry])
    .then(([park, geojson]) => {
      const layer = geojson ? draw(geojson) : null;
      if ((!layer || !layer.getBounds().isValid()) && C.bbox) {
        const [w, s, e, n] = C.bbox;
        const box = L.rectangle([[s, w], [n, e]], { color: "#2b6cb0", weight: 2, fill: false }).addTo(map);
        map.fitBounds(box.getBounds());
      } else if ((!layer || !layer.getBounds().isValid()) && park) {
        map.fitBounds(park);
      }
      document.body.dataset.ready = "1";
    })
    .catch((error) => {
      document.getElementById("minimap").dataset.error = error.message;
      console.error(error);
    });
})();
