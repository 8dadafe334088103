// SPDX-License-Identifier: BSD-3-Clause
// tokfab dashboard: polls tokfabd's API every 2 s. No external resources.
"use strict";

const $ = (id) => document.getElementById(id);
let token = "";
let timer = null;

function readToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    token = decodeURIComponent(m[1]);
    try { sessionStorage.setItem("tokfab-token", token); } catch (e) { /* private mode */ }
    history.replaceState(null, "", location.pathname);
  } else {
    try { token = sessionStorage.getItem("tokfab-token") || ""; } catch (e) { token = ""; }
  }
}

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + token } });
  if (r.status === 401) throw new Error("unauthorized");
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function text(v) { return v === undefined || v === null ? "–" : String(v); }
function fmtInt(n) { return n === undefined ? "–" : Number(n).toLocaleString("en-US"); }

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = text(c);
    tr.appendChild(td);
  }
  return tr;
}

function bar(fraction) {
  const f = Math.max(0, Math.min(1, fraction || 0));
  const wrap = document.createElement("span");
  const b = document.createElement("span");
  b.className = "bar" + (f > 0.9 ? " hot" : "");
  b.style.width = Math.round(f * 100) + "px";
  wrap.appendChild(b);
  wrap.appendChild(document.createTextNode(" " + Math.round(f * 100) + "%"));
  return wrap;
}

function state(s) {
  const span = document.createElement("span");
  span.className = "st-" + s;
  span.textContent = s;
  return span;
}

function fill(id, rows) {
  const tb = $(id).querySelector("tbody");
  tb.replaceChildren(...rows);
}

function drawChart(series) {
  const svg = $("chart");
  const max = Math.max(1, ...series);
  const n = series.length;
  const pts = series.map((v, i) => (i * 600 / Math.max(1, n - 1)).toFixed(1) + "," +
                         (155 - v / max * 145).toFixed(1)).join(" ");
  svg.innerHTML = '<polyline fill="none" stroke="#0969da" stroke-width="2" points="' + pts + '"/>' +
    '<text x="4" y="14" font-size="12" fill="#57606a">max ' + fmtInt(max) + '/s</text>';
}

async function refresh() {
  // Per-tenant totals come with /v1/live (tokfabd's counters), not from a scan of
  // the raw records every 2 s.
  const [health, live, accels, tenants] = await Promise.all([
    api("/v1/health"), api("/v1/live"), api("/v1/accelerators"), api("/v1/tenants"),
  ]);
  const card = health.card || {};
  const cardComp = (health.components || []).find((c) => c.component === "card");
  const cardState = card.attached ? (cardComp ? cardComp.state : "unknown") : "down";
  $("card-badge").className = "badge " + cardState;
  $("card-badge").textContent = cardState;
  $("card-line").textContent = card.attached
    ? "card " + card.serial + " · firmware " + card.firmware + " · boot " + card.boot_count
    : "card not attached";
  $("kpi-pending").textContent = card.attached
    ? fmtInt(card.events_posted - card.events_acknowledged) : "–";

  const last10 = live.tokens_per_s.slice(-10), req10 = live.requests_per_s.slice(-10);
  $("kpi-tps").textContent = fmtInt(Math.round(last10.reduce((a, b) => a + b, 0) / 10));
  $("kpi-rps").textContent = fmtInt(Math.round(req10.reduce((a, b) => a + b, 0) / 10));
  drawChart(live.tokens_per_s);

  fill("accels", accels.accelerators.map((a) => row([
    a.id, a.transport, state(a.state), a.cost_per_hour,
    a.cost_per_1k_tokens, a.utilisation === undefined ? "–" : bar(a.utilisation)])));

  const used = {};
  let total = 0;
  for (const r of live.tenants) {
    used[r.tenant_id] = r.tokens;
    total += r.tokens;
  }
  $("kpi-tokens").textContent = fmtInt(total);
  const ts = tenants.tenants.slice().sort((a, b) => (used[b.id] || 0) - (used[a.id] || 0));
  fill("tenants", ts.map((t) => row([
    t.name, fmtInt(used[t.id] || 0), t.spent, t.unlimited ? "unlimited" : t.budget,
    t.unlimited ? "–" : bar((t.spent_micro || 0) / Math.max(1, t.budget_micro))])));

  fill("health", health.components.map((c) => row([c.component, c.id, state(c.state),
                                                   c.since, c.reason])));
  $("updated").textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
  document.body.dataset.loaded = "1";
}

async function loop() {
  try {
    await refresh();
    $("login").hidden = true;
    $("main").hidden = false;
  } catch (e) {
    if (e.message === "unauthorized") {
      $("login").hidden = false;
      $("main").hidden = true;
      $("login-error").textContent = token ? "the token was refused" : "";
    } else {
      $("updated").textContent = "error: " + e.message;
    }
  }
  clearTimeout(timer);
  timer = setTimeout(loop, 2000);
}

$("token-save").addEventListener("click", () => {
  token = $("token-input").value.trim();
  try { sessionStorage.setItem("tokfab-token", token); } catch (e) { /* ignore */ }
  clearTimeout(timer);
  loop();
});
readToken();
loop();
