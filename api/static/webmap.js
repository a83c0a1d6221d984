// The registry's web map: a base map (configured tiles, or the registry's own reference layers), every project
// layer drawn from the registry's OGC API with the project list's filters, kept in the URL; search by project
// name or id, zoom to a street or a project, a legend, a scale bar and a print layout.
(function () {
  "use strict";
  // The page's settings come as JSON data, not as an inline script (its Content-Security-Policy runs none).
  const R = JSON.parse(document.getElementById("registry-config").textContent);
  const API = window.Registry;
  // Colours are the registry's one palette; a category's layers are those it owns (polders bring their sluices).
  const colours = Object.fromEntries(R.categories.flatMap((c) => c.layers.map((l) => [l.name, l.colour])));
  const names = Object.fromEntries(R.categories.map((c) => [c.slug, c.zh]));
  const map = L.map("map", { attributionControl: Boolean(R.basemap && R.basemap.attribution) }).setView([31.33, 120.75], 12);
  window.registryMap = map; // for scripts driving the page (tests, a print service)
  const base = L.layerGroup().addTo(map);
  const projectGroups = Object.fromEntries(R.categories.flatMap((c) => c.layers.map((l) => [l.name, L.featureGroup().addTo(map)])));
  const found = L.featureGroup().addTo(map); // the project a search or the URL chose, outlined
  const status = document.getElementById("status");
  const controls = { street: "street", year: "year", status: "status-filter", department: "department", in_statement: "in-statement" };
  const KEPT = ["q", "investment_min", "investment_max", "bbox", "polygon", "as_of"]; // list filters the panel does not edit
  const kept = Object.fromEntries(KEPT.filter((k) => R.initial[k]).map((k) => [k, R.initial[k]]));
  const streetBounds = {};
  let parkBounds = null;
  let generation = 0;

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

  // The street boundaries valid today, for zooming to a street (drawn by the base map when no tiles are set).
  function loadStreets() {
    const today = new Date().toISOString().slice(0, 10);
    return API.items("street_offices", { datetime: today }).then((fc) => {
      for (const f of fc.features) { streetBounds[f.properties.code] = L.geoJSON(f).getBounds(); }
    });
  }

  // The filters chosen in the panel, with those of the list the panel does not edit, in the list's names.
  function filters() {
    const params = { ...kept };
    for (const [key, id] of Object.entries(controls)) {
      const value = document.getElementById(id).value;
      if (value) { params[key] = value; }
    }
    return params;
  }

  function chosenCategories() {
    return [...document.querySelectorAll("input.category:checked")].map((x) => x.value);
  }

  // The URL holds the state (the list's parameter names), so a map can be bookmarked, shared and opened as a list.
  function remember() {
    const params = new URLSearchParams(filters());
    const categories = chosenCategories();
    if (categories.length !== R.categories.length) { params.set("category", categories.join(",")); }
    if (R.lang) { params.set("lang", R.lang); }
    history.replaceState(null, "", `${location.pathname}?${params}`);
    const list = new URLSearchParams(params);
    list.set("f", "html");
    document.getElementById("list-link").href = `${R.projectUrl}?${list}`;
    document.getElementById("print-filters").textContent = describe();
  }

  // The filters as words, for the printed map's heading.
  function describe() {
    const parts = [];
    for (const [key, id] of Object.entries(controls)) {
      const select = document.getElementById(id);
      if (select.value) { parts.push(`${select.labels[0].textContent}：${select.selectedOptions[0].textContent}`); }
    }
    const categories = chosenCategories();
    if (categories.length !== R.categories.length) { parts.push(categories.map((c) => names[c]).join("、")); }
    for (const [key, value] of Object.entries(kept)) { parts.push(`${key}=${value}`); }
    return parts.join("；");
  }

  function zoomToStreet() {
    const code = document.getElementById("street").value;
    const bounds = code ? streetBounds[code] : parkBounds;
    if (bounds && bounds.isValid()) { map.fitBounds(bounds); }
  }

  function drawProjects() {
    const mine = ++generation;
    status.dataset.state = "loading";
    status.textContent = R.text.loading;
    remember();
    const chosen = new Set(chosenCategories());
    const layers = R.categories.filter((c) => chosen.has(c.slug)).flatMap((c) => c.layers.map((l) => l.name));
    const params = filters();
    return Promise.all(layers.map((layer) => API.items(layer, params).then((fc) => [layer, fc]))).then((results) => {
      if (mine !== generation) { return; }
      for (const group of Object.values(projectGroups)) { group.clearLayers(); }
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
        }).addTo(projectGroups[name]);
      }
      window.drawnCount = drawn;
      window.matchedCount = matched;
      status.textContent = R.text.drawn.replace("%(drawn)s", drawn).replace("%(matched)s", matched);
      status.dataset.state = "ready";
      document.body.dataset.ready = "1";
    }).catch((error) => failed(error));
  }

  function failed(error) {
    status.dataset.state = "error";
    status.textContent = R.text.failed.replace("%(error)s", error.message);
    console.error(error);
  }

  // -- search: by name (the registry's q, either script) and by id (a CQL2 LIKE on project_id) --------------
  const results = document.getElementById("search-results");

  function projects(params) {
    const query = new URLSearchParams({ f: "json", limit: "10", lang: R.lang, ...params });
    return fetch(`${R.projectUrl}?${query}`, { headers: { Accept: "application/json" } })
      .then((r) => { if (!r.ok) { throw new Error(`HTTP ${r.status}`); } return r.json(); })
      .then((doc) => doc.projects);
  }

  function show(project) {
    found.clearLayers();
    const shape = L.geoJSON({ type: "FeatureCollection", features: project.features.map((f) => ({ type: "Feature", properties: {}, geometry: f.geometry })) }, {
      style: { color: "#f0b429", weight: 6, fill: false, className: "found" },
      pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 11, color: "#f0b429", weight: 4, fill: false, className: "found" }),
    }).addTo(found);
    const bounds = shape.getBounds();
    if (bounds.isValid()) { map.fitBounds(bounds, { maxZoom: 16, padding: [30, 30] }); }
    L.popup().setLatLng(bounds.isValid() ? bounds.getCenter() : map.getCenter()).setContent(popup(project)).openOn(map);
  }

  function search(text) {
    const asked = text.trim();
    results.replaceChildren();
    if (!asked) { return Promise.resolve([]); }
    const byId = /^[0-9A-Za-z-]+$/.test(asked) ? projects({ filter: `project_id LIKE '%${asked.toUpperCase()}%'` }) : Promise.resolve([]);
    return Promise.all([projects({ q: asked }), byId]).then(([named, ided]) => {
      const all = [...new Map([...ided, ...named].map((p) => [p.project_id, p])).values()];
      if (!all.length) {
        const li = document.createElement("li");
        li.textContent = R.text.noMatch;
        results.append(li);
      }
      for (const project of all) {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "result";
        button.textContent = `${project.name}（${project.project_id}）`;
        button.addEventListener("click", () => show(project));
        li.append(button);
        results.append(li);
      }
      if (all.length === 1) { show(all[0]); }
      return all;
    }).catch((error) => failed(error));
  }

  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    search(document.getElementById("search-text").value);
  });

  // -- legend, layer switcher, print -----------------------------------------------------------------------
  function swatch(colour) {
    const span = document.createElement("span");
    span.className = "swatch";
    span.style.background = colour;
    return span;
  }

  const legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    // A button folds the entries away (folded at first on a phone, where they would cover the map); print shows them.
    const div = L.DomUtil.create("div", "legend");
    div.innerHTML = "<button type=button class=fold aria-expanded=true></button><div class=entries></div>";
    const fold = div.querySelector("button");
    fold.textContent = R.text.legend;
    fold.addEventListener("click", () => {
      div.classList.toggle("folded");
      fold.setAttribute("aria-expanded", String(!div.classList.contains("folded")));
    });
    for (const layer of R.categories.flatMap((c) => c.layers)) {
      const entry = document.createElement("div");
      entry.append(swatch(layer.colour), layer.zh);
      div.querySelector(".entries").append(entry);
    }
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  legend.addTo(map);
  const overlays = Object.fromEntries(R.categories.flatMap((c) => c.layers.map((l) => [l.zh, projectGroups[l.name]])));
  L.control.layers(null, overlays, { collapsed: true, position: "topright" }).addTo(map);

  for (const chip of document.querySelectorAll("#panel .swatch[data-colour]")) {
    chip.style.background = chip.dataset.colour;
  }
  document.getElementById("print").addEventListener("click", () => window.print());
  window.addEventListener("beforeprint", () => map.invalidateSize());
  window.addEventListener("afterprint", () => map.invalidateSize());

  // -- the URL's state into the panel, then draw ----------------------------------------------------------
  for (const [key, id] of Object.entries(controls)) {
    const select = document.getElementById(id);
    if (R.initial[key] && [...select.options].some((o) => o.value === R.initial[key])) { select.value = R.initial[key]; }
    else if (R.initial[key]) { kept[key] = R.initial[key]; } // a value the panel cannot show: the layers' requests judge it
  }
  if (R.initial.category) {
    const wanted = new Set(R.initial.category.split(","));
    for (const box of document.querySelectorAll("input.category")) { box.checked = wanted.has(box.value); }
  }
  const note = document.getElementById("kept-filters");
  if (Object.keys(kept).length) { note.hidden = false; note.textContent = Object.entries(kept).map(([k, v]) => `${k}=${v}`).join("；"); }
  if (window.matchMedia("(max-width: 700px)").matches) {
    document.getElementById("filters").open = false;
    document.querySelector(".legend button.fold").click();
  }

  for (const element of document.querySelectorAll("#filters select, input.category")) {
    element.addEventListener("change", drawProjects);
  }
  document.getElementById("street").addEventListener("change", zoomToStreet);

  Promise.all([API.basemap(map, R.basemap, base, { labels: true, names: R.streets }), loadStreets()]).then(([park]) => {
    parkBounds = park || L.latLngBounds(Object.values(streetBounds).flatMap((b) => [b.getSouthWest(), b.getNorthEast()]));
    zoomToStreet();
    const drawing = drawProjects();
    if (R.initial.project) {
      projects({ filter: `project_id = '${R.initial.project.replace(/'/g, "''")}'` }).then((doc) => { if (doc.length) { show(doc[0]); } });
    }
    return drawing;
  }).catch((error) => failed(error));
})();
