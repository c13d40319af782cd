// Scanflow labeling page: each class has a button and a key (digits for classes named 0-9,
// else 1-9 then 0 in order: item.keys), s skips, u / Backspace undoes.
// Actions run one after another (a queue of promises), so fast typing never loses a key or
// labels the wrong sample: each key applies to the sample on screen when its turn comes.
(function () {
  "use strict";
  const state = JSON.parse(document.getElementById("state").textContent);
  const $ = (id) => document.getElementById(id);
  const qs = state.batch ? "?batch=" + encodeURIComponent(state.batch) : "";
  const SHOWN = 336; // px: small images are scaled up by a whole factor to about this size
  let queue = Promise.resolve();
  let buttons = { names: null, keys: [] }; // the class buttons on screen

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

  // Like scanflow.improve.labels.format_value: text as is, numbers to 6 significant digits.
  function fmt(v) {
    if (v === null || v === undefined || (typeof v === "number" && isNaN(v))) return "\u2014";
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    const text = v.toPrecision(6);
    const [mant, exp] = text.split("e");
    const m = mant.includes(".") ? mant.replace(/\.?0+$/, "") : mant;
    if (exp === undefined) return m;
    const sign = exp[0] === "-" ? "-" : "+";
    const digits = exp.replace(/^[+-]/, "");
    return m + "e" + sign + (digits.length < 2 ? "0" + digits : digits);
  }

  function cellClass(v) {
    if (v === null || v === undefined) return "none";
    return typeof v === "number" ? "num" : "text";
  }

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

  // One button per class, rebuilt only when the classes change (another batch).
  function showButtons(names, keys) {
    if (JSON.stringify(names) === JSON.stringify(buttons.names)) return;
    buttons = { names: names, keys: keys };
    const box = $("classes");
    box.replaceChildren();
    box.classList.toggle("wide", names.some((n) => n.length > 2));
    names.forEach((n, i) => {
      const b = document.createElement("button");
      b.className = "choice";
      b.dataset.label = String(i);
      b.title = "label " + n + (keys[i] !== null ? " (key " + keys[i] + ")" : "");
      const span = document.createElement("span");
      span.className = "name";
      span.textContent = n;
      b.append(span);
      if (keys[i] !== null && keys[i] !== n) {
        const kbd = document.createElement("kbd");
        kbd.textContent = keys[i];
        b.append(kbd);
      }
      b.addEventListener("click", () => label(i));
      box.append(b);
    });
  }

  function showImage(item) {
    const img = $("sample-image");
    const k = Math.max(1, Math.floor(SHOWN / Math.max(item.image_width, item.image_height)));
    img.width = item.image_width * k;
    img.height = item.image_height * k;
    img.src = item.image_url;
  }

  function showRow(item) {
    const body = $("sample-row").tBodies[0];
    body.replaceChildren();
    item.columns.forEach((c, i) => {
      const v = item.values[i];
      const tr = body.insertRow();
      tr.className = cellClass(v);
      const th = document.createElement("th");
      th.textContent = c;
      tr.append(th);
      tr.insertCell().textContent = fmt(v);
    });
    $("sample-row-wrap").scrollTop = 0;
  }

  function showItem(item) {
    state.item = item;
    const box = $("item");
    $("done").hidden = !!item;
    box.hidden = !item;
    box.dataset.itemId = item ? item.id : "";
    if (item) showButtons(item.class_names, item.keys);
    document.querySelectorAll("#classes button.choice").forEach((b) => {
      b.classList.toggle("suggested", !!item && item.model_guess === Number(b.dataset.label));
    });
    if (!item) return;
    $("sample-image").hidden = item.kind !== "image";
    $("sample-row-wrap").hidden = item.kind !== "tabular";
    if (item.kind === "image") showImage(item); else showRow(item);
    const guess = $("guess");
    guess.textContent = item.model_guess === null ? "none" : item.model_guess_name;
    guess.classList.toggle("none", item.model_guess === null);
    guess.classList.toggle("long", item.model_guess !== null && item.model_guess_name.length > 3);
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

  async function answer(item, k) {
    if (!item || k < 0 || k >= item.class_names.length) return;
    clearError();
    await api("POST", "/api/items/" + item.id + "/label" + qs, { label: k, labeler: state.labeler });
    say("Labeled #" + item.id + " as " + item.class_names[k] + ".");
    await next();
  }

  // By position (a button), or by key: the key is read against the sample on screen when
  // the action's turn comes, so a queued key never means another batch's class.
  function label(k) { return run(() => answer(state.item, k)); }

  function labelKey(key) {
    return run(() => answer(state.item, state.item ? state.item.keys.indexOf(key) : -1));
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

  // The buttons the server rendered: wire them up as they are.
  buttons = state.item
    ? { names: state.item.class_names, keys: state.item.keys }
    : { names: state.class_names, keys: state.keys };
  document.querySelectorAll("#classes button.choice").forEach((b) => {
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
      labelKey(ev.key);
    } else if (ev.key === "s" || ev.key === "S") {
      ev.preventDefault();
      skip();
    } else if (ev.key === "u" || ev.key === "U" || ev.key === "Backspace") {
      ev.preventDefault();
      undo();
    }
  });

  window.scanflowLabeling = { label: label, labelKey: labelKey, skip: skip, undo: undo, next: next, idle: () => queue };
})();
