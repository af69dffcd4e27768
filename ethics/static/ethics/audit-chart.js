// Selection rate per group with its 95% bootstrap interval (whiskers) and the four-fifths line:
// 0.8 of the highest judged group's rate. Groups too small to judge are drawn grey.
(function () {
  "use strict";
  const source = document.getElementById("audit-charts");
  if (!source || typeof Chart === "undefined") return;
  const charts = JSON.parse(source.textContent);

  const whiskers = {
    id: "auditWhiskers",
    afterDatasetsDraw(chart, _args, options) {
      const { ctx, scales } = chart;
      const meta = chart.getDatasetMeta(0);
      ctx.save();
      ctx.strokeStyle = "#111827";
      ctx.lineWidth = 1.5;
      options.groups.forEach((group, index) => {
        if (group.low === null || group.high === null) return;
        const x = meta.data[index].x;
        const top = scales.y.getPixelForValue(group.high);
        const bottom = scales.y.getPixelForValue(group.low);
        ctx.beginPath();
        ctx.moveTo(x, top); ctx.lineTo(x, bottom);
        ctx.moveTo(x - 6, top); ctx.lineTo(x + 6, top);
        ctx.moveTo(x - 6, bottom); ctx.lineTo(x + 6, bottom);
        ctx.stroke();
      });
      if (options.line !== null) {
        const y = scales.y.getPixelForValue(options.line);
        ctx.strokeStyle = "#b45309";
        ctx.setLineDash([6, 4]);
        ctx.beginPath();
        ctx.moveTo(scales.x.left, y); ctx.lineTo(scales.x.right, y);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = "#b45309";
        ctx.font = "12px system-ui, sans-serif";
        ctx.textAlign = "right";
        ctx.fillText("four-fifths line " + (options.line * 100).toFixed(1) + "%", scales.x.right - 4, y - 5);
      }
      ctx.restore();
    },
  };

  document.querySelectorAll("canvas[data-audit-chart]").forEach((canvas) => {
    const data = charts[Number(canvas.dataset.auditChart)];
    const top = Math.max(...data.groups.map((g) => (g.high === null ? g.rate : g.high)), data.line || 0);
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.groups.map((g) => g.group + " (n=" + g.count + ")"),
        datasets: [{
          label: "Selection rate",
          data: data.groups.map((g) => g.rate),
          backgroundColor: data.groups.map((g) => (!g.judged ? "#d1d5db" : data.line !== null && g.rate < data.line ? "#f87171" : "#6366f1")),
        }],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          y: { beginAtZero: true, suggestedMax: Math.min(1, top * 1.15), ticks: { callback: (v) => Math.round(v * 100) + "%" } },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (item) => {
                const g = data.groups[item.dataIndex];
                const ci = g.low === null ? "" : " (95% CI " + (g.low * 100).toFixed(1) + "–" + (g.high * 100).toFixed(1) + "%)";
                return (g.rate * 100).toFixed(1) + "%" + ci + (g.judged ? "" : ", too small to judge");
              },
            },
          },
          auditWhiskers: data,
        },
      },
      plugins: [whiskers],
    });
  });
})();
