// The listening dashboard: every panel ([data-panel]) fetches its data from the metrics API with
// the page's session, for the range and filters of the form, and draws it with the vendored
// Chart.js. A panel's "Download CSV" link is the same request with format=csv. New panels register
// a renderer in RENDERERS under their data-panel name.
(function () {
  "use strict";

  const form = document.getElementById("dashboard-filters");
  if (!form || !window.Chart) return;
  const status = document.getElementById("dash-status");
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const HOUR = 3600 * 1000;
  const PRESETS = { "1h": HOUR, "24h": 24 * HOUR, "7d": 7 * 24 * HOUR, "30d": 30 * 24 * HOUR,
                    "90d": 90 * 24 * HOUR, "1y": 365 * 24 * HOUR };
  const COLORS = { positive: "#0f766e", neutral: "#94a3b8", negative: "#b91c1c", volume: "#1d4ed8" };
  const PALETTE = ["#1d4ed8", "#f59e0b", "#0f766e", "#b91c1c", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
  const charts = new Map();
  const numbers = new Intl.NumberFormat();
  let generation = 0;

  function field(name) { return form.elements.namedItem(name); }

  function localInput(date) {
    const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 16);
  }

  // The API parameters of the form: an ISO range (a preset ends now), the browser's time zone
  // (so day steps start at local midnight, as the chart's axis shows them), and the filters.
  function params() {
    const out = new URLSearchParams();
    let start, end;
    if (field("range").value === "custom" && field("start").value && field("end").value) {
      start = new Date(field("start").value);
      end = new Date(field("end").value);
    } else {
      end = new Date();
      start = new Date(end.getTime() - (PRESETS[field("range").value] || PRESETS["7d"]));
    }
    out.set("start", start.toISOString());
    out.set("end", end.toISOString());
    out.set("tz", zone);
    for (const name of ["query", "source", "lang"]) {
      if (field(name).value) out.set(name, field(name).value);
    }
    return out;
  }

  // The form's state in the address bar, so a view of the dashboard is a link to share.
  function remember() {
    const state = new URLSearchParams();
    for (const name of ["range", "start", "end", "query", "source", "lang"]) {
      const value = field(name).value;
      if (value && (name !== "start" && name !== "end" || field("range").value === "custom")) state.set(name, value);
    }
    history.replaceState(null, "", "?" + state.toString());
  }

  function restore() {
    const state = new URLSearchParams(location.search);
    for (const [name, value] of state) {
      const input = field(name);
      if (input) input.value = value;
    }
  }

  function draw(panel, config) {
    const canvas = panel.querySelector("canvas");
    const old = charts.get(panel);
    if (old) old.destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options);
    charts.set(panel, new Chart(canvas, config));
  }

  function barsOf(panel, rows, label) {
    draw(panel, {
      type: "bar",
      data: {
        labels: rows.map((r) => r.label),
        datasets: [{ label: label, data: rows.map((r) => r.volume), backgroundColor: PALETTE[0], maxBarThickness: 28 }],
      },
      options: { indexAxis: "y", plugins: { legend: { display: false } } },
    });
  }

  const RENDERERS = {
    volume(panel, body) {
      const points = body.series[0].points;
      const total = points.reduce((sum, p) => sum + p.volume, 0);
      panel.querySelector("[data-total]").textContent =
        numbers.format(total) + " mentions · steps of " + { "5m": "5 minutes", "1h": "1 hour", "1d": "1 day" }[body.resolution];
      const unit = { "5m": "minute", "1h": "hour", "1d": "day" }[body.resolution];
      const series = (key) => points.map((p) => ({ x: new Date(p.start), y: p[key] }));
      draw(panel, {
        type: "bar",
        data: {
          datasets: [
            { type: "line", label: "Volume", data: series("volume"), borderColor: COLORS.volume, pointRadius: 0, borderWidth: 1.5, stack: "volume" },
            { label: "Negative", data: series("negative"), backgroundColor: COLORS.negative, stack: "sentiment" },
            { label: "Neutral", data: series("neutral"), backgroundColor: COLORS.neutral, stack: "sentiment" },
            { label: "Positive", data: series("positive"), backgroundColor: COLORS.positive, stack: "sentiment" },
          ],
        },
        options: {
          interaction: { mode: "index", intersect: false },
          scales: {
            x: { type: "time", time: { unit: unit === "minute" && points.length > 36 ? "hour" : unit }, stacked: true },
            y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
          },
        },
      });
      alertMarkers(panel, points);
    },
    share(panel, body) {
      const rows = body.results.filter((r) => r.volume > 0);
      draw(panel, {
        type: "doughnut",
        data: {
          labels: rows.map((r) => r.name + (r.kind === "competitor" ? " (competitor)" : "")),
          datasets: [{ data: rows.map((r) => r.volume), backgroundColor: rows.map((r, i) => PALETTE[i % PALETTE.length]) }],
        },
        options: { plugins: { legend: { position: "right" } } },
      });
    },
    authors(panel, body) {
      const tbody = panel.querySelector("[data-rows]");
      tbody.replaceChildren();
      for (const author of body.results) {
        const row = tbody.insertRow();
        const who = row.insertCell();
        who.textContent = (author.name ? author.name + " " : "") + "@" + author.handle;
        for (const value of [author.followers, author.mentions]) {
          const cell = row.insertCell();
          cell.className = "num";
          cell.textContent = numbers.format(value);
        }
      }
      if (!body.results.length) {
        const cell = tbody.insertRow().insertCell();
        cell.colSpan = 3;
        cell.textContent = "No authors in this range.";
      }
    },
    topics(panel, body) {
      const tbody = panel.querySelector("[data-rows]");
      tbody.replaceChildren();
      const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 0 });
      for (const topic of body.results.slice(0, 10)) {
        const row = tbody.insertRow();
        const link = document.createElement("a");
        link.href = "/listening/topics/" + topic.id + "/";
        link.textContent = topic.label;
        row.insertCell().append(link);
        const growth = (topic.growth > 0 ? "+" : "") + percent.format(topic.growth);
        for (const value of [numbers.format(topic.volume), growth, percent.format(topic.negative_share)]) {
          const cell = row.insertCell();
          cell.className = "num";
          cell.textContent = value;
        }
      }
      if (!body.results.length) {
        const cell = tbody.insertRow().insertCell();
        cell.colSpan = 4;
        cell.textContent = "No emerging topics in this range yet; they are looked for every 15 minutes.";
      }
    },
    // The crisis-risk score from /api/v1/risk/history (the page's range; the server downsamples
    // long ranges keeping each step's peak), with the steps where a crisis alert was raised.
    risk(panel, body) {
      const points = body.points.map((p) => ({ x: new Date(p.start), y: p.score }));
      const peak = body.points.reduce((most, p) => Math.max(most, p.score), 0);
      panel.querySelector("[data-total]").textContent = body.points.length
        ? "Highest " + Math.round(peak) + "/100 · " + body.points.filter((p) => p.alert).length + " crisis alerts"
        : "No risk scores in this range yet.";
      draw(panel, {
        type: "line",
        data: {
          datasets: [
            { label: "Risk score", data: points, borderColor: COLORS.negative, pointRadius: 0, borderWidth: 1.5 },
            { type: "scatter", label: "Crisis alerts", data: body.points.filter((p) => p.alert).map((p) => ({ x: new Date(p.start), y: p.score })),
              backgroundColor: "#7c3aed", pointStyle: "triangle", pointRadius: 8 },
          ],
        },
        options: { scales: { x: { type: "time" }, y: { min: 0, max: 100 } } },
      });
    },
    sources(panel, body) { barsOf(panel, body.results, "Mentions"); },
    languages(panel, body) { barsOf(panel, body.results, "Mentions"); },
  };

  // Alerts fired in the range, as triangles on the volume line (at the volume of the step they
  // fell in) and as a list of links under the chart; from /api/v1/alerts/markers.
  async function alertMarkers(panel, points) {
    const list = panel.querySelector("[data-alerts]");
    if (!list || !points.length) return;
    const range = new URLSearchParams({ since: points[0].start, until: new Date().toISOString() });
    const response = await fetch("/api/v1/alerts/markers?" + range.toString(), {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    if (!response.ok) return;
    const markers = await response.json();
    const at = (time) => {
      let found = points[0];
      for (const point of points) { if (new Date(point.start) <= time) found = point; }
      return found.volume;
    };
    list.replaceChildren();
    for (const marker of markers) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "/listening/alerts/" + marker.id + "/";
      link.textContent = new Date(marker.fired_at).toLocaleString() + " · " + marker.rule_name;
      item.append(link, document.createTextNode(": " + marker.why));
      list.append(item);
    }
    list.hidden = !markers.length;
    const chart = charts.get(panel);
    if (!chart || !markers.length) return;
    chart.data.datasets.push({
      type: "scatter", label: "Alerts", stack: "alerts",
      data: markers.map((m) => ({ x: new Date(m.fired_at), y: at(new Date(m.fired_at)), why: m.rule_name + ": " + m.why })),
      backgroundColor: "#7c3aed", borderColor: "#ffffff", pointStyle: "triangle", pointRadius: 8, pointHoverRadius: 10,
    });
    chart.options.plugins = Object.assign({}, chart.options.plugins, {
      tooltip: { callbacks: { label: (item) => item.raw.why || item.dataset.label + ": " + item.formattedValue } },
    });
    chart.update();
  }

  async function refresh() {
    const current = ++generation;
    const query = params();
    remember();
    status.textContent = "Loading…";
    const panels = Array.from(document.querySelectorAll("[data-panel]"));
    const results = await Promise.all(panels.map(async (panel) => {
      const endpoint = panel.dataset.endpoint;
      panel.querySelector("[data-csv]").href = endpoint + "?" + query.toString() + "&format=csv";
      const response = await fetch(endpoint + "?" + query.toString(), {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
      const body = await response.json();
      if (current !== generation) return true;  // a newer refresh is drawing
      if (!response.ok) {
        status.textContent = body.error ? body.error.message : "The data could not be loaded.";
        return false;
      }
      RENDERERS[panel.dataset.panel](panel, body);
      panel.dataset.loaded = query.get("start") + "/" + query.get("end");
      return true;
    }));
    if (current === generation && results.every(Boolean)) status.textContent = "";
  }

  restore();
  if (field("range").value === "custom" && !field("start").value) {
    field("end").value = localInput(new Date());
    field("start").value = localInput(new Date(Date.now() - PRESETS["7d"]));
  }
  form.addEventListener("change", (event) => {
    if (event.target.name === "range" && event.target.value === "custom" && !field("start").value) {
      field("end").value = localInput(new Date());
      field("start").value = localInput(new Date(Date.now() - PRESETS["7d"]));
    }
    refresh();
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  refresh();
})();
