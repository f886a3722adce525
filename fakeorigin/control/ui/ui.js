// fakeorigin's journal page: the exchanges as they arrive, each with its timeline drawn to
// scale, and the profiles, rules and active profile beside them. Served by the control API at
// /ui with a Content-Security-Policy that allows this file and nothing inline.
//
// Everything a client sent (targets, header names and values, bodies) reaches the page through
// textContent or an SVG <title>'s textContent, never as markup. The token of a control API
// that has one is kept in sessionStorage (this tab only) and sent in an Authorization header;
// it never goes into a URL.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const KEEP = 500; // exchanges kept on the page, newest first
const TIMELINE_WIDTH = 360;
const TOKEN_KEY = "fakeorigin-token";

const state = {
  records: new Map(), // id -> record
  maxId: 0,
  selected: null,
  profiles: [],
};

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) throw new Unauthorized();
  if (response.status === 204) return null;
  const document_ = await response.json();
  if (!response.ok) {
    const error = new Error(document_.error ? document_.error.message : response.statusText);
    error.status = response.status;
    throw error;
  }
  return document_;
}

function setStatus(text, bad) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("bad", Boolean(bad));
}

// -- the token --------------------------------------------------------------------------

function askForToken(message) {
  $("main").hidden = true;
  $("token-form").hidden = false;
  $("token-error").textContent = message || "";
  setStatus("token needed", true);
  $("token").focus();
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value);
  $("token").value = "";
  start();
});

// -- exchanges --------------------------------------------------------------------------

function running(record) {
  return record.outcome === "running";
}

function merge(entries) {
  for (const record of entries) {
    state.records.set(record.id, record);
    state.maxId = Math.max(state.maxId, record.id);
  }
  const ids = [...state.records.keys()].sort((a, b) => a - b);
  for (const id of ids.slice(0, Math.max(0, ids.length - KEEP))) state.records.delete(id);
}

const EVENT_CLASS = {
  "interim-sent": "interim",
  "interim-skipped": "skipped",
  "body-first-byte": "body",
  "body-complete": "body",
  "response-started": "response",
  "response-complete": "response",
  "upgrade-sent": "response",
  "raw-sent": "raw",
  "frame-sent": "frame",
  "frame-received": "frame",
};

function eventClass(event) {
  if (EVENT_CLASS[event.event]) return EVENT_CLASS[event.event];
  if (["reset", "bad-request", "client-gone", "max-duration", "stalled"].includes(event.event))
    return "bad";
  return "other";
}

function describe(event) {
  let text = `${event.event} at ${event.t.toFixed(3)} s`;
  if (event.status !== undefined && event.status !== null) text += ` (${event.status})`;
  if (event.detail) text += `: ${event.detail}`;
  return text;
}

// The record's timeline as an SVG drawn to scale: the axis spans its last event (at least
// 10 ms); a bar marks the request body from its first byte to its last; a marker per event.
function timeline(record) {
  const events = record.timeline;
  const end = Math.max(0.01, ...events.map((e) => e.t));
  const x = (t) => 6 + (t / end) * (TIMELINE_WIDTH - 12);
  const drawing = svg("svg", {
    width: TIMELINE_WIDTH,
    height: 22,
    viewBox: `0 0 ${TIMELINE_WIDTH} 22`,
    class: "timeline",
    role: "img",
  });
  drawing.appendChild(svg("line", { x1: 6, y1: 11, x2: TIMELINE_WIDTH - 6, y2: 11, class: "axis" }));
  const first = events.find((e) => e.event === "body-first-byte");
  if (first) {
    const last = events.find((e) => e.event === "body-complete");
    const to = last ? last.t : end;
    drawing.appendChild(
      svg("rect", { x: x(first.t), y: 7, width: Math.max(2, x(to) - x(first.t)), height: 8, class: "body-bar" }),
    );
  }
  for (const event of events) {
    const marker = svg("circle", { cx: x(event.t), cy: 11, r: 4, class: "marker " + eventClass(event) });
    const title = svg("title", {});
    title.textContent = describe(event);
    marker.appendChild(title);
    drawing.appendChild(marker);
  }
  const label = svg("text", { x: TIMELINE_WIDTH - 6, y: 21, class: "scale" });
  label.textContent = end >= 1 ? `${end.toFixed(2)} s` : `${(end * 1000).toFixed(1)} ms`;
  drawing.appendChild(label);
  return drawing;
}

function matches(record) {
  const profile = $("filter-profile").value;
  const outcome = $("filter-outcome").value;
  const text = $("filter-text").value.toLowerCase();
  if (profile && record.profile !== profile) return false;
  if (outcome && record.outcome !== outcome) return false;
  if (text) {
    const haystack = [record.method, record.target, record.profile, ...record.headers.flat()]
      .join("\n")
      .toLowerCase();
    if (!haystack.includes(text)) return false;
  }
  return true;
}

function fillSelect(select, values) {
  const chosen = select.value;
  const first = select.options[0];
  select.replaceChildren(first);
  for (const value of [...values].sort()) select.appendChild(new Option(value, value));
  select.value = chosen;
}

function renderExchanges() {
  const body = $("exchanges").tBodies[0];
  const records = [...state.records.values()].sort((a, b) => b.id - a.id);
  fillSelect($("filter-profile"), new Set(records.map((r) => r.profile).filter(Boolean)));
  fillSelect($("filter-outcome"), new Set(records.map((r) => r.outcome)));
  const shown = records.filter(matches);
  const rows = shown.map((record) => {
    const row = el("tr");
    row.dataset.id = record.id;
    row.className = "exchange outcome-" + record.outcome;
    row.appendChild(el("td", record.id, "id"));
    const request = el("td", null, "request");
    request.appendChild(el("span", record.method || "-", "method"));
    request.appendChild(document.createTextNode(" "));
    request.appendChild(el("span", record.target || "-", "target"));
    row.appendChild(request);
    const profile = el("td", record.profile || "-", "profile");
    if (record.selected_by) profile.appendChild(el("span", " by " + record.selected_by, "muted"));
    row.appendChild(profile);
    row.appendChild(el("td", record.outcome, "outcome"));
    const cell = el("td");
    cell.appendChild(timeline(record));
    row.appendChild(cell);
    row.addEventListener("click", () => showDetail(record.id));
    return row;
  });
  body.replaceChildren(...rows);
  $("empty").hidden = records.length > 0;
  $("count").textContent = `${shown.length} of ${records.length}`;
}

// -- one exchange in full ---------------------------------------------------------------

function table(headings, rows) {
  const node = el("table", null, "detail-table");
  const head = el("tr");
  for (const heading of headings) head.appendChild(el("th", heading));
  node.appendChild(head);
  for (const row of rows) {
    const line = el("tr");
    for (const cell of row) line.appendChild(el("td", cell));
    node.appendChild(line);
  }
  return node;
}

function showDetail(id) {
  state.selected = id;
  const record = state.records.get(id);
  if (!record) return;
  const detail = $("detail");
  const parts = [
    el("h2", `#${record.id} ${record.method || "-"} ${record.target || "-"}`),
    el(
      "p",
      `connection ${record.connection_id}, request ${record.index}, from ${record.client}, ` +
        `HTTP/${record.http_version || "?"}; profile ${record.profile || "-"}` +
        (record.selected_by ? ` (by ${record.selected_by})` : "") +
        `; ${record.outcome}`,
    ),
  ];
  if (record.error) parts.push(el("p", "error: " + record.error, "error"));
  if (record.tls) {
    parts.push(el("p", `TLS ${record.tls.version}, SNI ${record.tls.sni || "none"}, ALPN ${record.tls.alpn || "none"}`));
  }
  parts.push(el("h3", "Request header fields, in order and case"));
  parts.push(table(["name", "value"], record.headers));
  const body = record.body;
  parts.push(el("h3", "Request body"));
  parts.push(
    el(
      "p",
      `${body.length} bytes, ${body.complete ? "complete" : "incomplete"}, sha256 ${body.sha256}` +
        (record.body_bytes_before_continue === null
          ? ""
          : `; ${record.body_bytes_before_continue} bytes before the 100`),
    ),
  );
  if (body.head_text) parts.push(el("pre", body.head_text, "body-head"));
  parts.push(el("h3", "Timeline"));
  parts.push(
    table(
      ["t (s)", "event", "status", "detail"],
      record.timeline.map((e) => [e.t.toFixed(6), e.event, e.status ?? "", e.detail ?? ""]),
    ),
  );
  if (record.websocket) {
    const ws = record.websocket;
    parts.push(el("h3", `WebSocket (${ws.handshake}, subprotocol ${ws.subprotocol || "none"})`));
    parts.push(
      table(
        ["t (s)", "direction", "type", "length", "head"],
        ws.messages.map((m) => [m.t.toFixed(6), m.direction, m.type, m.length, m.head_text]),
      ),
    );
  }
  detail.replaceChildren(...parts);
  const box = $("detail-box");
  if (!box.open) box.showModal();
}

$("detail-close").addEventListener("click", () => {
  state.selected = null;
  $("detail-box").close();
});

// -- profiles, rules, the active profile, reset -----------------------------------------

function steps(profile) {
  return profile.steps.map((step) => Object.keys(step)[0]).join(" → ");
}

async function loadSide() {
  const [profiles, active, rules] = await Promise.all([
    api("GET", "/profiles"),
    api("GET", "/active"),
    api("GET", "/rules"),
  ]);
  state.profiles = profiles.profiles;
  const select = $("active");
  select.replaceChildren(...state.profiles.map((p) => new Option(p.name, p.name)));
  select.value = active.profile;
  $("active-note").textContent = "now: " + active.profile;
  const list = $("profiles");
  list.replaceChildren(
    ...state.profiles.map((p) => {
      const item = el("li");
      const name = el("button", p.name, "link");
      name.type = "button";
      const more = el("div", p.description, "muted");
      item.append(name, more);
      name.addEventListener("click", async () => {
        const full = await api("GET", "/profiles/" + encodeURIComponent(p.name));
        more.textContent = (p.description ? p.description + " — " : "") + steps(full);
      });
      return item;
    }),
  );
  $("rules").replaceChildren(
    ...(rules.rules.length
      ? rules.rules.map((rule) =>
          el(
            "li",
            `#${rule.id} ${JSON.stringify(rule.match)} → ${rule.profile}` +
              (rule.remaining === null || rule.remaining === undefined
                ? ""
                : ` (${rule.remaining} left)`),
          ),
        )
      : [el("li", "none", "muted")]),
  );
}

$("activate").addEventListener("click", async () => {
  await api("PUT", "/active", { profile: $("active").value });
  await loadSide();
});

$("reset").addEventListener("click", async () => {
  const button = $("reset");
  if (!button.classList.contains("armed")) {
    button.classList.add("armed");
    button.textContent = "Really reset?";
    setTimeout(() => {
      button.classList.remove("armed");
      button.textContent = "Reset";
    }, 3000);
    return;
  }
  button.classList.remove("armed");
  button.textContent = "Reset";
  await api("POST", "/reset");
  state.records.clear();
  renderExchanges();
  await loadSide();
});

for (const id of ["filter-profile", "filter-outcome", "filter-text"]) {
  $(id).addEventListener("input", renderExchanges);
}

// -- following the journal --------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function readFrom(afterId) {
  for (;;) {
    const page = await api("GET", `/journal?after_id=${afterId}&limit=1000`);
    merge(page.entries);
    if (page.entries.length < 1000) return;
    afterId = page.entries[page.entries.length - 1].id;
  }
}

// Long-poll for a new exchange while none runs; while some run, read them again every
// quarter second until they end, so each timeline grows as it happens.
async function follow() {
  for (;;) {
    const open = [...state.records.values()].filter(running).map((r) => r.id);
    await readFrom(open.length ? Math.min(...open) - 1 : state.maxId);
    renderExchanges();
    if (state.selected !== null && $("detail-box").open) showDetail(state.selected);
    setStatus("live");
    if ([...state.records.values()].some(running)) {
      await sleep(250);
      continue;
    }
    try {
      await api("GET", `/journal/wait?after_id=${state.maxId}&ended=false&timeout=10`);
    } catch (error) {
      if (error.status !== 408) throw error;
    }
  }
}

let started = false;

async function start() {
  try {
    await loadSide();
  } catch (error) {
    if (error instanceof Unauthorized) {
      const had = sessionStorage.getItem(TOKEN_KEY);
      sessionStorage.removeItem(TOKEN_KEY);
      askForToken(had ? "That token was refused." : "");
      return;
    }
    setStatus("cannot reach the control API", true);
    return;
  }
  $("token-form").hidden = true;
  $("main").hidden = false;
  if (started) return;
  started = true;
  for (;;) {
    try {
      await follow();
    } catch (error) {
      if (error instanceof Unauthorized) {
        started = false;
        askForToken("The token was refused.");
        return;
      }
      setStatus("lost the control API; retrying", true);
      await sleep(1000);
    }
  }
}

start();
