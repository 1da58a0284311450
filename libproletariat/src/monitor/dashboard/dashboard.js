// The dashboard: polls /status once a second and draws it. Every text that comes
// from a peer (names, ids, services, keys) goes in with textContent, never as HTML:
// a worker's name is not the dashboard's markup.
"use strict";

const POLL_MS = 1000;
const HISTORY = 120; // points on the throughput chart
// The token from the address: #token=... (a fragment never leaves the browser, so it
// stays out of proxies' logs), or ?token=...
const token =
  new URLSearchParams(location.hash.slice(1)).get("token") || new URLSearchParams(location.search).get("token");
const history = []; // {t: ms, rate: jobs/s}
let previous = null; // the last status, for the rate
let sequence = 0;

function get(path) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  return fetch(path, { headers, cache: "no-store" }).then((response) => {
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return response.json();
  });
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function number(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "–";
}

function bar(used, total) {
  const outer = el("div", null, "bar");
  const inner = el("span");
  const share = total > 0 ? Math.min(1, used / total) : 0;
  inner.style.width = (share * 100).toFixed(1) + "%";
  if (total > 0 && used >= total) outer.classList.add("full");
  outer.title = used + " of " + total;
  outer.appendChild(inner);
  return outer;
}

function fill(tableId, rows, columns, emptyText) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = el("tr", null, "empty");
    const td = el("td", emptyText);
    td.colSpan = columns.length;
    tr.appendChild(td);
    body.appendChild(tr);
    return;
  }
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const column of columns) {
      const value = column(row);
      if (value instanceof Node) {
        const td = document.createElement("td");
        td.appendChild(value);
        tr.appendChild(td);
      } else {
        const td = el("td", value.text, value.num ? "num" : "");
        tr.appendChild(td);
      }
    }
    body.appendChild(tr);
  }
}

const text = (t) => ({ text: t });
const num = (n) => ({ text: number(n), num: true });

function ago(ms) {
  if (typeof ms !== "number") return "–";
  const s = Math.max(0, ms / 1000);
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function setTotal(id, value) {
  document.getElementById("total-" + id).textContent = number(value);
}

// The chart's top: four grid steps of a round rate (1, 2, 2.5, 3, 4, 5, 6, 7.5 or 8
// times a power of ten), the smallest that holds the peak: 236/s gives 0, 60 … 240.
function roundUp(value) {
  const quarter = value / 4;
  const power = 10 ** Math.floor(Math.log10(quarter));
  for (const m of [1, 2, 2.5, 3, 4, 5, 6, 7.5, 8]) if (m * power >= quarter) return 4 * m * power;
  return 40 * power;
}

function draw() {
  const canvas = document.getElementById("throughput");
  const ratio = window.devicePixelRatio || 1;
  // Whole device pixels: a fractional size would be truncated by the canvas and never
  // compare equal, so it would be reset (and cleared) on every draw.
  const width = Math.round(canvas.clientWidth * ratio);
  const height = Math.round(canvas.clientHeight * ratio);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const top = roundUp(Math.max(1, ...history.map((p) => p.rate)));
  g.strokeStyle = "#e3e6ec";
  g.fillStyle = "#6b7385";
  g.font = 11 * ratio + "px system-ui, sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = height - (height - 14 * ratio) * (i / 4) - 1;
    g.beginPath();
    g.moveTo(0, y);
    g.lineTo(width, y);
    g.stroke();
    g.fillText(((top * i) / 4).toLocaleString("en-US", { maximumFractionDigits: 2 }) + "/s", 4 * ratio, y - 3 * ratio);
  }
  if (history.length < 2) return;
  const x = (i) => (width * i) / (HISTORY - 1);
  const y = (rate) => height - 1 - (height - 14 * ratio) * (rate / top);
  const offset = HISTORY - history.length;
  g.beginPath();
  g.moveTo(x(offset), height);
  history.forEach((p, i) => g.lineTo(x(offset + i), y(p.rate)));
  g.lineTo(x(offset + history.length - 1), height);
  g.closePath();
  g.fillStyle = "rgba(63,125,224,0.18)";
  g.fill();
  g.beginPath();
  history.forEach((p, i) => (i === 0 ? g.moveTo(x(offset + i), y(p.rate)) : g.lineTo(x(offset + i), y(p.rate))));
  g.strokeStyle = "#3f7de0";
  g.lineWidth = 2 * ratio;
  g.stroke();
  g.lineWidth = 1;
}

function show(s) {
  const workers = s.workers || [];
  const used = workers.reduce((sum, w) => sum + (w.running || 0), 0);
  setTotal("received", s.received);
  setTotal("finished", s.finished);
  setTotal("failed", s.failed);
  setTotal("running", s.running);
  setTotal("queued", s.queued);
  setTotal("held", s.held);
  setTotal("delayed", s.delayed);
  setTotal("dead", s.dead);
  setTotal("workers", workers.length);
  document.getElementById("total-slots").textContent = number(used) + " / " + number(s.totalSlots);

  if (previous && s.now > previous.now) {
    const rate = ((s.finished - previous.finished) * 1000) / (s.now - previous.now);
    history.push({ t: s.now, rate: Math.max(0, rate) });
    if (history.length > HISTORY) history.shift();
    document.getElementById("rate").textContent = Math.round(rate).toLocaleString("en-US") + " jobs/s";
  }
  previous = s;
  draw();

  fill("queues", s.queues || [], [(q) => num(q.priority), (q) => text(q.service || "(none)"), (q) => num(q.queued)],
    "nothing queued");
  fill("ranges", s.ranges || [], [
    (r) => num(r.start),
    (r) => bar(r.used, r.limit),
    (r) => ({ text: number(r.used) + " / " + number(r.limit), num: true }),
    (r) => num(r.workers),
  ], "no worker offers slots");
  fill("workers", workers, [
    (w) => text(w.id),
    (w) => text(w.name),
    (w) => text(w.lang),
    (w) => text(w.state),
    (w) => bar(w.running || 0, w.slots || 0),
    (w) => ({ text: number(w.running) + " / " + number(w.slots), num: true }),
    // A worker that lists no service takes only jobs that name none (PROTOCOL §9).
    (w) => text((w.services || []).join(", ") || "(none)"),
  ], "no worker connected");
  fill("waiting", s.waiting || [], [
    (j) => num(j.id),
    (j) => num(j.priority),
    (j) => text(j.service || "(none)"),
    (j) => ({ text: typeof j.since === "number" ? ago(s.now - j.since) : "–", num: true }),
    (j) => text(j.reason),
  ], "no job waits");
  const dead = s.deadLetters;
  document.getElementById("dead-letters").hidden = !Array.isArray(dead);
  if (Array.isArray(dead)) {
    fill("dead", dead, [
      (d) => num(d.job),
      (d) => text(d.service || "(none)"),
      (d) => text(d.err ? d.err.code + ": " + d.err.message : ""),
      (d) => num(d.attempts),
      (d) => text(typeof d.since === "number" ? new Date(d.since).toISOString() : ""),
    ], "no dead letters");
  }
  document.getElementById("manager").textContent =
    "up " + ago(s.now - s.boot) + (s.draining ? " · draining" : "") + (s.journal ? " · journal " + s.journal.sync : "");
  sequence += 1;
  const updated = document.getElementById("updated");
  updated.dataset.sequence = String(sequence);
  updated.dataset.now = String(s.now);
  updated.textContent = "updated " + new Date(s.now).toLocaleTimeString();
}

function poll() {
  get("status")
    .then((s) => {
      document.getElementById("error").hidden = true;
      show(s);
    })
    .catch((e) => {
      const box = document.getElementById("error");
      box.textContent = "cannot read the manager's status: " + e.message;
      box.hidden = false;
    })
    .finally(() => setTimeout(poll, POLL_MS));
}

poll();
