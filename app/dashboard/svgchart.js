// Stacked bars (successes, failures) per time bucket with the p95 latency as a line, in SVG.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (parent) parent.appendChild(el);
  return el;
}

// A round axis maximum and its tick step: 1, 2 or 5 times a power of ten.
function niceScale(max, ticks) {
  if (!(max > 0)) return { max: 1, step: 1 };
  const raw = max / ticks;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  return { max: Math.ceil(max / step) * step, step };
}

function formatTick(value) {
  return value >= 1000 ? `${+(value / 1000).toFixed(1)}k` : `${+value.toFixed(1)}`;
}

function timeLabel(date, spanS) {
  const iso = date.toISOString();
  return spanS > 86400 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}

function drawChart(container, series, bucketS) {
  container.textContent = "";
  const width = Math.max(container.clientWidth, 320);
  const height = container.clientHeight || 260;
  const m = { left: 48, right: 52, top: 12, bottom: 28 };
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, "data-buckets": series.length }, container);
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const calls = niceScale(Math.max(0, ...series.map((p) => p.calls)), 4);
  const p95s = series.map((p) => p.p95_ms).filter((v) => v !== null);
  const ms = niceScale(Math.max(0, ...p95s), 4);
  const yCalls = (v) => m.top + plotH - (v / calls.max) * plotH;
  const yMs = (v) => m.top + plotH - (v / ms.max) * plotH;
  const slot = plotW / Math.max(series.length, 1);
  const barW = Math.max(1, slot * 0.72);

  const axis = svgEl("g", { class: "axis" }, svg);
  for (let v = 0; v <= calls.max + 1e-9; v += calls.step) {
    svgEl("line", { class: "grid", x1: m.left, x2: m.left + plotW, y1: yCalls(v), y2: yCalls(v) }, axis);
    svgEl("text", { x: m.left - 6, y: yCalls(v) + 4, "text-anchor": "end", class: "tick-calls" }, axis)
      .textContent = formatTick(v);
  }
  if (p95s.length) {
    for (let v = 0; v <= ms.max + 1e-9; v += ms.step) {
      svgEl("text", { x: m.left + plotW + 6, y: yMs(v) + 4, class: "tick-ms" }, axis).textContent = formatTick(v);
    }
  }
  const every = Math.max(1, Math.ceil(series.length / 8));
  series.forEach((point, i) => {
    if (i % every) return;
    svgEl("text", { x: m.left + slot * (i + 0.5), y: height - 8, "text-anchor": "middle" }, axis)
      .textContent = timeLabel(new Date(point.start), bucketS * series.length);
  });

  const bars = svgEl("g", { class: "bars" }, svg);
  series.forEach((point, i) => {
    const g = svgEl("g", {
      class: "bucket", "data-start": point.start, "data-calls": point.calls,
      "data-failures": point.failures, "data-p95": point.p95_ms === null ? "" : point.p95_ms,
    }, bars);
    const p95 = point.p95_ms === null ? "no calls" : `p95 ${point.p95_ms.toFixed(1)} ms`;
    svgEl("title", {}, g).textContent =
      `${timeLabel(new Date(point.start), 0)} UTC: ${point.calls} calls, ${point.failures} failed, ${p95}`;
    const x = m.left + slot * i + (slot - barW) / 2;
    const okTop = yCalls(point.calls - point.failures);
    svgEl("rect", { class: "bar-ok", x, width: barW, y: okTop, height: m.top + plotH - okTop }, g);
    if (point.failures > 0) {
      const failTop = yCalls(point.calls);
      svgEl("rect", { class: "bar-fail", x, width: barW, y: failTop, height: okTop - failTop }, g);
    }
  });

  // The line breaks over buckets without calls instead of pretending they were fast.
  let path = "";
  let pen = false;
  series.forEach((point, i) => {
    if (point.p95_ms === null) { pen = false; return; }
    const x = m.left + slot * (i + 0.5);
    path += `${pen ? "L" : "M"}${x.toFixed(1)},${yMs(point.p95_ms).toFixed(1)}`;
    pen = true;
    if (series.length <= 90) svgEl("circle", { class: "p95-dot", cx: x, cy: yMs(point.p95_ms), r: 2.5 }, svg);
  });
  if (path) svgEl("path", { class: "p95", d: path }, svg);
  if (!series.some((p) => p.calls > 0)) {
    svgEl("text", { class: "empty", x: m.left + plotW / 2, y: m.top + plotH / 2, "text-anchor": "middle" }, svg)
      .textContent = "No calls in this window";
  }
}
