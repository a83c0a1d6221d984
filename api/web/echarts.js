// The part of Apache ECharts the dashboard draws with (bar, line and pie charts on a grid, with tooltips and a
// legend, rendered as SVG), bundled by scripts/setup (`npm run build`) into api/static/echarts.min.js: 560 KB
// instead of the 715 KB of the library's "common" build, less for the browser to fetch and compile.
import { use } from "echarts/core";
import { BarChart, LineChart, PieChart } from "echarts/charts";
import { GridComponent, LegendPlainComponent, TooltipComponent } from "echarts/components";
import { SVGRenderer } from "echarts/renderers";

use([BarChart, LineChart, PieChart, GridComponent, LegendPlainComponent, TooltipComponent, SVGRenderer]);
export { init } from "echarts/core";
