// openbind web page: search any-to-any, show results by modality, label uploads zero-shot.
// Plain browser JavaScript, no build step. Talks to /health, /search, /classify and /media/{id}.
// Filters and pages go to /search; /health is polled so that a new library generation (a commit
// by `openbind index update` or `watch`) refreshes the shown results.
"use strict";

const $ = (id) => document.getElementById(id);
let upload = null; // the File dropped or chosen, if any
let offset = 0; // rank of the first result shown
let generation = null; // the library generation last seen
let shown = false; // whether results of a query are on the page
const POLL_MS = 2000;

function plural(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

async function api(path, form) {
  const response = await fetch(path, form ? { method: "POST", body: form } : {});
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (body.error && body.error.message) || `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return body;
}

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

async function loadStatus() {
  try {
    const h = await api("/health");
    const lib = h.library ? `library “${h.library}” · ${plural(h.items, "item", "items")}` : "no library loaded (start with --index)";
    $("status").textContent = `${h.model} · ${h.modalities.join(", ")} · ${lib}`;
    if (generation !== null && h.generation !== generation && shown) {
      $("updated").textContent = `library updated: now ${plural(h.items, "item", "items")}`;
      $("updated").hidden = false;
      search(offset);
    }
    generation = h.generation;
  } catch (e) {
    $("status").textContent = `server unreachable: ${e.message}`;
  }
}

// -- query inputs --------------------------------------------------------------------------------

function setUpload(file) {
  upload = file;
  $("drop-file").textContent = file ? `${file.name} (${Math.ceil(file.size / 1024)} KB)` : "";
  $("drop-file").hidden = !file;
  $("clear-file").hidden = !file;
  $("drop-hint").hidden = !!file;
  $("drop-zone").classList.toggle("has-file", !!file);
  $("labels-panel").hidden = !file;
  $("labels").replaceChildren();
  $("labels-for").textContent = file ? `for ${file.name}` : "";
  updateWeightBox();
  if (file) {
    classify();
    search();
  }
}

function updateWeightBox() {
  $("weight-box").hidden = !(upload && $("query-text").value.trim());
}

function wireDropZone() {
  const zone = $("drop-zone");
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.remove("over"); });
  }
  zone.addEventListener("drop", (e) => {
    const file = e.dataTransfer.files[0];
    if (file) setUpload(file);
  });
  $("file-input").addEventListener("change", (e) => setUpload(e.target.files[0] || null));
  $("clear-file").addEventListener("click", (e) => {
    e.preventDefault();
    $("file-input").value = "";
    setUpload(null);
  });
}

// -- search ----------------------------------------------------------------------------------------

async function search(from = 0) {
  const text = $("query-text").value.trim();
  if (!text && !upload) {
    showError("Type a query or drop a file.");
    return;
  }
  offset = from;
  const form = new FormData();
  if (text) form.append("text", text);
  if (upload) form.append("file", upload, upload.name);
  if (text && upload) {
    const w = parseFloat($("weight").value);
    form.append("weights", `${(1 - w).toFixed(2)},${w.toFixed(2)}`);
  }
  form.append("k", $("k").value);
  form.append("offset", String(offset));
  if ($("filter").value) form.append("modality", $("filter").value);
  for (const expr of $("filters").value.split(/\s+/).filter(Boolean)) form.append("filter", expr);
  showError("");
  $("summary").textContent = "searching…";
  $("results").setAttribute("aria-busy", "true");
  try {
    const started = performance.now();
    const body = await api("/search", form);
    const ms = Math.round(performance.now() - started);
    renderHits(body.hits);
    shown = true;
    generation = body.generation;
    const what = [text && `“${text}”`, upload && upload.name].filter(Boolean).join(" + ");
    const range = body.hits.length ? `${body.offset + 1}–${body.offset + body.hits.length} of ` : "";
    $("summary").textContent = `${range}${plural(body.total, "result", "results")} for ${what} · ${ms} ms · cosine similarity`;
    renderPager(body);
  } catch (e) {
    if (offset > 0 && /past the end/.test(e.message)) {  // the library shrank under this page
      search(0);
      return;
    }
    $("results").replaceChildren();
    $("summary").textContent = "";
    $("pager").hidden = true;
    shown = false;
    showError(e.message);
  } finally {
    $("results").removeAttribute("aria-busy");
  }
}

function renderPager(body) {
  const k = body.k;
  $("pager").hidden = body.total <= k;
  $("prev-page").disabled = body.offset === 0;
  $("next-page").disabled = body.offset + body.hits.length >= body.total;
  const pages = Math.ceil(body.total / k);
  $("page-info").textContent = `page ${Math.floor(body.offset / k) + 1} of ${pages}`;
}

function mediaUrl(hit) {
  return `/media/${hit.id}`;
}

function renderHits(hits) {
  const cards = hits.map((hit, rank) => {
    const card = document.createElement("article");
    card.className = `card ${hit.modality}`;
    card.dataset.rank = rank + 1;
    card.append(preview(hit));
    const meta = document.createElement("div");
    meta.className = "meta";
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = hit.score.toFixed(3);
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = hit.modality;
    const path = document.createElement("a");
    path.className = "path";
    path.href = mediaUrl(hit);
    path.target = "_blank";
    path.title = hit.path; // relative to the indexed folder: the server's own paths never show
    path.textContent = hit.path.split("/").pop();
    meta.append(badge, score, path);
    const caption = hit.metadata && hit.metadata.extra && hit.metadata.extra.caption;
    if (caption) {
      const c = document.createElement("p");
      c.className = "caption";
      c.textContent = caption;
      meta.append(c);
    }
    card.append(meta);
    return card;
  });
  $("results").replaceChildren(...cards);
}

function preview(hit) {
  const box = document.createElement("div");
  box.className = "preview";
  if (hit.modality === "image") {
    const img = document.createElement("img");
    img.src = mediaUrl(hit);
    img.alt = hit.path.split("/").pop();
    img.loading = "lazy";
    box.append(img);
  } else if (hit.modality === "video") {
    const video = document.createElement("video");
    video.src = mediaUrl(hit);
    video.controls = true;
    video.muted = true;
    video.loop = true;
    video.preload = "metadata";
    box.append(video);
  } else if (hit.modality === "audio") {
    const icon = document.createElement("div");
    icon.className = "icon";
    icon.textContent = "♪";
    const audio = document.createElement("audio");
    audio.src = mediaUrl(hit);
    audio.controls = true;
    audio.preload = "metadata";
    box.append(icon, audio);
  } else if (hit.modality === "text") {
    const text = document.createElement("blockquote");
    text.textContent = "…";
    fetch(mediaUrl(hit)).then((r) => r.text()).then((t) => { text.textContent = t.slice(0, 280); });
    box.append(text);
  } else {
    const icon = document.createElement("div");
    icon.className = "icon";
    icon.textContent = hit.modality;
    box.append(icon);
  }
  return box;
}

// -- zero-shot labels ---------------------------------------------------------------------------

async function classify() {
  if (!upload) return;
  const form = new FormData();
  form.append("file", upload, upload.name);
  const labels = $("label-list").value.trim();
  if (labels) form.append("labels", labels);
  $("labels").replaceChildren();
  try {
    const body = await api("/classify", form);
    const rows = body.labels.slice(0, 8).map((x) => {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.className = "label";
      name.textContent = x.label;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${(100 * x.probability).toFixed(1)}%`;
      bar.append(fill);
      const p = document.createElement("span");
      p.className = "prob";
      p.textContent = `${(100 * x.probability).toFixed(1)}%`;
      li.append(name, bar, p);
      return li;
    });
    $("labels").replaceChildren(...rows);
  } catch (e) {
    showError(e.message);
  }
}

// -- start ------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  loadStatus();
  wireDropZone();
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); search(); });
  $("query-text").addEventListener("input", updateWeightBox);
  $("classify-button").addEventListener("click", classify);
  $("label-list").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); classify(); }
  });
  for (const id of ["filter", "k", "filters"]) {
    $(id).addEventListener("change", () => { if ($("query-text").value.trim() || upload) search(); });
  }
  $("prev-page").addEventListener("click", () => search(Math.max(0, offset - Number($("k").value))));
  $("next-page").addEventListener("click", () => search(offset + Number($("k").value)));
  setInterval(loadStatus, POLL_MS);
});
