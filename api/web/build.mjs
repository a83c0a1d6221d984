// Bundles the part of Apache ECharts that the dashboard draws with (echarts.js) into api/static/echarts.min.js, run
// by scripts/setup (`npm run build`). The first line asks V8 to compile every function of the bundle while the file
// streams in, on a background thread, instead of one by one on the page's thread when the charts first call them.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

await build({
  entryPoints: [here("echarts.js")],
  outfile: here("../static/echarts.min.js"),
  bundle: true,
  minify: true,
  format: "iife",
  globalName: "echarts",
  target: "es2020",
  legalComments: "none",
  banner: { js: "//# allFunctionsCalledOnLoad\n/*! Apache ECharts (Apache License 2.0): bar, line and pie charts, grid, tooltip, legend, SVG renderer */" },
  logLevel: "warning",
});
