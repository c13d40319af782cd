// Scanflow labeling page: keys 0-9 label, s skips, u / Backspace undoes.
// Actions run one after another (a queue of promises), so fast typing never loses a key or
// labels the wrong sample: each key applies to the sample on screen when its turn comes.
(function () {
  "use strict";
  const state = JSON.parse(document.getElementById("state").textContent);
  const $ = (id) => document.getElementById(id);
  const qs = state.batch ? "?batch=" + encodeURIComponent(state.batch) : "";
  let queue = Promise.resolve();

  function run(action) {
    queue = queue.then(action).catch(async (err) => {
      showError(err);
      // 409: someone else labeled or holds this sample; show it, then move on to another.
      if (err && err.status === 409) await next().catch(showError);
    });
    return queue;
  }

  async function api(method, path, body) {
    const resp = await fetch(state.base + path, {
      method: method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const err = new Error("request failed");
      err.detail = data.detail;
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  function showError(err) {
    const box = $("error");
    let d = err && err.detail;
    if (Array.isArray(d)) d = { field: (d[0].loc || []).slice(-1)[0], message: d[0].msg };
    if (d && typeof d === "object") {
      box.textContent = (d.field ? d.field + ": " : "") + d.message + (d.fix ? " \u2014 " + d.fix : "");
    } else {
      box.textContent = "Could not reach the server: " + (err && err.message ? err.message : err);
    }
    box.hidden = false;
  }

  function clearError() { $("error").hidden = true; }

  function say(text) { $("status").textContent = text; }

  function name(k) { return state.class_names[k] !== undefined ? state.class_names[k] : String(k); }

  function fmt(v) { return Number.isInteger(v) ? String(v) : Number(v).toPrecision(4).replace(/\.?0+$/, ""); }

  function showProgress(p) {
    state.progress = p;
    const total = p.total || 1;
    $("progress-labeled").style.width = (100 * p.labeled / total) + "%";
    $("progress-skipped").style.width = (100 * p.skipped / total) + "%";
    $("progress-text").textContent =
      p.labeled + " / " + p.total + " labeled \u00b7 " + p.skipped + " skipped \u00b7 " + p.pending + " to go";
    const bar = document.querySelector(".progress");
    bar.setAttribute("aria-valuemax", p.total);
    bar.setAttribute("aria-valuenow", p.labeled + p.skipped);
  }

  function addMeta(dl, key, value) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = key;
    dd.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
    dl.append(dt, dd);
  }

  function showItem(item) {
    state.item = item;
    const box = $("item");
    $("done").hidden = !!item;
    box.hidden = !item;
    box.dataset.itemId = item ? item.id : "";
    document.querySelectorAll("button.digit").forEach((b) => {
      b.classList.toggle("suggested", !!item && item.model_guess === Number(b.dataset.label));
    });
    if (!item) return;
    const img = $("sample-image");
    const row = $("sample-row");
    img.hidden = item.kind !== "image";
    row.hidden = item.kind !== "tabular";
    if (item.kind === "image") {
      img.src = item.image_url;
    } else {
      const body = row.tBodies[0];
      body.replaceChildren();
      item.columns.forEach((c, i) => {
        const tr = body.insertRow();
        const th = document.createElement("th");
        th.textContent = c;
        tr.append(th);
        tr.insertCell().textContent = fmt(item.values[i]);
      });
    }
    $("guess").textContent = item.model_guess === null ? "none" : name(item.model_guess);
    $("guess").classList.toggle("none", item.model_guess === null);
    const dl = $("meta");
    dl.replaceChildren();
    addMeta(dl, "sample", "#" + item.id + " \u00b7 " + item.batch);
    if (item.score !== null) addMeta(dl, "score", fmt(item.score));
    Object.entries(item.meta).forEach(([k, v]) => addMeta(dl, k, v));
  }

  async function next() {
    const params = new URLSearchParams({ labeler: state.labeler });
    if (state.batch) params.set("batch", state.batch);
    const data = await api("GET", "/api/next?" + params.toString());
    showItem(data.item);
    showProgress(data.progress);
  }

  function label(k) {
    return run(async () => {
      const item = state.item;
      if (!item || k >= state.n_classes) return;
      clearError();
      await api("POST", "/api/items/" + item.id + "/label" + qs, { label: k, labeler: state.labeler });
      say("Labeled #" + item.id + " as " + name(k) + ".");
      await next();
    });
  }

  function skip() {
    return run(async () => {
      const item = state.item;
      if (!item) return;
      clearError();
      await api("POST", "/api/items/" + item.id + "/skip" + qs, { labeler: state.labeler });
      say("Skipped #" + item.id + ".");
      await next();
    });
  }

  function undo() {
    return run(async () => {
      clearError();
      const data = await api("POST", "/api/undo" + qs, { labeler: state.labeler });
      if (data.item) {
        showItem(data.item);
        say("Took back your answer for #" + data.item.id + ".");
      } else {
        say("Nothing to undo.");
      }
      showProgress(data.progress);
    });
  }

  document.querySelectorAll("button.digit").forEach((b) => {
    b.addEventListener("click", () => label(Number(b.dataset.label)));
  });
  $("skip").addEventListener("click", skip);
  $("undo").addEventListener("click", undo);

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const tag = ev.target && ev.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    if (/^[0-9]$/.test(ev.key)) {
      ev.preventDefault();
      label(Number(ev.key));
    } else if (ev.key === "s" || ev.key === "S") {
      ev.preventDefault();
      skip();
    } else if (ev.key === "u" || ev.key === "U" || ev.key === "Backspace") {
      ev.preventDefault();
      undo();
    }
  });

  window.scanflowLabeling = { label: label, skip: skip, undo: undo, next: next, idle: () => queue };
})();
