// The audiodiff page: a client of the JSON API in audiodiff/serve/app.py. No libraries, nothing from the internet.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const ROLL_HEIGHT = 300, PX_PER_SECOND = 100, MAX_HZ = 8000, POLL_MS = 400;
const MIN_NOTE_HEIGHT = 5;  // a semitone is about 2 px at 300 Hz on this mel axis: notes are drawn taller, centred
const state = { options: null, clip: null, selection: null, jobs: new Map(), promptTimer: null };

// ---- the API -------------------------------------------------------------------------------------------
async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "X-Audiodiff": "1" }, body };
  if (body !== undefined && !(body instanceof FormData)) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    return { ok: false, status: 0, data: { error: "the server does not answer; is audiodiff serve running?" } };
  }
  let data;
  try { data = await response.json(); } catch (err) { data = { error: `${response.status} ${response.statusText}` }; }
  return { ok: response.ok, status: response.status, data };
}

function clearErrors(ids) { for (const id of ids) { const el = $(`error-${id}`); if (el) el.textContent = ""; } }

function showError(data, fallback) {
  const el = (data.field && $(`error-${data.field}`)) || $(`error-${fallback}`);
  el.textContent = data.error;
}

// ---- prompt and pickers ----------------------------------------------------------------------------------
function fillPickers(options) {
  const add = (select, value, text) => { const o = document.createElement("option"); o.value = value; o.textContent = text; select.append(o); };
  const d = options.defaults;
  add($("pick-key"), "", `(${d.key})`);
  options.keys.forEach((k) => add($("pick-key"), k, k));
  add($("pick-meter"), "", `(${d.meter})`);
  options.meters.forEach((m) => add($("pick-meter"), m, m));
  const name = options.instruments.find((i) => i.program === d.program);
  add($("pick-program"), "", `(${name ? name.name : "piano"})`);
  options.instruments.forEach((i) => add($("pick-program"), String(i.program), i.name));
  $("pick-bpm").min = options.bpm_range[0]; $("pick-bpm").max = options.bpm_range[1];
  $("pick-seconds").min = options.seconds_range[0]; $("pick-seconds").max = options.seconds_range[1];
  for (const s of options.streams) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" value="${s}"${s === "melody" || s === "chords" ? " checked" : ""}> ${s}`;
    $("keep").append(label);
  }
}

function showPrompt(data) {
  const given = data.given;
  $("pick-key").value = given.key || "";
  $("pick-bpm").value = given.bpm ?? "";
  $("pick-meter").value = given.meter || "";
  $("pick-program").value = given.program === undefined ? "" : String(given.program);
  $("pick-seconds").value = given.seconds ?? "";
  $("pick-seed").value = given.seed ?? "";
  $("plays").textContent = `plays: ${data.plays}${given.seed === undefined ? ", a random seed" : ""}`;
}

async function checkPrompt() {
  const r = await api("/api/prompt", { text: $("prompt").value });
  clearErrors(["prompt", "picker"]);
  if (r.ok) showPrompt(r.data); else { showError(r.data, "prompt"); $("plays").textContent = ""; }
}

async function pick(field, value) {
  const r = await api("/api/prompt", { text: $("prompt").value, field, value });
  clearErrors(["prompt", "picker"]);
  if (r.ok) { $("prompt").value = r.data.text; showPrompt(r.data); } else showError({ error: r.data.error }, "picker");
}

// ---- jobs ------------------------------------------------------------------------------------------------
async function submit(path, form, errorId, fields) {
  clearErrors([...fields, errorId]);
  const r = await api(path, form);
  if (!r.ok) { showError(r.data, errorId); return; }
  track(r.data);
}

function track(job) {
  const li = document.createElement("li");
  li.className = "job";
  li.dataset.job = job.id;
  li.innerHTML = `<div class="job-label"></div><div class="job-state"></div><progress hidden></progress>
    <button type="button" class="cancel">Cancel</button>`;
  li.querySelector(".job-label").textContent = job.label;
  li.querySelector(".cancel").onclick = () => api(`/api/jobs/${job.id}/cancel`, {});
  $("no-jobs").hidden = true;
  $("jobs").prepend(li);
  state.jobs.set(job.id, li);
  showJob(job);
  poll(job.id);
}

function showJob(job) {
  const li = state.jobs.get(job.id);
  li.className = `job ${job.state}`;
  const bar = li.querySelector("progress");
  let text = job.state;
  if (job.state === "queued") text = job.place === 1 ? "waiting: next in the queue" : `waiting: place ${job.place} in the queue`;
  if (job.state === "running") {
    const left = Math.max(0, job.expected - job.elapsed);
    text = job.cancel_requested ? "cancelling when this step ends" : `generating… about ${left.toFixed(0)} s left`;
    bar.hidden = false; bar.value = job.progress;
  } else bar.hidden = true;
  if (job.state === "failed" || job.state === "cancelled") text = job.error;
  if (job.state === "done") text = `done in ${job.took.toFixed(1)} s` + (job.warnings.length ? ` (warning: ${job.warnings.join("; ")})` : "");
  li.querySelector(".job-state").textContent = text;
  li.querySelector(".cancel").hidden = !(job.state === "queued" || job.state === "running");
}

async function poll(id) {
  const r = await api(`/api/jobs/${id}`);
  if (!r.ok) { setTimeout(() => poll(id), POLL_MS * 3); return; }
  showJob(r.data);
  if (r.data.state === "queued" || r.data.state === "running") { setTimeout(() => poll(id), POLL_MS); return; }
  if (r.data.state === "done") { await loadHistory(); await showClip(r.data.clip); }
  setTimeout(() => { const li = state.jobs.get(id); if (li && r.data.state !== "failed") { li.remove(); state.jobs.delete(id); }
    $("no-jobs").hidden = state.jobs.size > 0; }, r.data.state === "done" ? 1500 : 8000);
}

async function pollQueue() {
  const r = await api("/api/queue");
  if (r.ok) {
    const q = r.data;
    $("queue-status").textContent = q.running ? `queue: 1 generating, ${q.waiting} waiting` : "queue: idle";
  }
  setTimeout(pollQueue, 1500);
}

// ---- the clip: player, piano roll over the spectrogram, downloads ------------------------------------------
const mel = (hz) => 2595 * Math.log10(1 + hz / 700);
const pitchHz = (p) => 440 * Math.pow(2, (p - 69) / 12);

function el(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function drawRoll(clip) {
  const roll = clip.roll, seconds = clip.seconds, svg = $("roll");
  const width = seconds * PX_PER_SECOND, top = mel(MAX_HZ);
  const y = (hz) => ROLL_HEIGHT * (1 - mel(hz) / top);
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${ROLL_HEIGHT}`);
  svg.append(el("image", { href: `/api/clips/${clip.id}/files/png`, x: 0, y: 0, width, height: ROLL_HEIGHT,
                            preserveAspectRatio: "none" }));
  const step = roll.seconds_per_step;
  for (let s = 0; s * step < seconds; s += roll.steps_per_beat) {
    const x = s * step * PX_PER_SECOND;
    svg.append(el("line", { x1: x, x2: x, y1: 0, y2: ROLL_HEIGHT, class: s % roll.steps_per_bar ? "beat" : "barline" }));
  }
  const legend = $("legend");
  legend.replaceChildren();
  roll.tracks.forEach((t, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const item = document.createElement("span"), swatch = document.createElement("i");
    swatch.style.background = colour;
    item.append(swatch, `${t.name} (${t.instrument}, ${t.notes.length} notes)`);
    legend.append(item);
    for (const [pitch, start, duration] of t.notes) {
      const t0 = start * step;
      if (t0 >= seconds) continue;
      const t1 = Math.min((start + duration) * step, seconds);
      const top = y(pitchHz(pitch + 0.5)), bottom = y(pitchHz(pitch - 0.5));
      const height = Math.max(bottom - top, MIN_NOTE_HEIGHT);
      const attrs = t.is_drum
        ? { x: t0 * PX_PER_SECOND, y: ROLL_HEIGHT - 10, width: 2, height: 10 }
        : { x: t0 * PX_PER_SECOND, y: (top + bottom - height) / 2, width: Math.max((t1 - t0) * PX_PER_SECOND, 1), height };
      const rect = el("rect", { ...attrs, class: "note", fill: colour, "fill-opacity": 0.9, "data-track": t.name,
                                "data-pitch": pitch, "data-start": start });
      svg.append(rect);
    }
  });
  svg.append(el("rect", { id: "selection", x: 0, y: 0, width: 0, height: ROLL_HEIGHT }));
  svg.append(el("line", { id: "playhead", x1: 0, x2: 0, y1: 0, y2: ROLL_HEIGHT }));
  drawRuler(clip);
}

function drawRuler(clip) {
  const roll = clip.roll, ruler = $("ruler");
  const barSeconds = roll.steps_per_bar * roll.seconds_per_step;
  ruler.replaceChildren();
  for (let b = 0; b < roll.bars; b++) {
    const cell = document.createElement("div");
    cell.className = "bar-cell";
    cell.dataset.bar = b + 1;
    const chord = roll.chords[b * roll.steps_per_bar / roll.steps_per_beat];
    cell.textContent = `${b + 1}${chord ? " " + chord : ""}`;
    cell.style.width = `${(Math.min(barSeconds, clip.seconds - b * barSeconds) / clip.seconds) * 100}%`;
    cell.onmousedown = (ev) => { ev.preventDefault(); state.dragFrom = ev.shiftKey && state.selection ? state.selection[0] : b + 1; select(state.dragFrom, b + 1); };
    cell.onmouseenter = (ev) => { if (ev.buttons === 1 && state.dragFrom) select(state.dragFrom, b + 1); };
    ruler.append(cell);
  }
  document.onmouseup = () => { state.dragFrom = null; };
  select(null);
}

function select(from, to) {
  const clip = state.clip;
  state.selection = from ? [Math.min(from, to), Math.max(from, to)] : null;
  const [a, b] = state.selection || [0, -1];
  for (const cell of $("ruler").children) cell.classList.toggle("selected", cell.dataset.bar >= a && cell.dataset.bar <= b);
  const barSeconds = clip.roll.steps_per_bar * clip.roll.seconds_per_step;
  const sel = $("selection");
  sel.setAttribute("x", (a - 1) * barSeconds * PX_PER_SECOND);
  sel.setAttribute("width", state.selection ? Math.min((b - a + 1) * barSeconds, clip.seconds - (a - 1) * barSeconds) * PX_PER_SECOND : 0);
  const text = state.selection ? (a === b ? `bar ${a}` : `bars ${a}-${b}`) : "select bars on the roll";
  $("selection-text").textContent = text;
  $("repaint").disabled = !state.selection || !clip.editable;
}

function movePlayhead() {
  const head = $("playhead");
  if (head) { const x = $("player").currentTime * PX_PER_SECOND; head.setAttribute("x1", x); head.setAttribute("x2", x); }
  requestAnimationFrame(movePlayhead);
}

function describe(clip) {
  const what = { generate: clip.prompt, render: `rendered MIDI`, repaint: `repaint of ${clip.parent}, ${clip.edit}`,
                 extend: `${clip.parent} extended, ${clip.edit}`, regenerate: `new take of ${clip.parent}, ${clip.edit}` };
  return what[clip.kind] || clip.id;
}

const FILE_NAMES = { wav: "WAV", midi: "plan MIDI", json: "sidecar JSON", melody: "melody MIDI", source: "source MIDI" };

function downloadLinks(clip) {
  return clip.files.map((kind) => {
    const a = document.createElement("a");
    a.href = `/api/clips/${clip.id}/files/${kind}?download=1`;
    a.textContent = FILE_NAMES[kind] || kind.replace("stem-", "stem: ");
    a.className = `download download-${kind}`;
    a.setAttribute("download", "");
    return a;
  });
}

async function showClip(id) {
  const r = await api(`/api/clips/${id}`);
  if (!r.ok) { showError(r.data, "edit"); return; }
  const clip = r.data;
  state.clip = clip;
  $("result").hidden = false;
  $("result-title").textContent = describe(clip);
  $("result-meta").textContent = `${clip.key}, ${clip.bpm} bpm, ${clip.meter}, ${clip.instrument || ""}, ` +
    `${clip.seconds.toFixed(2)} s — seed ${clip.seed} — ${clip.id}`;
  $("player").src = `/api/clips/${clip.id}/files/wav`;
  drawRoll(clip);
  $("downloads").replaceChildren(...downloadLinks(clip));
  for (const b of ["extend", "regenerate"]) $(b).disabled = !clip.editable;
  clearErrors(["bars", "extend_seconds", "keep", "regenerate_seed", "clip", "edit"]);
  if (!clip.editable) $("error-edit").textContent = "a rendered MIDI file has no prompt: repaint, extend and new takes work on generated clips";
  for (const li of $("history").children) li.classList.toggle("current", li.dataset.clip === id);
}

async function loadHistory() {
  const r = await api("/api/clips");
  if (!r.ok) return;
  const list = $("history");
  list.replaceChildren();
  if (!r.data.length) { list.innerHTML = '<li class="muted">no clips yet</li>'; return; }
  for (const clip of r.data) {
    const li = document.createElement("li");
    li.dataset.clip = clip.id;
    const play = document.createElement("button");
    play.type = "button"; play.textContent = "open"; play.className = "open";
    play.onclick = () => showClip(clip.id);
    const title = document.createElement("div");
    title.className = "title"; title.textContent = describe(clip);
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.append(`${clip.seconds.toFixed(1)} s, seed ${clip.seed}, ${clip.id} `, ...downloadLinks(clip));
    li.append(play, title, meta);
    if (state.clip && state.clip.id === clip.id) li.classList.add("current");
    list.append(li);
  }
}

// ---- wiring ----------------------------------------------------------------------------------------------
function generateForm() {
  const form = new FormData();
  for (const id of ["prompt", "chords", "form", "bars_per_section", "melody_track"]) form.append(id, $(id).value);
  form.append("drums", $("drums").checked ? "1" : "0");
  if ($("melody").files.length) form.append("melody", $("melody").files[0]);
  return form;
}

async function start() {
  const r = await api("/api/options");
  if (!r.ok) { $("error-generate").textContent = r.data.error; return; }
  state.options = r.data;
  fillPickers(r.data);
  if (r.data.warnings && r.data.warnings.length) $("server-warnings").textContent = r.data.warnings.join("; ");
  $("prompt").addEventListener("input", () => { clearTimeout(state.promptTimer); state.promptTimer = setTimeout(checkPrompt, 250); });
  $("prompt").addEventListener("keydown", (ev) => { if (ev.key === "Enter") $("generate").click(); });
  for (const f of ["key", "meter", "program"]) $(`pick-${f}`).addEventListener("change", (ev) => pick(f === "program" ? "program" : f, ev.target.value));
  for (const f of ["bpm", "seconds", "seed"]) $(`pick-${f}`).addEventListener("change", (ev) => pick(f, ev.target.value));
  $("dice").onclick = () => pick("seed", String(Math.floor(Math.random() * 2147483647)));
  $("generate").onclick = () => submit("/api/generate", generateForm(), "generate",
    ["prompt", "chords", "melody", "melody_track", "form", "bars_per_section"]);
  $("render").onclick = () => {
    const form = new FormData();
    if ($("render_midi").files.length) form.append("render_midi", $("render_midi").files[0]);
    form.append("seed", $("render_seed").value); form.append("seconds", $("render_seconds").value);
    submit("/api/render", form, "render", ["render_midi", "render_seed", "render_seconds"]);
  };
  $("repaint").onclick = () => {
    const [a, b] = state.selection, form = new FormData();
    form.append("bars", a === b ? `${a}` : `${a}-${b}`);
    submit(`/api/clips/${state.clip.id}/repaint`, form, "edit", ["bars", "clip"]);
  };
  $("extend").onclick = () => {
    const form = new FormData(); form.append("seconds", $("extend_seconds").value);
    submit(`/api/clips/${state.clip.id}/extend`, form, "edit", ["extend_seconds", "clip"]);
  };
  $("regenerate").onclick = () => {
    const form = new FormData();
    form.append("keep", [...$("keep").querySelectorAll("input:checked")].map((i) => i.value).join(","));
    form.append("seed", $("regenerate_seed").value);
    submit(`/api/clips/${state.clip.id}/regenerate`, form, "edit", ["keep", "regenerate_seed", "clip"]);
  };
  addEventListener("pagehide", () => {  // a closed or reloaded tab gives up its waiting jobs at once
    for (const [id, li] of state.jobs) {
      if (li.classList.contains("queued")) fetch(`/api/jobs/${id}/cancel`, { method: "POST", keepalive: true, headers: { "X-Audiodiff": "1" } });
    }
  });
  await checkPrompt();
  await loadHistory();
  const newest = $("history").querySelector("li[data-clip]");
  if (newest) await showClip(newest.dataset.clip);
  pollQueue();
  requestAnimationFrame(movePlayhead);
}

start();
