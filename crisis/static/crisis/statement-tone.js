// Live tone feedback while a statement is written: the text goes to the tone-check API (nothing is
// saved) a moment after typing stops, and the report's gist is shown under the form. The form
// itself works without this script: saving runs the same check.
(function () {
  "use strict";
  const form = document.querySelector("form[data-tone-url]");
  if (!form) return;
  const body = form.querySelector("textarea[name=body]");
  const out = form.querySelector(".tone-live");
  const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let timer = null;
  let sent = 0;

  async function check() {
    const mine = ++sent;
    out.textContent = "Checking the tone…";
    try {
      const response = await fetch(form.dataset.toneUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token },
        body: JSON.stringify({ text: body.value, incident: Number(form.dataset.incident) }),
      });
      if (mine !== sent) return; // a newer check is on its way
      if (!response.ok) {
        out.textContent = "";
        return;
      }
      const report = await response.json();
      const flags = report.flags.map((flag) => `${flag.category}: “${flag.text}”`);
      const missing = report.missing.map((item) => item.label);
      out.textContent =
        `Tone ${report.readiness}/100 (${report.verdict.replace("_", " ")}).` +
        (flags.length ? ` Flags: ${flags.join("; ")}.` : " No flags.") +
        (missing.length ? ` Missing: ${missing.join(", ")}.` : "");
    } catch (error) {
      out.textContent = "";
    }
  }

  body.addEventListener("input", function () {
    clearTimeout(timer);
    if (body.value.trim()) timer = setTimeout(check, 800);
  });
})();
