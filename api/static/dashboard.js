// The dashboard's charts (Chart.js) and overview map (Leaflet), drawn from the figures the page carries as JSON
// data (its Content-Security-Policy runs no inline script). The tables beside the charts hold the same figures
// for reading and for screen readers. body[data-ready] is set once the charts are drawn, body[data-map-ready] once
// the map is.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("dashboard-data").textContent);
  const font = getComputedStyle(document.body).fontFamily;
  const YI = 100000000;
  const number = new Intl.NumberFormat(D.lang, { maximumFractionDigits: 2 });

  function yi(yuan) { return number.format(Number(yuan) / YI) + " " + D.text.yi; }

  // A link to the project list with this page's filters and one more (key=value).
  function listUrl(key, value) {
    const url = new URL(D.links.projects, window.location.href);
    url.searchParams.set(key, value);
    return url.pathname + url.search;
  }

  const ink = "#1f2933";
  const muted = "#52606d";
  const rule = "#e4e7eb";
  // Each bar's figure written above it (the street chart's).
  const valueLabels = { id: "valueLabels", afterDatasetsDraw(instance) {
    const context = instance.ctx;
    context.save();
    context.fillStyle = ink;
    context.textAlign = "center";
    context.textBaseline = "bottom";
    instance.getDatasetMeta(0).data.forEach((bar, i) => {
      context.fillText(number.format(instance.data.datasets[0].data[i]), bar.x, bar.y - 4);
    });
    context.restore();
  } };
  const C = registryCharts.Chart;
  C.defaults.font.family = font;
  C.defaults.color = muted;
  C.defaults.animation = false;
  C.defaults.maintainAspectRatio = false;
  const yiTip = { callbacks: { label: (item) => `${item.dataset.label}：${number.format(item.raw)} ${D.text.yi}` } };

  // Each chart is drawn on a canvas in its card, all put on the page before the first is drawn (each chart reads
  // its size: the page is then laid out once, not once per chart). A click on a bar or slice opens the list of its
  // projects (the pointer says so; the tables beside the charts hold the same links for the keyboard).
  const canvases = Object.fromEntries(["year", "category", "street", "status"].map((key) => {
    const canvas = document.createElement("canvas");
    document.getElementById(`chart-${key}`).append(canvas);
    return [key, canvas];
  }));
  function chart(key, config) {
    new C(canvases[key], { ...config, options: { ...config.options,
      onHover: (event, elements) => { event.native.target.style.cursor = elements.length ? "pointer" : ""; },
      onClick: (event, elements) => {
        const row = elements.length ? D.groups[key][elements[0].index] : null;
        if (row && !["outside", "unlocated"].includes(row.key)) { window.location.href = listUrl(key, row.key); }
      } } });
  }

  const axis = (title, grid = true) => ({ beginAtZero: true, title: { display: Boolean(title), text: title },
    grid: { display: grid, color: rule }, border: { display: false } });
  const categories = { grid: { display: false } };
  const year = D.groups.year;
  const category = D.groups.category;
  const street = D.groups.street;
  const status = D.groups.status;
  const inYi = (r) => Number(r.investment_yuan) / YI;

  chart("year", {
    data: { labels: year.map((r) => r.label), datasets: [
      { type: "line", label: D.text.projects, yAxisID: "projects", data: year.map((r) => r.projects),
        borderColor: "#e07b00", backgroundColor: "#e07b00", borderWidth: 3, pointRadius: 4,
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}：${item.raw}` } } },
      { type: "bar", label: D.text.investment, yAxisID: "yi", data: year.map(inYi), backgroundColor: "#17457a",
        maxBarThickness: 48, tooltip: yiTip },
    ] },
    options: { interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "top" } },
      scales: { x: categories, yi: { ...axis(D.text.yi), position: "left" },
        projects: { ...axis(D.text.projects, false), position: "right" } } },
  });
  chart("category", {
    type: "bar",
    data: { labels: category.map((r) => r.label), datasets: [{ label: D.text.investment, data: category.map(inYi),
      backgroundColor: category.map((r) => D.colours.category[r.key]), maxBarThickness: 18 }] },
    options: { indexAxis: "y", plugins: { legend: { display: false }, tooltip: yiTip },
      scales: { x: axis(D.text.yi), y: categories } },
  });
  chart("street", {
    type: "bar",
    data: { labels: street.map((r) => r.label), datasets: [{ label: D.text.investment, data: street.map(inYi),
      backgroundColor: "#2c7bb6", maxBarThickness: 48 }] },
    options: { layout: { padding: { top: 20 } }, plugins: { legend: { display: false }, tooltip: yiTip },
      scales: { x: categories, y: axis(D.text.yi) } },
    plugins: [valueLabels],
  });
  chart("status", {
    type: "doughnut",
    data: { labels: status.map((r) => r.label), datasets: [{ label: D.text.projects, data: status.map((r) => r.projects),
      backgroundColor: status.map((r) => D.colours.status[r.key]) }] },
    options: { cutout: "55%", plugins: { legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 10 } } } },
  });
  // The charts draw at once (no animation), so they are on the page now; they follow the window's size themselves.
  performance.mark("data-ready");
  document.body.dataset.ready = "1";

  // The overview map: the street offices valid on the boundaries' date, coloured by their apportioned investment.
  // Leaflet (script and stylesheet) is loaded only now: the charts do not wait for the browser to fetch and compile it.
  const load = window.registryAsset;
  function leaflet() {
    return Promise.all([load("link", { rel: "stylesheet", href: D.leaflet.style }), load("script", { src: D.leaflet.script })]);
  }
  function items(collection, params) {
    const query = new URLSearchParams({ limit: "1000", ...params });
    return fetch(`${D.links.collections}/${collection}/items?${query}`, { headers: { Accept: "application/geo+json" } })
      .then((r) => { if (!r.ok) { throw new Error(`${collection}: HTTP ${r.status}`); } return r.json(); });
  }
  const investment = Object.fromEntries(street.map((r) => [r.key, Number(r.investment_yuan)]));
  const labels = Object.fromEntries(street.map((r) => [r.key, r.label]));
  const most = Math.max(1, ...Object.values(investment));
  const ramp = ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"];
  const shade = (code) => (code in investment ? ramp[Math.min(4, Math.floor((investment[code] / most) * 5))] : "#ffffff");
  Promise.all([
    items("lakes", {}),
    items("street_offices", { datetime: D.boundaries }),
    items("park_boundary", {}),
    leaflet(),
  ]).then(([lakes, streets, park]) => {
    const map = L.map("overview-map", { attributionControl: false, scrollWheelZoom: false, zoomSnap: 0.25 })
      .setView([31.33, 120.75], 11);
    L.geoJSON(streets, {
      style: (f) => ({ color: "#334e68", weight: 1.5, fillColor: shade(f.properties.code), fillOpacity: 0.85 }),
      onEachFeature: (f, layer) => {
        const code = f.properties.code;
        layer.bindTooltip(`${labels[code] || code}　${code in investment ? yi(investment[code]) : ""}`,
          { sticky: true });
        layer.on("click", () => { window.location.href = listUrl("street", code); });
      },
    }).addTo(map);
    L.geoJSON(lakes, { style: { color: "#6baed6", weight: 1, fillColor: "#c6dbef", fillOpacity: 1 },
      interactive: false }).addTo(map);
    const outline = L.geoJSON(park, { style: { color: "#102a43", weight: 2.5, fill: false }, interactive: false })
      .addTo(map);
    for (const layer of streets.features) {
      const code = layer.properties.code;
      const centre = L.geoJSON(layer).getBounds().getCenter();
      const marker = L.marker(centre, { icon: L.divIcon({ className: "street-label", html: "<span></span>",
        iconSize: [0, 0] }), interactive: false, keyboard: false }).addTo(map);
      marker.getElement().firstChild.textContent = labels[code] || code;
    }
    map.fitBounds(outline.getBounds(), { padding: [8, 8] });
    const legend = L.control({ position: "bottomright" });
    legend.onAdd = function () {
      const div = L.DomUtil.create("div", "map-legend");
      div.textContent = D.text.investment + "（" + D.text.yi + "）";
      ramp.forEach((colour, i) => {
        const chip = document.createElement("span");
        chip.className = "swatch";
        chip.style.background = colour;
        div.append(document.createElement("br"), chip,
          `${number.format((most * i) / 5 / YI)}–${number.format((most * (i + 1)) / 5 / YI)}`);
      });
      return div;
    };
    legend.addTo(map);
    document.body.dataset.mapReady = "1";
  }).catch((error) => {
    document.getElementById("overview-map").dataset.error = error.message;
    console.error(error);
  });
})();
