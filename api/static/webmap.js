// The registry's web map: base layers and projects drawn from the registry's own OGC API.
(function () {
  "use strict";
  // The page's settings come as JSON data, not as an inline script (its Content-Security-Policy runs none).
  const R = JSON.parse(document.getElementById("registry-config").textContent);
  // Colours are the registry's one palette; a category's layers are those it owns (polders bring their sluices).
  const colours = Object.fromEntries(R.categories.flatMap((c) => c.layers.map((l) => [l.name, l.colour])));
  const names = Object.fromEntries(R.categories.map((c) => [c.slug, c.zh]));
  const map = L.map("map", { preferCanvas: false, attributionControl: false }).setView([31.33, 120.75], 12);
  const base = L.layerGroup().addTo(map);
  const projects = L.featureGroup().addTo(map);
  const status = document.getElementById("status");
  let generation = 0;

  function items(collection, params) {
    const query = new URLSearchParams({ limit: "100000", lang: R.lang, ...params });
    return fetch(`${R.collectionsUrl}/${collection}/items?${query}`, { headers: { Accept: "application/geo+json" } })
      .then((r) => { if (!r.ok) { throw new Error(`${collection}: HTTP ${r.status}`); } return r.json(); });
  }

  function wan(yuan) {
    return (yuan / 10000).toLocaleString(R.lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + " " + R.text.wan;
  }

  function popup(p) {
    const div = document.createElement("div");
    const link = `${R.projectUrl}/${encodeURIComponent(p.project_id)}?f=html`;
    // Interface text comes from the registry's message catalog (R.text), in the page's script.
    div.innerHTML = "<b></b><br><span class=tc></span>:<span class=c></span><br><span class=ts></span>:<span class=s></span><br>" +
      "<span class=tm></span>:<span class=m></span><br><span class=td></span>:<span class=d></span><br><a></a>";
    for (const [cls, key] of [["tc", "category"], ["ts", "status"], ["tm", "investment"], ["td", "department"]]) {
      div.querySelector(`.${cls}`).textContent = R.text[key];
    }
    div.querySelector("a").textContent = R.text.projectPage;
    div.querySelector("b").textContent = `${p.name} (${p.project_id})`;
    div.querySelector(".c").textContent = p.category_label || names[p.category] || p.category;
    div.querySelector(".s").textContent = p.status_label || R.statuses[p.status] || p.status;
    div.querySelector(".m").textContent = wan(p.investment_yuan);
    div.querySelector(".d").textContent = p.lead_department_label || p.lead_department;
    div.querySelector("a").href = link;
    return div;
  }

  function drawBase() {
    const today = new Date().toISOString().slice(0, 10);
    return Promise.all([
      items("lakes", {}).then((fc) => L.geoJSON(fc, { style: { color: "#90cdf4", weight: 1, fillColor: "#bee3f8", fillOpacity: 0.8 } }).addTo(base)),
      items("street_offices", { datetime: today }).then((fc) => L.geoJSON(fc, {
        style: { color: "#4a5568", weight: 1.5, dashArray: "4 3", fill: false },
        onEachFeature: (f, layer) => layer.bindTooltip(f.properties.name, { permanent: true, direction: "center", className: "street" }),
      }).addTo(base)),
      items("main_rivers", {}).then((fc) => L.geoJSON(fc, { style: { color: "#63b3ed", weight: 3 } }).addTo(base)),
      items("park_boundary", {}).then((fc) => {
        const park = L.geoJSON(fc, { style: { color: "#1a202c", weight: 2.5, fill: false } }).addTo(base);
        map.fitBounds(park.getBounds());
      }),
    ]);
  }

  function filters() {
    const params = {};
    for (const [id, key] of [["street", "street"], ["year", "year"], ["status-filter", "status"]]) {
      const value = document.getElementById(id).value;
      if (value) { params[key] = value; }
    }
    return params;
  }

  function drawProjects() {
    const mine = ++generation;
    status.dataset.state = "loading";
    status.textContent = R.text.loading;
    const chosen = new Set([...document.querySelectorAll("input.category:checked")].map((x) => x.value));
    const layers = R.categories.filter((c) => chosen.has(c.slug)).flatMap((c) => c.layers.map((l) => l.name));
    const params = filters();
    return Promise.all(layers.map((layer) => items(layer, params).then((fc) => [layer, fc]))).then((results) => {
      if (mine !== generation) { return; }
      projects.clearLayers();
      let drawn = 0;
      let matched = 0;
      for (const [name, fc] of results) {
        matched += fc.numberMatched;
        L.geoJSON(fc, {
          style: { color: colours[name], weight: 3, fillColor: colours[name], fillOpacity: 0.55, className: `project ${name}` },
          pointToLayer: (f, latlng) => L.circleMarker(latlng, {
            radius: 5, color: "#222", weight: 1, fillColor: colours[name], fillOpacity: 0.9, className: `project point ${name}`,
          }),
          onEachFeature: (f, layer) => { layer.bindPopup(popup(f.properties)); drawn += 1; },
        }).addTo(projects);
      }
      window.drawnCount = drawn;
      window.matchedCount = matched;
      status.textContent = R.text.drawn.replace("%(drawn)s", drawn).replace("%(matched)s", matched);
      status.dataset.state = "ready";
    }).catch((error) => {
      status.dataset.state = "error";
      status.textContent = R.text.failed.replace("%(error)s", error.message);
      console.error(error);
    });
  }

  // A category's colour chip, coloured through the DOM (the policy refuses style attributes in markup).
  function swatch(colour) {
    const span = document.createElement("span");
    span.className = "swatch";
    span.style.background = colour;
    return span;
  }

  const legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    const div = L.DomUtil.create("div", "legend");
    div.innerHTML = "<b></b>";
    div.querySelector("b").textContent = R.text.legend;
    for (const layer of R.categories.flatMap((c) => c.layers)) {
      div.append(document.createElement("br"), swatch(layer.colour), layer.zh);
    }
    return div;
  };
  legend.addTo(map);

  for (const chip of document.querySelectorAll("#panel .swatch[data-colour]")) {
    chip.style.background = chip.dataset.colour;
  }

  for (const element of document.querySelectorAll("#panel select, input.category")) {
    element.addEventListener("change", drawProjects);
  }
  drawBase().then(drawProjects).catch((error) => {
    status.dataset.state = "error";
    status.textContent = R.text.failed.replace("%(error)s", error.message);
    console.error(error);
  });
})();
