// The risk page's history chart: scheduled scores from /api/v1/risk/history (downsampled by the
// server for long ranges), with the steps where a crisis alert was raised and the incidents
// declared in the range marked, and the alert threshold as a dashed line.
(function () {
  "use strict";

  const canvas = document.getElementById("risk-chart");
  const form = document.getElementById("risk-range");
  if (!canvas || !form || !window.Chart) return;
  const HOUR = 3600 * 1000;
  const RANGES = { "24h": 24 * HOUR, "7d": 7 * 24 * HOUR, "30d": 30 * 24 * HOUR, "1y": 365 * 24 * HOUR };
  const threshold = Number(canvas.dataset.threshold);
  let chart = null;

  async function refresh() {
    const end = new Date();
    const start = new Date(end.getTime() - (RANGES[form.elements.namedItem("range").value] || RANGES["7d"]));
    const query = new URLSearchParams({ from: start.toISOString(), to: end.toISOString() });
    form.querySelector("[data-csv]").href = "/api/v1/risk/history?" + query.toString() + "&format=csv";
    const response = await fetch("/api/v1/risk/history?" + query.toString(), {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    if (!response.ok) return;
    const body = await response.json();
    const points = body.points.map((p) => ({ x: new Date(p.start), y: p.score }));
    const alerts = body.points.filter((p) => p.alert).map((p) => ({ x: new Date(p.start), y: p.score, why: "Crisis alert raised" }));
    const incidents = body.incidents.map((i) => ({ x: new Date(i.declared_at), y: 100, why: "Incident: " + i.title }));
    const datasets = [
      { type: "line", label: "Risk score", data: points, borderColor: "#b91c1c", backgroundColor: "rgba(185, 28, 28, .08)", fill: true, pointRadius: 0, borderWidth: 1.5 },
      { type: "line", label: "Alert threshold", data: [{ x: start, y: threshold }, { x: end, y: threshold }], borderColor: "#94a3b8", borderDash: [6, 4], pointRadius: 0, borderWidth: 1 },
      { type: "scatter", label: "Crisis alerts", data: alerts, backgroundColor: "#7c3aed", pointStyle: "triangle", pointRadius: 8 },
      { type: "scatter", label: "Incidents", data: incidents, backgroundColor: "#111827", pointStyle: "rectRot", pointRadius: 7 },
    ];
    if (chart) chart.destroy();
    chart = new Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "nearest", intersect: false },
        scales: { x: { type: "time", min: start, max: end }, y: { min: 0, max: 100 } },
        plugins: { tooltip: { callbacks: { label: (item) => item.raw.why || item.dataset.label + ": " + item.formattedValue } } },
      },
    });
    canvas.dataset.loaded = String(body.points.length);
  }

  form.addEventListener("change", refresh);
  form.addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  refresh();
})();
