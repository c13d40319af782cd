// Polls the dashboard's JSON status and swaps in the re-rendered sections; reloads the graph
// and the plots only when their data changed (their keys).
(function () {
  const body = document.body;
  const base = body.dataset.base;
  const every = parseInt(body.dataset.pollMs || "2000", 10);
  const live = document.getElementById("live");
  const sections = ["model", "runs", "labels", "decisions", "drift_summary"];

  async function swapSvg(id, url) {
    const el = document.getElementById(id);
    if (!el) return;
    const r = await fetch(url, {credentials: "same-origin"});
    if (r.ok) el.innerHTML = await r.text();
  }

  async function poll() {
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
    setTimeout(poll, every);
  }
  setTimeout(poll, every);
})();
