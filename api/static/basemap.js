// The registry's base map for every page with a map: the configured tile templates (REGISTRY_BASEMAP), or with
// none the registry's own reference layers (park, street offices, lakes, main rivers), so maps work offline.
(function () {
  "use strict";
  const R = (window.Registry = window.Registry || {});

  // A layer's GeoJSON from the registry's OGC API (the page's own origin: the policy allows nothing else).
  R.items = function (collection, params) {
    const query = new URLSearchParams({ limit: "100000", ...params });
    return fetch(`/collections/${collection}/items?${query}`, { headers: { Accept: "application/geo+json" } })
      .then((r) => { if (!r.ok) { throw new Error(`${collection}: HTTP ${r.status}`); } return r.json(); });
  };

  // Draws the base map into ``group``: the configured tiles with the street offices and the park's outline over
  // them (no tile server knows the registry's streets), or with no tiles also its lakes and main rivers.
  // Resolves with the park's bounds.
  R.basemap = function (map, config, group, options) {
    const opts = { labels: false, ...options };
    const tiled = Boolean(config && config.templates && config.templates.length);
    L.control.scale({ imperial: false, maxWidth: 160 }).addTo(map);
    if (tiled) {
      for (const template of config.templates) {
        L.tileLayer(template, { subdomains: config.subdomains, attribution: config.attribution, maxZoom: 18 }).addTo(group);
      }
      if (config.attribution) { map.attributionControl.setPrefix(false); }
    }
    const today = new Date().toISOString().slice(0, 10);
    const water = tiled ? [] : [
      R.items("lakes", {}).then((fc) => L.geoJSON(fc, { interactive: false, style: { color: "#90cdf4", weight: 1, fillColor: "#bee3f8", fillOpacity: 0.8 } }).addTo(group)),
      R.items("main_rivers", {}).then((fc) => L.geoJSON(fc, { interactive: false, style: { color: "#63b3ed", weight: 3 } }).addTo(group)),
    ];
    return Promise.all([
      R.items("park_boundary", {}).then((fc) => L.geoJSON(fc, { interactive: false, style: { color: "#1a202c", weight: 2.5, fill: false } }).addTo(group)),
      R.items("street_offices", { datetime: today }).then((fc) => L.geoJSON(fc, {
        style: { color: "#4a5568", weight: 1.5, dashArray: "4 3", fill: false },
        interactive: opts.labels,
        onEachFeature: (f, layer) => {
          if (opts.labels) { // named in the page's script when the page gives the names (options.names: code → name)
            const name = (opts.names && opts.names[f.properties.code]) || f.properties.name;
            layer.bindTooltip(name, { permanent: true, direction: "center", className: "street" });
          }
        },
      }).addTo(group)),
      ...water,
    ]).then((layers) => layers[0].getBounds());
  };
})();
