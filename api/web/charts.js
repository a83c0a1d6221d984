// The part of Chart.js the dashboard draws with (bar, line and doughnut charts on category and value axes, with
// tooltips and a legend), bundled by scripts/setup (`npm run build`) into api/static/charts.min.js.
import {
  ArcElement, BarController, BarElement, CategoryScale, Chart, DoughnutController, Legend, LinearScale,
  LineController, LineElement, PointElement, Tooltip,
} from "chart.js";

Chart.register(ArcElement, BarController, BarElement, CategoryScale, DoughnutController, Legend, LinearScale,
  LineController, LineElement, PointElement, Tooltip);
export { Chart };
