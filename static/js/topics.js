/* Topic charts with the vendored Chart.js: a sparkline per <canvas data-sparkline> (a topic's
   mentions per run) and the sentiment chart of <canvas data-topic-chart> on a topic's page. The
   data is JSON in the attribute, written by the server; htmx swaps are drawn too. */
(function () {
  "use strict";
  var COLORS = { negative: "#b91c1c", neutral: "#94a3b8", positive: "#0f766e", volume: "#1d4ed8" };

  function sparkline(canvas) {
    var points = JSON.parse(canvas.dataset.sparkline);
    return new Chart(canvas, {
      type: "line",
      data: { datasets: [{
        data: points.map(function (p) { return { x: p[0], y: p[1] }; }),
        borderColor: COLORS.volume, backgroundColor: "rgba(29, 78, 216, .12)", fill: true,
        borderWidth: 1.5, pointRadius: points.length === 1 ? 2 : 0, tension: 0.3
      }] },
      options: {
        responsive: false, animation: false, events: [],
        plugins: { legend: { display: false }, tooltip: { enabled: false } },
        scales: { x: { type: "time", display: false }, y: { display: false, beginAtZero: true } }
      }
    });
  }

  function topicChart(canvas) {
    var rows = JSON.parse(canvas.dataset.topicChart);
    var series = ["negative", "neutral", "positive"].map(function (name, i) {
      return {
        label: name.charAt(0).toUpperCase() + name.slice(1),
        data: rows.map(function (r) { return { x: r[0], y: r[2 + i] }; }),
        borderColor: COLORS[name], backgroundColor: COLORS[name] + "33", fill: true,
        pointRadius: rows.length === 1 ? 3 : 0, tension: 0.25, stack: "sentiment"
      };
    });
    return new Chart(canvas, {
      type: "line",
      data: { datasets: series },
      options: {
        animation: false, interaction: { mode: "index", intersect: false },
        scales: {
          x: { type: "time", time: { tooltipFormat: "PPp" } },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: "mentions" } }
        }
      }
    });
  }

  function drawAll(root) {
    if (typeof Chart === "undefined") return;
    root.querySelectorAll("canvas[data-sparkline]:not([data-drawn])").forEach(function (canvas) {
      canvas.setAttribute("data-drawn", "");
      sparkline(canvas);
    });
    root.querySelectorAll("canvas[data-topic-chart]:not([data-drawn])").forEach(function (canvas) {
      canvas.setAttribute("data-drawn", "");
      topicChart(canvas);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawAll(event.target); });
})();
