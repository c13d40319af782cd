// Polls the dashboard's JSON status and swaps in the re-rendered sections; reloads the graph
// and the plots only when their data changed (their keys). A person closes a drift episode
// through the dialog (POST <base>/api/episodes/<id>/close); the next refresh shows it.
(function () {
  const body = document.body;
  const base = body.dataset.base;
  const every = parseInt(body.dataset.pollMs || "2000", 10);
  const live = document.getElementById("live");
  const sections = ["model", "runs", "labels", "episodes", "decisions", "drift_summary"];

  async function swapSvg(id, url) {
    const el = document.getElementById(id);
    if (!el) return;
    const r = await fetch(url, {credentials: "same-origin"});
    if (r.ok) el.innerHTML = await r.text();
  }

  async function refresh() {
    try {
      const r = await fetch(base + "/api/status", {credentials: "same-origin"});
      if (!r.ok) throw new Error("HTTP " + r.status);
      const d = await r.json();
      for (const name of sections) {
        const el = document.getElementById("section-" + name);
        if (el && d.html[name] !== undefined) el.innerHTML = d.html[name];
      }
      const agents = document.getElementById("agents-list");
      if (agents) agents.innerHTML = d.html.agents;
      if (d.graph_key !== body.dataset.graphKey) {
        body.dataset.graphKey = d.graph_key;
        await swapSvg("graph", base + "/graph.svg");
      }
      if (d.drift_key !== body.dataset.driftKey) {
        body.dataset.driftKey = d.drift_key;
        await swapSvg("drift-plot", base + "/plots/drift.svg");
      }
      if (d.accuracy_key !== body.dataset.accuracyKey && document.getElementById("accuracy-plot")) {
        body.dataset.accuracyKey = d.accuracy_key;
        await swapSvg("accuracy-plot", base + "/plots/accuracy.svg");
      }
      live.textContent = "live · " + new Date().toLocaleTimeString();
      live.classList.remove("stale");
      body.dataset.polls = String(parseInt(body.dataset.polls || "0", 10) + 1);
    } catch (e) {
      live.textContent = "offline (" + e.message + ")";
      live.classList.add("stale");
    }
  }

  async function poll() {
    await refresh();
    setTimeout(poll, every);
  }
  setTimeout(poll, every);

  // -- closing an episode ------------------------------------------------------------------
  const dialog = document.getElementById("close-dialog");
  const form = document.getElementById("close-form");
  const error = document.getElementById("close-error");
  const who = document.getElementById("close-by");
  let closing = null;

  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-close-episode]");
    if (!button || !dialog) return;
    closing = button.dataset.closeEpisode;
    document.getElementById("close-id").textContent = closing;
    document.getElementById("close-reason").value = "";
    who.value = localStorage.getItem("scanflow.closer") || "";
    error.textContent = "";
    dialog.showModal();
  });

  if (dialog) {
    document.getElementById("close-cancel").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const payload = {reason: document.getElementById("close-reason").value, by: who.value};
      localStorage.setItem("scanflow.closer", who.value);
      try {
        const r = await fetch(base + "/api/episodes/" + encodeURIComponent(closing) + "/close", {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload),
        });
        const answer = await r.json().catch(() => ({}));
        if (!r.ok) {
          const d = answer.detail || {};
          error.textContent = d.message ? d.message + (d.fix ? " — " + d.fix : "") : "HTTP " + r.status;
          return;
        }
        dialog.close();
        await refresh();
      } catch (e) {
        error.textContent = "could not reach the server (" + e.message + ")";
      }
    });
  }
})();
