// The dashboard's charts (Apache ECharts) and overview map (Leaflet), drawn from the figures the page carries as
// JSON data (its Content-Security-Policy runs no inline script). The tables beside the charts hold the same figures
// for reading and for screen readers. body[data-ready] is set once the charts are drawn, body[data-map-ready] once
// the map is.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("dashboard-data").textContent);
  const font = getComputedStyle(document.body).fontFamily;
  const YI = 100000000;
  const number = new Intl.NumberFormat(D.lang, { maximumFractionDigits: 2 });
  const charts = [];

  function yi(yuan) { return number.format(Number(yuan) / YI) + " " + D.text.yi; }

  // A link to the project list with this page's filters and one more (key=value).
  function listUrl(key, value) {
    const url = new URL(D.links.projects, window.location.href);
    url.searchParams.set(key, value);
    return url.pathname + url.search;
  }

  // The charts' sizes, read together (one layout of the page) and handed to ECharts, which otherwise reads each
  // chart's while the one before has just changed the page, so that the browser lays it out once per chart.
  const sizes = Object.fromEntries(["year", "category", "street", "status"].map((key) => {
    const element = document.getElementById(`chart-${key}`);
    return [key, { width: element.clientWidth, height: element.clientHeight }];
  }));

  function chart(key, option) {
    const element = document.getElementById(`chart-${key}`);
    const instance = echarts.init(element, null, { renderer: "svg", ...sizes[key] });
    instance.setOption({ animation: false, textStyle: { fontFamily: font, color: "#1f2933" },
      tooltip: { trigger: "item", confine: true, renderMode: "richText" }, ...option });
    instance.on("click", (event) => {
      const row = D.groups[key][event.dataIndex];
      if (row && !["outside", "unlocated"].includes(row.key)) { window.location.href = listUrl(key, row.key); }
    });
    charts.push(instance);
  }

  const axisLabel = { color: "#52606d" };
  const valueAxis = (name) => ({ type: "value", name, nameTextStyle: axisLabel, axisLabel,
    splitLine: { lineStyle: { color: "#e4e7eb" } } });
  const grid = { left: 8, right: 16, top: 36, bottom: 8, containLabel: true };
  const year = D.groups.year;
  const category = D.groups.category;
  const street = D.groups.street;
  const status = D.groups.status;

  chart("year", {
    tooltip: { trigger: "axis", confine: true, renderMode: "richText" },
    legend: { top: 0, textStyle: axisLabel },
    grid,
    xAxis: { type: "category", data: year.map((r) => r.label), axisLabel },
    yAxis: [valueAxis(D.text.yi), { ...valueAxis(D.text.projects), splitLine: { show: false } }],
    series: [
      { name: D.text.investment, type: "bar", data: year.map((r) => Number(r.investment_yuan) / YI),
        itemStyle: { color: "#17457a" }, barMaxWidth: 48,
        tooltip: { valueFormatter: (v) => number.format(v) + " " + D.text.yi } },
      { name: D.text.projects, type: "line", yAxisIndex: 1, data: year.map((r) => r.projects),
        itemStyle: { color: "#e07b00" }, lineStyle: { width: 3 }, symbolSize: 8 },
    ],
  });
  chart("category", {
    grid: { ...grid, top: 8 },
    xAxis: valueAxis(D.text.yi),
    yAxis: { type: "category", inverse: true, data: category.map((r) => r.label), axisLabel },
    series: [{ name: D.text.investment, type: "bar", barMaxWidth: 18,
      data: category.map((r) => ({ value: Number(r.investment_yuan) / YI,
        itemStyle: { color: D.colours.category[r.key] } })),
      tooltip: { valueFormatter: (v) => number.format(v) + " " + D.text.yi } }],
  });
  chart("street", {
    grid: { ...grid, top: 28 },
    xAxis: { type: "category", data: street.map((r) => r.label), axisLabel },
    yAxis: valueAxis(D.text.yi),
    series: [{ name: D.text.investment, type: "bar", barMaxWidth: 48, itemStyle: { color: "#2c7bb6" },
      data: street.map((r) => Number(r.investment_yuan) / YI),
      label: { show: true, position: "top", color: "#1f2933", formatter: (p) => number.format(p.value) },
      tooltip: { valueFormatter: (v) => number.format(v) + " " + D.text.yi } }],
  });
  chart("status", {
    legend: { bottom: 0, textStyle: axisLabel, itemWidth: 12, itemHeight: 10 },
    series: [{ name: D.text.projects, type: "pie", radius: ["42%", "70%"], center: ["50%", "44%"],
      label: { show: sizes.status.width > 480, formatter: "{b}\n{c}",
        color: "#1f2933" },
      data: status.map((r) => ({ name: r.label, value: r.projects, itemStyle: { color: D.colours.status[r.key] } })) }],
  });
  // setOption draws at once (no animation), so the charts are on the page now.
  performance.mark("data-ready");
  document.body.dataset.ready = "1";
  // "auto": the size given to init is read again from the page.
  window.addEventListener("resize", () => charts.forEach((c) => c.resize({ width: "auto", height: "auto" })));

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
