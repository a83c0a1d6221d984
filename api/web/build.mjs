// Bundles the part of Chart.js that the dashboard draws with (charts.js) into api/static/charts.min.js, run by
// scripts/setup (`npm run build`). The first line asks V8 to compile every function of the bundle while the file
// streams in, on a background thread, instead of one by one on the page's thread when the charts first call them.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

await build({
  entryPoints: [here("charts.js")],
  outfile: here("../static/charts.min.js"),
  bundle: true,
  minify: true,
  format: "iife",
  globalName: "registryCharts",
  target: "es2020",
  legalComments: "none",
  banner: { js: "//# allFunctionsCalledOnLoad\n/*! Chart.js (MIT License) and @kurkle/color (MIT License): bar, line and doughnut charts, tooltip, legend */" },
  logLevel: "warning",
});
