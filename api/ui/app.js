// conclave status page: polls this node's REST API and renders it. Plain
// browser JavaScript, no build step, no third-party code.
"use strict";

const REFRESH_MS = 2000;
const PEER_TIMEOUT_MS = 1500;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function setText(id, text) { document.getElementById(id).textContent = text; }

// The ACL token the operator gave, kept for this tab only. It goes with
// every request to this node (same origin), never to other nodes.
const TOKEN_KEY = "conclave-token";
function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function getJSON(url, timeoutMs) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs || 5000);
  const headers = {};
  if (token() && url.startsWith("/")) headers["Authorization"] = "Bearer " + token();
  try {
    const r = await fetch(url, { signal: ctl.signal, cache: "no-store", headers });
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    return { status: r.status, body };
  } finally {
    clearTimeout(timer);
  }
}

function ago(iso) {
  if (!iso || iso.startsWith("0001-")) return "never";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 1.5) return "now";
  if (s < 90) return Math.round(s) + "s ago";
  if (s < 5400) return Math.round(s / 60) + "m ago";
  return Math.round(s / 3600) + "h ago";
}

// reachable replaces a wildcard host in addr by the host of via (the
// member's gossip address), as the Prometheus SD endpoint does.
function reachable(addr, via) {
  const i = addr.lastIndexOf(":");
  if (i < 0) return addr;
  const host = addr.slice(0, i);
  if (host !== "" && host !== "0.0.0.0" && host !== "[::]" && host !== "::") return addr;
  const j = via.lastIndexOf(":");
  return (j < 0 ? via : via.slice(0, j)) + addr.slice(i);
}

// healthOf asks a node for its readiness: this node through the page's own
// origin, the others directly (their health answers allow any origin), with
// this page's scheme: a cluster runs TLS on every node or on none.
async function healthOf(m, selfName) {
  if (m.state !== "alive") return { text: m.state, cls: "bad" };
  const url = m.name === selfName ? "/v1/health/ready"
    : (m.http_addr ? location.protocol + "//" + reachable(m.http_addr, m.addr) + "/v1/health/ready" : null);
  if (!url) return { text: "unknown", cls: "muted" };
  try {
    const r = await getJSON(url, PEER_TIMEOUT_MS);
    if (!r.body) return { text: "unknown", cls: "muted" };
    if (r.status === 200) {
      const warn = (r.body.checks || []).filter(c => c.status === "warn");
      return warn.length ? { text: "ready (warn: " + warn.map(c => c.name).join(", ") + ")", cls: "warn" }
        : { text: "ready", cls: "ok" };
    }
    const failed = (r.body.checks || []).filter(c => c.status === "fail");
    return { text: "not ready: " + failed.map(c => c.name + " (" + c.reason + ")").join("; "), cls: "bad" };
  } catch (e) {
    return { text: "unreachable from this browser", cls: "muted" };
  }
}

async function renderNodes(members, raft) {
  const tbody = document.querySelector("#nodes tbody");
  const roles = {};
  for (const s of raft.servers || []) roles[s.id] = s.role;
  const health = await Promise.all(members.members.map(m => healthOf(m, members.node)));
  tbody.replaceChildren();
  members.members.forEach((m, i) => {
    const tr = el("tr");
    tr.dataset.node = m.name;
    const name = el("td", m.name, "name");
    if (m.leader) name.appendChild(el("span", "leader", "badge"));
    if (m.name === members.node) name.appendChild(el("span", "this node", "badge"));
    tr.appendChild(name);
    tr.appendChild(el("td", roles[m.name] || m.raft_role || "client", "role"));
    tr.appendChild(el("td", m.state, m.state === "alive" ? "ok" : "bad"));
    tr.appendChild(el("td", health[i].text, "health " + health[i].cls));
    tr.appendChild(el("td", m.failure_domain || "—"));
    tr.appendChild(el("td", ago(m.last_seen), "last-seen"));
    tr.appendChild(el("td", m.api_addr || "—"));
    tbody.appendChild(tr);
  });
}

function renderLocks(locks) {
  const box = document.getElementById("locks");
  box.replaceChildren();
  if (!locks.length) { box.appendChild(el("p", "no locks held", "muted")); return; }
  const t = el("table");
  const head = el("tr");
  for (const h of ["name", "holder", "token", "granted", "waiters"]) head.appendChild(el("th", h));
  t.appendChild(el("thead")).appendChild(head);
  const tb = t.appendChild(el("tbody"));
  for (const l of locks) {
    const tr = el("tr");
    tr.appendChild(el("td", l.name));
    tr.appendChild(el("td", l.holder || (l.delay_until ? "(lock delay)" : "—")));
    tr.appendChild(el("td", l.token));
    tr.appendChild(el("td", l.granted_at ? ago(l.granted_at) : "—"));
    tr.appendChild(el("td", (l.waiters || []).map(w => w.pid).join(", ") || "—"));
    tb.appendChild(tr);
  }
  box.appendChild(t);
}

// renderTable fills box with one row per item, or the empty text.
function renderTable(id, items, empty, heads, row) {
  const box = document.getElementById(id);
  box.replaceChildren();
  if (!items.length) { box.appendChild(el("p", empty, "muted")); return; }
  const t = el("table");
  const head = el("tr");
  for (const h of heads) head.appendChild(el("th", h));
  t.appendChild(el("thead")).appendChild(head);
  const tb = t.appendChild(el("tbody"));
  for (const it of items) {
    const tr = el("tr");
    for (const v of row(it)) tr.appendChild(el("td", v));
    tb.appendChild(tr);
  }
  box.appendChild(t);
}

function renderSemaphores(sems) {
  renderTable("semaphores", sems, "no semaphores held", ["name", "limit", "holders (token)", "waiters"], s => [
    s.name, s.limit,
    (s.holders || []).map(h => h.pid + " (" + h.token + ")").join(", ") || "—",
    (s.waiters || []).map(w => w.pid).join(", ") || "—",
  ]);
}

function renderElections(es) {
  renderTable("elections", es, "no elections", ["name", "leader", "token", "value", "candidates"], e => [
    e.name, e.leader || "—", e.leader ? e.token : "—", e.value || "—", (e.candidates || []).join(", ") || "—",
  ]);
}

// renderOptional shows a section's REST answer, or why there is none.
async function renderOptional(id, path, key, render) {
  const r = await getJSON(path);
  if (r.status === 200) render(r.body[key] || []);
  else if (r.status === 403) setText(id, "not readable with this token");
  else setText(id, "error " + r.status + (r.body && r.body.error ? ": " + r.body.error.message : ""));
}

// MAX_EVENTUAL_KEYS bounds the eventual store's listing: the first keys
// by key, each with its value's size, clock and origin.
const MAX_EVENTUAL_KEYS = 100;

// b64Size is the number of bytes a base64 string decodes to.
function b64Size(s) {
  if (!s) return 0;
  return Math.floor(s.length * 3 / 4) - (s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0);
}

function bytesText(n) {
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KiB";
  return (n / (1 << 20)).toFixed(1) + " MiB";
}

// renderEventualKV shows this node's eventual store: its size against its
// bounds (/v1/eventual-kv) and its first keys (/v1/kv?store=eventual).
// 404 means this node serves no eventual store.
async function renderEventualKV() {
  const stats = document.getElementById("ekv-stats");
  let s;
  try { s = await getJSON("/v1/eventual-kv"); } catch (e) { s = { status: 0 }; }
  if (s.status === 404) { stats.textContent = ""; setText("ekv", "not available on this node"); return; }
  if (s.status === 403) { stats.textContent = ""; setText("ekv", "not readable with this token"); return; }
  if (s.status !== 200 || !s.body) { stats.textContent = ""; setText("ekv", "error " + s.status + (s.body && s.body.error ? ": " + s.body.error.message : "")); return; }
  const b = s.body;
  const pct = b.max_store_bytes ? Math.round(100 * b.bytes / b.max_store_bytes) : 0;
  const plural = (n, w) => n + " " + w + (n === 1 ? "" : "s");
  stats.textContent = plural(b.keys, "key") + ", " + plural(b.tombstones, "tombstone") + "; " + bytesText(b.bytes) + " of " +
    bytesText(b.max_store_bytes) + " (" + pct + "%); values up to " + bytesText(b.max_value_bytes) +
    "; tombstones kept " + b.tombstone_ttl;
  stats.className = pct >= 90 ? "bad" : pct >= 75 ? "warn" : "muted";
  await renderOptional("ekv", "/v1/kv?store=eventual&limit=" + MAX_EVENTUAL_KEYS, "entries", es => {
    renderTable("ekv", es, "no keys", ["key", "value size", "clock", "logical", "origin"], e => [
      e.key, bytesText(b64Size(e.value)),
      e.clock ? new Date(e.clock.wall_ns / 1e6).toISOString() : "—",
      e.clock ? e.clock.logical : "—", e.clock ? e.clock.origin : "—",
    ]);
    if (b.keys > es.length) {
      document.getElementById("ekv").appendChild(el("p", "showing " + es.length + " of " + b.keys + " keys (the first by key)", "muted"));
    }
  });
}

// MAX_SERVICES bounds how many services' instances the page fetches per
// refresh (one request each); the rest are listed by name only.
const MAX_SERVICES = 50;

function healthClass(h) { return h === "passing" ? "ok" : h === "warning" ? "warn" : "bad"; }

function servicePath(name) { return "/v1/services/" + name.split("/").map(encodeURIComponent).join("/"); }

// renderServices shows every instance of every service: its endpoint,
// health (and the check output behind it), node and when its agent last
// saw it alive. 404 means this node serves no registry.
async function renderServices() {
  const box = document.getElementById("services");
  let r;
  try { r = await getJSON("/v1/services"); } catch (e) { r = { status: 0 }; }
  if (r.status === 404) { box.replaceChildren(el("p", "not available on this node", "muted unavailable")); return; }
  if (r.status === 403) { box.replaceChildren(el("p", "not readable with this token", "muted")); return; }
  if (r.status !== 200 || !r.body) { box.replaceChildren(el("p", "error " + r.status + (r.body && r.body.error ? ": " + r.body.error.message : ""), "bad")); return; }
  const services = r.body.services || [];
  if (!services.length) { box.replaceChildren(el("p", "no services registered", "muted")); return; }
  const shown = services.slice(0, MAX_SERVICES);
  const answers = await Promise.all(shown.map(s => getJSON(servicePath(s.name)).catch(() => ({ status: 0 }))));
  const t = el("table");
  t.id = "services-table";
  const head = el("tr");
  for (const h of ["service", "id", "endpoint", "protocol", "health", "node", "last seen", "output"]) head.appendChild(el("th", h));
  t.appendChild(el("thead")).appendChild(head);
  const tb = t.appendChild(el("tbody"));
  shown.forEach((s, i) => {
    const a = answers[i];
    if (a.status !== 200 || !a.body) {
      const tr = el("tr");
      tr.appendChild(el("td", s.name));
      const td = el("td", "error " + a.status, "bad");
      td.colSpan = 7;
      tr.appendChild(td);
      tb.appendChild(tr);
      return;
    }
    for (const inst of a.body.instances || []) {
      const tr = el("tr");
      tr.dataset.service = inst.service;
      tr.dataset.id = inst.id;
      tr.appendChild(el("td", inst.service));
      tr.appendChild(el("td", inst.id));
      tr.appendChild(el("td", inst.endpoint));
      tr.appendChild(el("td", inst.protocol));
      tr.appendChild(el("td", inst.health, "health " + healthClass(inst.health)));
      tr.appendChild(el("td", inst.node));
      tr.appendChild(el("td", ago(inst.last_seen), "last-seen"));
      tr.appendChild(el("td", inst.output || "—"));
      tb.appendChild(tr);
    }
  });
  const nodes = [t];
  if (services.length > shown.length) {
    nodes.push(el("p", "and " + (services.length - shown.length) + " more services: " +
      services.slice(shown.length).map(s => s.name).join(", "), "muted"));
  }
  box.replaceChildren(...nodes);
}

// renderGeneric shows the array body[key] of an optional plane's endpoint
// as a table with one column per field; 404 means this node does not serve
// the plane.
async function renderGeneric(box) {
  let r;
  try { r = await getJSON(box.dataset.endpoint); } catch (e) { r = { status: 0 }; }
  box.replaceChildren();
  if (r.status === 404) { box.appendChild(el("p", "not available on this node", "muted unavailable")); return; }
  if (r.status === 403) { box.appendChild(el("p", "not readable with this token", "muted")); return; }
  if (r.status !== 200 || !r.body) { box.appendChild(el("p", "error " + r.status + (r.body && r.body.error ? ": " + r.body.error.message : ""), "bad")); return; }
  const rows = r.body[box.dataset.key] || [];
  if (!rows.length) { box.appendChild(el("p", "none", "muted")); return; }
  const cols = Object.keys(rows[0]);
  const t = el("table");
  const head = el("tr");
  for (const c of cols) head.appendChild(el("th", c));
  t.appendChild(el("thead")).appendChild(head);
  const tb = t.appendChild(el("tbody"));
  for (const row of rows) {
    const tr = el("tr");
    for (const c of cols) {
      const v = row[c];
      tr.appendChild(el("td", typeof v === "object" && v !== null ? JSON.stringify(v) : v));
    }
    tb.appendChild(tr);
  }
  box.appendChild(t);
}

async function refresh() {
  try {
    const [members, raft, locks] = await Promise.all([getJSON("/v1/members"), getJSON("/v1/raft"), getJSON("/v1/locks?mode=stale")]);
    // ACLs are on and the page has no token (401) or one that may not
    // read the cluster (403): ask for one.
    const denied = [members, raft].find(r => r.status === 401 || r.status === 403);
    document.getElementById("token-form").hidden = !denied && !token();
    if (denied) throw new Error((denied.status === 401 ? "ACLs are on: enter a token" : "this token may not read the cluster") +
      (denied.body && denied.body.error ? " (" + denied.body.error.message + ")" : ""));
    if (members.status !== 200 || raft.status !== 200) throw new Error("members " + members.status + ", raft " + raft.status);
    setText("self", members.body.node + " (" + raft.body.state + ")");
    setText("cluster-id", raft.body.cluster_id || "not formed yet");
    setText("leader", raft.body.leader_id || "none known");
    setText("term", raft.body.term);
    setText("commit", raft.body.commit_index);
    await renderNodes(members.body, raft.body);
    if (locks.status === 200) renderLocks(locks.body.locks || []);
    else if (locks.status === 403) setText("locks", "not readable with this token");
    else setText("locks", "error " + locks.status + (locks.body && locks.body.error ? ": " + locks.body.error.message : ""));
    await Promise.all([renderServices(),
      renderOptional("semaphores", "/v1/semaphores?mode=stale", "semaphores", renderSemaphores),
      renderOptional("elections", "/v1/elections?mode=stale", "elections", renderElections),
      renderEventualKV(), ...[...document.querySelectorAll("[data-endpoint]")].map(renderGeneric)]);
    const line = document.getElementById("status-line");
    line.textContent = "updated " + new Date().toLocaleTimeString();
    line.className = "muted";
  } catch (e) {
    const line = document.getElementById("status-line");
    line.textContent = "cannot reach this node: " + e.message;
    line.className = "bad";
  }
  setTimeout(refresh, REFRESH_MS);
}

document.getElementById("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const v = document.getElementById("token").value.trim();
  if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("token").value = "";
});

refresh();
