"use strict";
// cnnmath explore: draws the embedded record (see cnnmath.explore.explore_data); no network.
(function () {
  const errorsBox = document.getElementById("errors");
  function report(message) {
    errorsBox.hidden = false;
    errorsBox.textContent += message + "\n";
  }
  window.addEventListener("error", (e) => report(String(e.message)));

  const DATA = JSON.parse(document.getElementById("explore-data").textContent);
  const nodes = DATA.nodes;
  const MAX_CHANNELS = 64;
  let current = 0; // the chosen input

  // ------------------------------------------------------------------ numbers of the record
  function dims(node) {
    const s = node.shape;
    return s.length === 3 ? { C: s[0], H: s[1], W: s[2], flat: false } : { C: s[0], H: 1, W: 1, flat: true };
  }
  function valueAt(k, c, i, j) {
    const d = dims(nodes[k]);
    if (d.flat) return nodes[k].values[current][c];
    if (i < 0 || i >= d.H || j < 0 || j >= d.W) return null; // in the padding
    return nodes[k].values[current][(c * d.H + i) * d.W + j];
  }
  function fmt(v) {
    if (v === null) return "pad";
    if (v === 0) return "0";
    const a = Math.abs(v);
    return a >= 1e4 || a < 1e-3 ? v.toExponential(3) : v.toFixed(4);
  }
  // Output cell (i, j) of node k reads input rows start + i·jump ± (size − 1)/2 (the
  // receptive field's recurrences; cnnmath.receptive.Field.interval), and likewise for columns.
  function fieldBox(k, i, j) {
    const f = nodes[k].field;
    const box = [];
    [i, j].forEach((index, axis) => {
      const centre = f.start[axis] + index * f.jump[axis];
      const half = (f.size[axis] - 1) / 2;
      box.push([Math.trunc(centre - half), Math.trunc(centre + half)]);
    });
    return { top: box[0][0], bottom: box[0][1], left: box[1][0], right: box[1][1] };
  }

  // ------------------------------------------------------------------ drawing
  function cellPx(H, W) {
    return Math.max(2, Math.min(24, Math.floor(72 / Math.max(H, W))));
  }
  function colour(v, scale) {
    const t = Math.max(-1, Math.min(1, scale > 0 ? v / scale : 0));
    const fade = Math.round(255 * (1 - Math.abs(t)));
    return t >= 0 ? `rgb(255,${fade},${fade})` : `rgb(${fade},${fade},255)`;
  }
  function scaleOf(k) {
    let m = 0;
    for (const v of nodes[k].values[current]) m = Math.max(m, Math.abs(v));
    return m;
  }
  function drawMap(canvas, k, c, scale) {
    const d = dims(nodes[k]);
    const ctx = canvas.getContext("2d");
    if (d.flat) {
      const cols = Math.min(d.C, 32), px = 8;
      for (let u = 0; u < d.C; u++) {
        ctx.fillStyle = colour(nodes[k].values[current][u], scale);
        ctx.fillRect((u % cols) * px, Math.floor(u / cols) * px, px, px);
      }
      return;
    }
    const px = cellPx(d.H, d.W);
    for (let i = 0; i < d.H; i++) {
      for (let j = 0; j < d.W; j++) {
        ctx.fillStyle = colour(valueAt(k, c, i, j), scale);
        ctx.fillRect(j * px, i * px, px, px);
      }
    }
  }
  const inputCanvas = document.getElementById("input-canvas");
  const overlay = document.getElementById("input-overlay");
  const inputPanel = document.getElementById("input-panel");
  const IN = dims(nodes[0]);
  const INPUT_PX = Math.max(4, Math.floor(300 / Math.max(IN.H, IN.W)));
  function drawInput() {
    inputCanvas.width = overlay.width = IN.W * INPUT_PX;
    inputCanvas.height = overlay.height = IN.H * INPUT_PX;
    const ctx = inputCanvas.getContext("2d");
    const vals = nodes[0].values[current];
    let lo = Infinity, hi = -Infinity;
    for (const v of vals) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < IN.H; i++) {
      for (let j = 0; j < IN.W; j++) {
        const g = (c) => Math.round((255 * (valueAt(0, c, i, j) - lo)) / span);
        ctx.fillStyle = IN.C === 3 ? `rgb(${g(0)},${g(1)},${g(2)})` : `rgb(${g(0)},${g(0)},${g(0)})`;
        ctx.fillRect(j * INPUT_PX, i * INPUT_PX, INPUT_PX, INPUT_PX);
      }
    }
    document.getElementById("input-label").textContent = DATA.labels[current];
  }
  function highlight(box) {
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    if (!box) return;
    const top = Math.max(0, box.top), left = Math.max(0, box.left);
    const bottom = Math.min(IN.H - 1, box.bottom), right = Math.min(IN.W - 1, box.right);
    ctx.fillStyle = "rgba(66,133,244,0.35)";
    ctx.strokeStyle = "rgb(244,160,0)";
    ctx.lineWidth = 2;
    const x = left * INPUT_PX, y = top * INPUT_PX;
    const w = (right - left + 1) * INPUT_PX, h = (bottom - top + 1) * INPUT_PX;
    ctx.fillRect(x, y, w, h);
    ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
  }

  // ------------------------------------------------------------------ panels
  const panels = document.getElementById("panels");
  const canvases = {}; // "k,c" -> canvas
  function cellOf(canvas, k, e) {
    const rect = canvas.getBoundingClientRect();
    const x = e.clientX - rect.left - canvas.clientLeft, y = e.clientY - rect.top - canvas.clientTop;
    const d = dims(nodes[k]);
    if (d.flat) {
      const cols = Math.min(d.C, 32);
      const u = Math.floor(y / 8) * cols + Math.floor(x / 8);
      return u >= 0 && u < d.C ? [u, 0, 0] : null;
    }
    const px = cellPx(d.H, d.W);
    const i = Math.floor(y / px), j = Math.floor(x / px);
    return i >= 0 && i < d.H && j >= 0 && j < d.W ? [Number(canvas.dataset.c), i, j] : null;
  }
  function buildPanels() {
    for (let k = 1; k < nodes.length; k++) {
      const node = nodes[k];
      const d = dims(node);
      const panel = document.createElement("div");
      panel.className = "panel layer";
      panel.dataset.node = String(k);
      const h = document.createElement("h2");
      const shown = d.flat ? "" : d.C > MAX_CHANNELS ? ` (first ${MAX_CHANNELS} channels shown)` : "";
      const f = node.field;
      h.textContent = `node ${node.name} · ${node.layer} · ${node.shape.join("×")}${shown}`;
      const note = document.createElement("span");
      note.className = "small";
      note.textContent = f.whole
        ? " · every unit reads the whole input"
        : ` · field ${f.size.join("×")}, jump ${f.jump.join("×")}`;
      h.appendChild(note);
      panel.appendChild(h);
      const maps = document.createElement("div");
      maps.className = "maps";
      const count = d.flat ? 1 : Math.min(d.C, MAX_CHANNELS);
      for (let c = 0; c < count; c++) {
        const canvas = document.createElement("canvas");
        if (d.flat) {
          const cols = Math.min(d.C, 32);
          canvas.width = cols * 8;
          canvas.height = Math.ceil(d.C / cols) * 8;
        } else {
          const px = cellPx(d.H, d.W);
          canvas.width = d.W * px;
          canvas.height = d.H * px;
        }
        canvas.dataset.c = String(c);
        canvas.title = d.flat ? `${node.shape[0]} values` : `channel ${c}`;
        canvas.addEventListener("mousemove", (e) => {
          const cell = cellOf(canvas, k, e);
          if (cell) hover(k, ...cell);
        });
        canvas.addEventListener("click", (e) => {
          const cell = cellOf(canvas, k, e);
          if (cell) select(k, ...cell, canvas);
        });
        canvases[`${k},${c}`] = canvas;
        maps.appendChild(canvas);
      }
      panel.appendChild(maps);
      panels.appendChild(panel);
    }
  }
  function redraw() {
    drawInput();
    for (let k = 1; k < nodes.length; k++) {
      const scale = scaleOf(k);
      const d = dims(nodes[k]);
      const count = d.flat ? 1 : Math.min(d.C, MAX_CHANNELS);
      for (let c = 0; c < count; c++) drawMap(canvases[`${k},${c}`], k, c, scale);
    }
  }

  // ------------------------------------------------------------------ hover and click
  const hoverInfo = document.getElementById("hover-info");
  const detail = document.getElementById("detail");
  function unitName(k, c, i, j) {
    const node = nodes[k];
    return dims(node).flat
      ? `node ${node.name} (${node.layer}), unit ${c}`
      : `node ${node.name} (${node.layer}), channel ${c}, unit (${i}, ${j})`;
  }
  function hover(k, c, i, j) {
    const box = fieldBox(k, i, j);
    highlight(box);
    inputPanel.dataset.hover = `${k},${c},${i},${j}`;
    inputPanel.dataset.field = `${box.top},${box.left},${box.bottom},${box.right}`;
    const at = inputCanvas.getBoundingClientRect(); // where the highlight is drawn (for tests)
    inputPanel.dataset.canvas = `${at.left},${at.top},${INPUT_PX}`;
    const f = nodes[k].field;
    hoverInfo.innerHTML = "";
    const line = document.createElement("div");
    line.innerHTML = `<b>${unitName(k, c, i, j)}</b>: value <b>${fmt(valueAt(k, c, i, j))}</b>`;
    const where = document.createElement("div");
    where.textContent = f.whole
      ? "reads the whole input (after a global layer)"
      : `receptive field: rows ${box.top}..${box.bottom}, columns ${box.left}..${box.right}` +
        ` (${f.size.join("×")}; outside 0..${IN.H - 1} is padding)`;
    hoverInfo.append(line, where);
  }
  function table(rows) {
    return "<table>" + rows.map((r) => "<tr>" + r.map((v) => `<td>${v}</td>`).join("") + "</tr>").join("") + "</table>";
  }
  function explainConv(k, o, i, j) {
    const op = nodes[k].op, src = nodes[k].reads[0];
    const [O, Cg, kh, kw] = op.weight_shape;
    const g = Math.floor(o / (O / op.groups));
    const w = (cg, a, b) => op.weight[((o * Cg + cg) * kh + a) * kw + b];
    const partial = [];
    let html = "";
    for (let cg = 0; cg < Cg; cg++) {
      const c = g * Cg + cg;
      let sum = 0;
      const kernel = [], patch = [];
      for (let a = 0; a < kh; a++) {
        const kr = [], pr = [];
        for (let b = 0; b < kw; b++) {
          const x = valueAt(src, c, op.stride[0] * i + op.dilation[0] * a - op.pad[0],
                                    op.stride[1] * j + op.dilation[1] * b - op.pad[1]);
          sum += w(cg, a, b) * (x === null ? 0 : x);
          kr.push(fmt(w(cg, a, b)));
          pr.push(fmt(x));
        }
        kernel.push(kr);
        patch.push(pr);
      }
      partial.push(sum);
      if (cg < 3) {
        html += `<div>input channel ${c}: kernel w[${o},${cg}] · patch = ${fmt(sum)}</div>` +
          `<div style="display:flex;gap:6px">${table(kernel)}${table(patch)}</div>`;
      }
    }
    const bias = op.bias ? op.bias[o] : 0;
    const total = partial.reduce((s, v) => s + v, 0) + bias;
    if (Cg > 3) html += `<div class="small">… ${Cg - 3} more input channels</div>`;
    html += `<div>Σ over ${Cg} channel(s) of ${kh}×${kw} taps: ` +
      partial.slice(0, 8).map(fmt).join(" + ") + (Cg > 8 ? " + …" : "") +
      ` + bias ${fmt(bias)} = <b>${fmt(total)}</b></div>`;
    return { html, total };
  }
  function explainLinear(k, o) {
    const op = nodes[k].op, src = nodes[k].reads[0];
    const [, F] = op.weight_shape;
    const terms = [];
    for (let f = 0; f < F; f++) terms.push([f, op.weight[o * F + f] * nodes[src].values[current][f]]);
    const bias = op.bias ? op.bias[o] : 0;
    const total = terms.reduce((s, t) => s + t[1], 0) + bias;
    terms.sort((p, q) => Math.abs(q[1]) - Math.abs(p[1]));
    const html = `<div>Σ_f W[${o}, f] · x[f] over ${F} inputs + bias ${fmt(bias)} = <b>${fmt(total)}</b></div>` +
      `<div class="small">largest terms: ${terms.slice(0, 5).map((t) => `x[${t[0]}]: ${fmt(t[1])}`).join(", ")}</div>`;
    return { html, total };
  }
  function explainPool(k, c, i, j) {
    const op = nodes[k].op, src = nodes[k].reads[0];
    const rows = [];
    let best = -Infinity, sum = 0;
    for (let a = 0; a < op.kernel[0]; a++) {
      const r = [];
      for (let b = 0; b < op.kernel[1]; b++) {
        const x = valueAt(src, c, op.stride[0] * i + op.dilation[0] * a - op.pad[0],
                                  op.stride[1] * j + op.dilation[1] * b - op.pad[1]);
        if (x !== null) { best = Math.max(best, x); sum += x; }
        r.push(fmt(x));
      }
      rows.push(r);
    }
    const total = op.kind === "maxpool" ? best : sum / (op.kernel[0] * op.kernel[1]);
    const what = op.kind === "maxpool" ? "max of the window" : "mean of the window (padding counts as 0)";
    return { html: `<div>${what}:</div>${table(rows)}<div>= <b>${fmt(total)}</b></div>`, total };
  }
  function select(k, c, i, j, canvas) {
    document.querySelectorAll("canvas.selected").forEach((el) => el.classList.remove("selected"));
    if (canvas) canvas.classList.add("selected");
    const node = nodes[k], v = valueAt(k, c, i, j);
    let shown = null;
    const omitted = node.op.weight === null;
    if (omitted) shown = null;
    else if (node.op.kind === "conv") shown = explainConv(k, c, i, j);
    else if (node.op.kind === "linear") shown = explainLinear(k, c);
    else if (node.op.kind === "maxpool" || node.op.kind === "avgpool") shown = explainPool(k, c, i, j);
    let html = `<div><b>${unitName(k, c, i, j)}</b> = ${fmt(v)} (computed by cnnmath)</div>`;
    if (shown) {
      html += shown.html + `<div class="small">recomputed here from the embedded weights and inputs; ` +
        `difference from cnnmath's value: ${fmt(Math.abs(shown.total - v))}</div>`;
      detail.dataset.sum = String(shown.total);
    } else if (omitted) {
      html += `<div class="small">${node.layer} of weight shape ${node.op.weight_shape.join("×")}: ` +
        `its ${node.op.omitted} weights are not embedded (the page keeps its size down), so ` +
        `the weighted sum is not shown</div>`;
      delete detail.dataset.sum;
    } else if (node.op.kind === "pointwise" && node.reads.length === 1) {
      html += `<div>${node.layer} applied to ${fmt(valueAt(node.reads[0], c, i, j))} (the same unit of node ${nodes[node.reads[0]].name})</div>`;
      delete detail.dataset.sum;
    } else {
      delete detail.dataset.sum;
    }
    detail.dataset.unit = `${k},${c},${i},${j}`;
    detail.dataset.value = String(v);
    detail.innerHTML = html;
  }

  // ------------------------------------------------------------------ inputs
  const inputs = document.getElementById("inputs");
  DATA.labels.forEach((label, n) => {
    const button = document.createElement("button");
    button.textContent = label;
    button.addEventListener("click", () => {
      current = n;
      inputs.querySelectorAll("button").forEach((b, m) => b.classList.toggle("active", m === n));
      redraw();
    });
    if (n === 0) button.classList.add("active");
    inputs.appendChild(button);
  });

  buildPanels();
  redraw();

  // ------------------------------------------------------------------ scripted use (tests)
  // "#input=N&hover=k,c,i,j&click=k,c,i,j": choose an input, then send real mouse events to
  // the unit's cell, as a pointer would (the handlers above do the rest).
  function pointAt(type, spec) {
    const [k, c, i, j] = spec.split(",").map(Number);
    const d = dims(nodes[k]);
    const canvas = canvases[`${k},${d.flat ? 0 : c}`];
    const rect = canvas.getBoundingClientRect();
    let x, y;
    if (d.flat) {
      const cols = Math.min(d.C, 32);
      x = (c % cols) * 8 + 4;
      y = Math.floor(c / cols) * 8 + 4;
    } else {
      const px = cellPx(d.H, d.W);
      x = j * px + px / 2;
      y = i * px + px / 2;
    }
    canvas.dispatchEvent(new MouseEvent(type, {
      bubbles: true, clientX: rect.left + canvas.clientLeft + x, clientY: rect.top + canvas.clientTop + y,
    }));
  }
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has("input")) inputs.querySelectorAll("button")[Number(params.get("input"))].click();
  if (params.has("click")) pointAt("click", params.get("click"));
  if (params.has("hover")) pointAt("mousemove", params.get("hover"));
  document.body.dataset.ready = "1";
})();
