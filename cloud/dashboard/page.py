"""The dashboard page: static HTML, a little CSS and a hand-written script (no libraries, no CDN).

The script polls /api/dashboard every `refresh_s` seconds with the filters in the address bar,
fills the tables with text nodes (never markup from data) and places the server-drawn SVG charts.
"""

from __future__ import annotations

from typing import Final

_PAGE: Final = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>floorline fleet</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 0; color: #222; background: #f6f7f9; }
header { background: #1d2b3a; color: #fff; padding: 8px 16px; display: flex; gap: 16px;
         align-items: center; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0 16px 0 0; }
header label { font-size: 13px; }
main { padding: 12px 16px; display: grid; gap: 12px;
       grid-template-columns: repeat(auto-fit, minmax(620px, 1fr)); }
section { background: #fff; border: 1px solid #dde; border-radius: 6px; padding: 8px 12px; }
section h2 { font-size: 15px; margin: 4px 0 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.tiles { display: flex; flex-wrap: wrap; gap: 8px; }
.tile { border: 1px solid #dde; border-radius: 4px; padding: 6px 10px; min-width: 110px; }
.tile b { display: block; font-size: 18px; }
.bad { color: #b00020; font-weight: 600; } .ok { color: #137333; }
#status { font-size: 12px; opacity: .85; } #error { color: #ffb4b4; font-weight: 600; }
svg.chart { width: 100%; height: auto; }
.empty-note { color: #888; font-style: italic; }
</style></head>
<body data-refresh-s="__REFRESH_S__" data-renders="0">
<header><h1>floorline fleet</h1>
<label>Site <select id="site"><option value="">all sites</option></select></label>
<label>Device <select id="device"><option value="">all devices</option></select></label>
<label>Range <select id="range"></select></label>
<span id="status">loading…</span><span id="error"></span></header>
<main>
<section id="fleet"><h2>Fleet</h2><div class="tiles" id="fleet-tiles"></div></section>
<section><h2>Offline devices</h2><table id="offline-list"><thead><tr><th>device</th><th>site</th>
<th>last seen (UTC)</th><th>silent for</th></tr></thead><tbody></tbody></table></section>
<section><h2>Device health and battery</h2><table id="health"><thead><tr><th>device</th>
<th>status</th><th>records</th><th>sensors ok</th><th>faulty</th><th>bus V (last / min)</th>
<th>battery %</th><th>alerts</th></tr></thead><tbody></tbody></table></section>
<section><h2>Anomaly flags (open alerts)</h2><table id="anomalies"><thead><tr><th>device</th>
<th>severity</th><th>detector</th><th>condition</th><th>value</th><th>since (UTC)</th></tr>
</thead><tbody></tbody></table></section>
<section><h2>Anomaly history (raised and cleared in the range)</h2><table id="anomaly-history">
<thead><tr><th>device</th><th>severity</th><th>detector</th><th>condition</th><th>value</th>
<th>raised (UTC)</th><th>cleared (UTC)</th><th>lasted</th></tr></thead><tbody></tbody></table>
</section>
<section class="chart-box"><div id="chart-temperature-box"></div>
<table id="drift"><thead><tr><th>device</th><th>first °C</th><th>last °C</th><th>change °C</th>
<th>°C per hour</th><th>vs fleet °C</th></tr></thead><tbody></tbody></table></section>
<section class="chart-box"><div id="chart-supply-box"></div></section>
<section class="chart-box"><div id="chart-alerts-box"></div></section>
<section class="chart-box"><div id="chart-rfid-box"></div>
<table id="rfid"><thead><tr><th>reader</th><th>events</th><th>arrivals</th><th>tags</th>
<th>last (UTC)</th></tr></thead><tbody></tbody></table></section>
</main>
<script>
"use strict";
const REFRESH_MS = Number(document.body.dataset.refreshS) * 1000;
const byId = (id) => document.getElementById(id);
let inFlight = false, latest = 0;

function params() {
  const p = new URLSearchParams(location.search);
  return {site: p.get("site") || "", device: p.get("device") || "", range: p.get("range") || ""};
}
function setParams(f) {
  const p = new URLSearchParams();
  for (const k of ["site", "device", "range"]) if (f[k]) p.set(k, f[k]);
  history.replaceState(null, "", p.toString() ? "?" + p : location.pathname);
}
function time(ms) { return ms == null ? "–" : new Date(ms).toISOString().slice(11, 19); }
function duration(s) {
  if (s == null) return "–";
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}
function num(v, d) {
  if (v == null) return "–";
  const text = Number(v).toFixed(d);
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text;  // no "-0.00"
}
function duration(s) {
  if (s < 120) return Math.round(s) + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}
function fillOptions(select, values, current, allLabel) {
  const wanted = ["", ...values];
  if (current && !values.includes(current)) wanted.push(current);
  const have = Array.from(select.options).map((o) => o.value);
  if (have.join("\n") !== wanted.join("\n")) {
    select.replaceChildren(...wanted.map((v) => new Option(v || allLabel, v)));
  }
  select.value = current;
}
function fillTable(id, rows, cells) {
  const body = byId(id).tBodies[0];
  body.replaceChildren(...rows.map((row) => {
    const tr = document.createElement("tr");
    for (const [text, cls] of cells(row)) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    return tr;
  }));
  if (!rows.length) {
    const tr = body.insertRow(), td = tr.insertCell();
    td.colSpan = byId(id).tHead.rows[0].cells.length;
    td.className = "empty-note";
    td.textContent = "none";
    tr.className = "empty";
  }
  return body;
}

function render(doc) {
  const f = doc.filters;
  fillOptions(byId("site"), doc.sites, f.site || "", "all sites");
  fillOptions(byId("device"), doc.devices.map((d) => d.device), f.device || "", "all devices");
  fillOptions(byId("range"), doc.ranges.filter((r) => r), f.range, "");
  const fl = doc.fleet;
  const tiles = [
    ["devices", fl.devices_known], ["offline", fl.devices_offline],
    ["records in range", fl.records ?? 0], ["mean °C", num(fl.temperature_c, 2)],
    ["mean RH %", num(fl.humidity_pct, 1)], ["mean bus V", num(fl.bus_voltage_v, 2)],
    ["mean power W", num(fl.power_w, 2)], ["alerts / h", num(fl.alerts_per_hour, 1)],
  ];
  byId("fleet-tiles").replaceChildren(...tiles.map(([label, value]) => {
    const div = document.createElement("div"), b = document.createElement("b");
    div.className = "tile"; div.dataset.tile = label;
    b.textContent = value; div.append(b, label);
    return div;
  }));
  const offBody = fillTable("offline-list", doc.offline, (d) => [
    [d.device], [d.site], [new Date(d.last_seen_ms).toISOString().replace("T", " ").slice(0, 19)],
    [duration(d.age_s), "bad"]]);
  Array.from(offBody.rows).forEach((tr, i) => {
    if (!doc.offline[i]) return;
    tr.className = "offline-device";
    tr.dataset.device = doc.offline[i].device;
  });
  fillTable("health", doc.health, (h) => [
    [h.device], [h.offline ? "offline" : "online", h.offline ? "bad" : "ok"],
    [h.records ?? 0, "num"], [h.sensors_ok, "num"],
    [h.sensors_faulty.map((s) => s.stream + " " + s.state).join(", ") || "–",
     h.sensors_faulty.length ? "bad" : ""],
    [num(h.last_bus_voltage_v, 2) + " / " + num(h.min_bus_voltage_v, 2), "num"],
    [h.battery_pct == null ? "–" : (h.battery_estimated ? "≈ " : "") + num(h.battery_pct, 0),
     "num" + (h.battery_pct != null && h.battery_pct < 20 ? " bad" : "")],
    [h.alerts ?? 0, "num"]]);
  fillTable("anomaly-history", doc.anomaly_history, (a) => [
    [a.device], [a.severity ?? "–", a.severity === "critical" ? "bad" : ""],
    [a.detector ?? a.stream], [a.condition ?? "–"], [a.value ?? "–"], [time(a.raised_ms)],
    [a.cleared_ms == null ? "open" : time(a.cleared_ms), a.cleared_ms == null ? "bad" : ""],
    [duration(a.duration_s), "num"]]);
  fillTable("anomalies", doc.anomalies, (a) => [
    [a.device], [a.severity ?? "–", a.severity === "critical" ? "bad" : ""],
    [a.detector ?? a.stream], [a.condition ?? "–"], [a.value ?? "–"], [time(a.at_ms)]]);
  fillTable("drift", doc.drift, (d) => [
    [d.device], [num(d.first_c, 2), "num"], [num(d.last_c, 2), "num"],
    [num(d.delta_c, 2), "num"], [num(d.per_hour_c, 2), "num"],
    [num(d.offset_from_fleet_c, 2), "num"]]);
  fillTable("rfid", doc.rfid, (r) => [
    [r.device + " " + r.stream], [r.events, "num"], [r.arrivals, "num"],
    [r.distinct_tags, "num"], [time(r.last_ms)]]);
  for (const [name, chart] of Object.entries(doc.charts)) {
    byId("chart-" + name + "-box").innerHTML = chart.svg;  // drawn and escaped by the server
  }
  const r = doc.range;
  byId("status").textContent = "updated " + time(doc.generated_ms) + " UTC · " +
    (r ? time(r.start_ms) + "–" + time(r.end_ms) + " · " : "") +
    "refresh every " + REFRESH_MS / 1000 + " s";
  byId("error").textContent = "";
  document.body.dataset.generatedMs = doc.generated_ms;
  document.body.dataset.renders = Number(document.body.dataset.renders) + 1;
}

async function refresh(force) {
  if (inFlight && !force) return;  // a slow poll is not stacked; a filter change goes at once
  inFlight = true;
  const mine = ++latest;
  try {
    const f = params();
    const q = new URLSearchParams();
    for (const k of ["site", "device", "range"]) if (f[k]) q.set(k, f[k]);
    const response = await fetch("/api/dashboard?" + q, {cache: "no-store"});
    const doc = await response.json();
    if (mine !== latest) return;  // a newer request (other filters) is under way
    if (!response.ok) throw new Error(doc.error || response.statusText);
    render(doc);
  } catch (err) {
    if (mine === latest) byId("error").textContent = " " + err.message;
  } finally {
    if (mine === latest) inFlight = false;
  }
}
for (const id of ["site", "device", "range"]) {
  byId(id).addEventListener("change", () => {
    const f = params();
    f[id] = byId(id).value;
    if (id === "site") f.device = "";
    setParams(f);
    refresh(true);
  });
}
refresh();
setInterval(refresh, REFRESH_MS);
</script></body></html>
"""


def render_page(refresh_s: float) -> str:
    return _PAGE.replace("__REFRESH_S__", f"{refresh_s:g}")
