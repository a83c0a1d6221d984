// The part of Apache ECharts the dashboard draws with (bar, line and pie charts on a grid, with tooltips and a
// legend, rendered as SVG), bundled by scripts/setup (`npm run build`) into api/static/echarts.min.js: about
// half of the library's "common" build, so the browser has less to fetch, parse and compile before the charts.
import { use } from "echarts/core";
import { BarChart, LineChart, PieChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { SVGRenderer } from "echarts/renderers";

use([BarChart, LineChart, PieChart, GridComponent, LegendComponent, TooltipComponent, SVGRenderer]);
export { init } from "echarts/core";
