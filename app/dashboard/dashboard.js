// The dashboard: reads /integrations/stats and /integrations/logs, renders with textContent only
// (error messages come from upstreams and must never be parsed as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
// With API_KEYS set, the data endpoints want a key. It lives in sessionStorage: this tab only,
// gone when it closes, never in a URL (which logs and browser history keep).
const KEY_STORE = "api-fanout.api-key";
const state = {
  key: sessionStorage.getItem(KEY_STORE) || "",
  provider: new URLSearchParams(location.search).get("provider") || "",
  // Empty until chosen: the address's window, else the smallest that holds the data.
  window: new URLSearchParams(location.search).get("window") || "",
  timer: null,
};

function cell(row, text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text instanceof Node) td.appendChild(text); else td.textContent = text;
  row.appendChild(td);
  return td;
}

function span(text, className) {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  return el;
}

const pct = (rate) => (rate === null ? "–" : `${(rate * 100).toFixed(1)}%`);
const ms = (value) => (value === null ? "–" : value.toFixed(1));
const count = (n) => n.toLocaleString("en-US");
// Success-rate colours, as documented in docs/dashboard.md: green from 99%, amber from 90%, red
// below. They apply to the rate as shown (one decimal), so "99.0%" is never amber.
const RATE_GOOD = 99;
const RATE_WARN = 90;
function rateClass(rate) {
  if (rate === null) return "";
  const shown = Number((rate * 100).toFixed(1)); // exactly what `pct` prints
  return shown >= RATE_GOOD ? "rate-good" : shown >= RATE_WARN ? "rate-warn" : "rate-bad";
}

function ago(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null) q.set(k, v);
  return q.toString();
}

class KeyNeeded extends Error {}

// The window picker's choices, smallest first, in seconds.
const WINDOWS = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800 };
const totalCalls = (stats) => stats.providers.reduce((n, r) => n + r.calls, 0);

async function getJson(path) {
  const headers = { accept: "application/json" };
  if (state.key) headers["X-API-Key"] = state.key;
  const response = await fetch(path, { headers });
  if (response.status === 401) {
    throw new KeyNeeded(state.key ? "The server refused this API key." : "This server needs an API key.");
  }
  if (!response.ok) throw new Error(`${path.split("?")[0]} answered HTTP ${response.status}`);
  return response.json();
}

function askForKey(message) {
  $("key-form").hidden = false;
  $("key-note").textContent = message;
  $("api-key").focus();
}

function useKey(key) {
  state.key = key;
  if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
  $("forget-key").hidden = !key;
}

function renderTotals(rows) {
  const calls = rows.reduce((n, r) => n + r.calls, 0);
  const ok = rows.reduce((n, r) => n + r.succeeded, 0);
  const p95s = rows.map((r) => r.p95_ms).filter((v) => v !== null);
  $("total-calls").textContent = count(calls);
  $("total-failures").textContent = count(calls - ok);
  $("total-rate").textContent = calls ? pct(ok / calls) : "–";
  $("total-rate").className = `value ${rateClass(calls ? ok / calls : null)}`;
  $("worst-p95").textContent = p95s.length ? `${ms(Math.max(...p95s))} ms` : "–";
}

function renderProviders(rows) {
  const body = $("providers").querySelector("tbody");
  body.textContent = "";
  const hasBreakers = rows.some((r) => r.breaker_state);
  document.querySelectorAll("#providers .breaker").forEach((el) => { el.hidden = !hasBreakers; });
  if (!rows.length) {
    const tr = body.insertRow();
    tr.className = "empty-row";
    cell(tr, "No provider calls in this window").colSpan = 9;
    return;
  }
  for (const r of rows) {
    const tr = body.insertRow();
    tr.dataset.provider = r.provider;
    if (r.provider === state.provider) tr.className = "selected";
    cell(tr, r.provider, "provider");
    cell(tr, count(r.calls), "num calls");
    cell(tr, pct(r.success_rate), `num success ${rateClass(r.success_rate)}`);
    cell(tr, pct(r.validation_error_rate), "num validation");
    cell(tr, ms(r.p50_ms), "num p50");
    cell(tr, ms(r.p95_ms), "num p95");
    cell(tr, ms(r.p99_ms), "num p99");
    const breaker = cell(tr, r.breaker_state ? span(r.breaker_state.replace("_", "-"), `state state-${r.breaker_state}`) : "", "breaker");
    breaker.hidden = !hasBreakers;
    const last = document.createElement("div");
    if (r.last_error) {
      // One line per provider keeps the table scannable; the full text is in the tooltip.
      last.className = "line";
      const msg = span(r.last_error.message || "", "message");
      msg.title = r.last_error.message || "";
      last.append(span(r.last_error.error_kind || "error", "kind"), msg, span(ago(r.last_error.at), "when"));
    } else {
      last.textContent = "–";
    }
    cell(tr, last, "last-error");
    tr.addEventListener("click", () => select(r.provider === state.provider ? "" : r.provider));
  }
}

function renderErrors(items) {
  const body = $("errors").querySelector("tbody");
  body.textContent = "";
  if (!items.length) {
    const tr = body.insertRow();
    tr.className = "empty-row";
    cell(tr, "No failures in this window").colSpan = 6;
    return;
  }
  for (const e of items) {
    const tr = body.insertRow();
    cell(tr, e.created_at.replace("T", " ").slice(0, 19), "when");
    cell(tr, e.provider);
    cell(tr, span(e.error_kind || "error", "kind"));
    cell(tr, e.status_code === null ? "–" : String(e.status_code), "num");
    cell(tr, e.error_message || "", "message");
    const link = document.createElement("a");
    link.href = `/integrations/requests/${encodeURIComponent(e.request_id || "")}`;
    link.textContent = (e.request_id || "").slice(0, 12);
    link.className = "mono";
    // A plain link cannot carry the key: with one, fetch the request and show it here.
    link.addEventListener("click", (ev) => {
      if (!state.key) return;
      ev.preventDefault();
      showRequest(link.href);
    });
    const ids = cell(tr, e.request_id ? link : "–");
    const trace = traceLink(e.trace_id);
    if (trace) {
      ids.append(" ");
      ids.appendChild(trace);
    }
  }
}

// TRACE_URL_TEMPLATE (e.g. a Jaeger or Tempo address) with the row's trace id in it.
function traceLink(traceId) {
  const template = document.body.dataset.traceUrl || "";
  if (!template || !/^[0-9a-f]{32}$/.test(traceId || "")) return null;
  const link = document.createElement("a");
  link.href = template.replaceAll("{trace_id}", traceId);
  link.textContent = "trace";
  link.className = "trace";
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  return link;
}

async function showRequest(href) {
  const dialog = $("request");
  $("request-body").textContent = "Loading…";
  if (!dialog.open) dialog.showModal();
  try {
    $("request-body").textContent = JSON.stringify(await getJson(href), null, 2);
  } catch (err) {
    $("request-body").textContent = `Could not load: ${err.message}`;
  }
}

function fillProviderPicker(names) {
  const picker = $("provider");
  const known = new Set([...picker.options].map((o) => o.value));
  for (const name of names) {
    if (known.has(name)) continue;
    picker.add(new Option(name, name));
  }
  picker.value = state.provider;
}

// The smallest window that holds every call of the last 7 days (7 days when none does), so a
// young service's bars fill the chart instead of a sliver at its right edge. The windows share
// one end; one whose start falls after the oldest non-empty 7-day bucket is skipped unasked.
async function smallestWindowWithTheData() {
  const names = Object.keys(WINDOWS);
  const widest = await getJson(`/integrations/stats?${query({ window: "7d", provider: state.provider })}`);
  const total = totalCalls(widest);
  const oldest = widest.series.find((p) => p.calls > 0);
  if (!oldest) return names[0];
  const until = widest.until;
  const oldestBucketEnd = Date.parse(oldest.start) + widest.bucket_s * 1000;
  for (const window of names.slice(0, -1)) {
    if (Date.parse(until) - WINDOWS[window] * 1000 >= oldestBucketEnd) continue;
    const stats = await getJson(`/integrations/stats?${query({ window, until, provider: state.provider })}`);
    if (totalCalls(stats) >= total) return window;
  }
  return names[names.length - 1];
}

async function refresh() {
  try {
    if (!state.window) {
      state.window = await smallestWindowWithTheData();
      $("window").value = state.window;
    }
    const window = state.window;
    const stats = await getJson(`/integrations/stats?${query({ window, provider: state.provider })}`);
    const since = stats.since;
    const errors = await getJson(`/integrations/logs?${query({ success: "false", limit: 15, since, provider: state.provider })}`);
    fillProviderPicker(stats.providers.map((p) => p.provider));
    renderTotals(stats.providers);
    renderProviders(stats.providers);
    drawChart($("chart"), stats.series, stats.bucket_s);
    $("bucket").textContent = `(${stats.bucket_s >= 60 ? `${stats.bucket_s / 60} min` : `${stats.bucket_s} s`} buckets, UTC)`;
    renderErrors(errors.items);
    $("failure").hidden = true;
    $("key-form").hidden = true;
    $("updated").textContent = `Updated ${new Date().toISOString().slice(11, 19)} UTC`;
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (err) {
    if (err instanceof KeyNeeded) {
      askForKey(err.message);
      return;
    }
    $("failure").hidden = false;
    $("failure").textContent = `Could not load: ${err.message}`;
  }
}

function select(provider) {
  state.provider = provider;
  $("provider").value = provider;
  history.replaceState(null, "", `?${query({ provider: state.provider, window: state.window })}`);
  refresh();
}

function schedule() {
  clearInterval(state.timer);
  if ($("auto").checked) state.timer = setInterval(refresh, Number(document.body.dataset.refreshS) * 1000);
}

if (state.window) $("window").value = state.window;
$("provider").addEventListener("change", (e) => select(e.target.value));
$("window").addEventListener("change", (e) => { state.window = e.target.value; select(state.provider); });
$("auto").addEventListener("change", schedule);
$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  useKey($("api-key").value.trim());
  $("api-key").value = "";
  refresh();
});
$("forget-key").addEventListener("click", () => { useKey(""); refresh(); });
useKey(state.key);
window.addEventListener("resize", () => refresh());
fillProviderPicker(state.provider ? [state.provider] : []);
schedule();
refresh();
