/* The run page of aigc_explain (reporting/browser.py writes the data: window.AIGC_PAGE).
   Sorting and filtering work on index arrays over column arrays: 50,000 rows sort in tens of milliseconds,
   and only one page of rows is ever in the document. No network: maps come from local scripts. */
(function () {
  "use strict";
  var D = window.AIGC_PAGE, A = "page/", PER_PAGE = 50;
  var COLS = [["i", "#"], ["image", "image"], ["overlay", "CAM overlay"], ["name", "file"], ["label", "label"],
    ["pred", "prediction"], ["prob", "p(fake)"], ["corner", "corner mass"], ["center", "centre mass"],
    ["border", "border mass"], ["share", "corner share"], ["empty", "blank map"]];
  var NAMES = {"-1": "unknown", "0": "real", "1": "fake"};
  var state = {run: 0, key: "i", dir: 1, page: 0, view: new Int32Array(0), cursor: -1};
  var cols = [], maps = {}, waiting = {};
  var $ = function (id) { return document.getElementById(id); };

  function floats(values) {
    var out = new Float64Array(values.length);
    for (var k = 0; k < values.length; k++) out[k] = values[k] === null ? NaN : values[k];
    return out;
  }
  function prepare() {  // per run: numeric columns and the rank of each file name
    cols = D.tables.map(function (t) {
      var c = {n: t.img.length, img: t.img};
      ["label", "pred", "prob", "corner", "center", "border", "share", "empty"].forEach(function (k) { c[k] = floats(t[k]); });
      var order = Array.from(t.img.keys()).sort(function (a, b) {
        var x = D.images.name[t.img[a]], y = D.images.name[t.img[b]]; return x < y ? -1 : x > y ? 1 : a - b; });
      c.name = new Float64Array(c.n); order.forEach(function (k, r) { c.name[k] = r; });
      c.i = floats(Array.from(t.img.keys()));
      return c;
    });
  }
  function fmt(v) { return isNaN(v) ? "–" : v.toFixed(3); }
  function esc(s) { return String(s).replace(/[&<>"']/g, function (m) { return "&#" + m.charCodeAt(0) + ";"; }); }
  function num(id) { var v = $(id).value; return v === "" ? null : Number(v); }

  function compute() {
    var c = cols[state.run], f = {label: $("f-label").value, pred: $("f-pred").value, correct: $("f-correct").value,
      empty: $("f-empty").value, lo: num("f-min"), hi: num("f-max")};
    var keep = [];
    for (var k = 0; k < c.n; k++) {
      if (f.label !== "" && c.label[k] !== Number(f.label)) continue;
      if (f.pred !== "" && c.pred[k] !== Number(f.pred)) continue;
      if (f.correct !== "" && (c.label[k] < 0 || (c.label[k] === c.pred[k]) !== (f.correct === "1"))) continue;
      if (f.empty !== "" && c.empty[k] !== Number(f.empty)) continue;
      if (f.lo !== null && !(c.share[k] >= f.lo)) continue;  // a blank map has no corner share: out of any range
      if (f.hi !== null && !(c.share[k] <= f.hi)) continue;
      keep.push(k);
    }
    var key = c[state.key], dir = state.dir, view = Int32Array.from(keep);
    view.sort(function (a, b) {  // missing values (blank maps) last either way; ties keep the run's order
      var x = key[a], y = key[b], nx = isNaN(x), ny = isNaN(y);
      if (nx || ny) return nx === ny ? a - b : nx ? 1 : -1;
      return x === y ? a - b : (x < y ? -dir : dir);
    });
    state.view = view;
    state.page = Math.min(state.page, Math.max(0, Math.ceil(view.length / PER_PAGE) - 1));
    render();
  }

  function head() {
    $("head").innerHTML = COLS.map(function (col) {
      var sortable = col[0] !== "image" && col[0] !== "overlay";
      var sort = state.key === col[0] ? (state.dir > 0 ? "ascending" : "descending") : "none";
      return "<th scope=\"col\" data-key=\"" + col[0] + "\"" + (sortable ? " aria-sort=\"" + sort + "\"" : "") + ">" +
        (sortable ? "<button type=\"button\" data-key=\"" + col[0] + "\">" + col[1] + "</button>" : col[1]) + "</th>";
    }).join("");
  }
  function thumb(src, alt) {
    return src ? "<img src=\"" + src + "\" loading=\"lazy\" alt=\"" + esc(alt) + "\">" : "<span class=\"none\">not shown</span>";
  }
  function render() {
    var c = cols[state.run], v = state.view, start = state.page * PER_PAGE, html = [];
    for (var p = start; p < Math.min(v.length, start + PER_PAGE); p++) {
      var k = v[p], i = c.img[k], name = D.images.name[i];
      html.push("<tr tabindex=\"0\" data-k=\"" + k + "\" data-pos=\"" + p + "\"><td>" + (k + 1) + "</td><td>" +
        thumb(D.images.thumb[i] ? A + "img/" + i + ".jpg" : null, name) + "</td><td>" +
        thumb(D.runs[state.run].maps ? A + "cam" + state.run + "/" + k + ".jpg" : null, "CAM overlay of " + name) + "</td><td class=\"name\">" +
        esc(name) + "</td><td>" + NAMES[c.label[k]] + "</td><td>" + NAMES[c.pred[k]] + "</td><td>" + fmt(c.prob[k]) +
        "</td><td>" + fmt(c.corner[k]) + "</td><td>" + fmt(c.center[k]) + "</td><td>" + fmt(c.border[k]) +
        "</td><td>" + fmt(c.share[k]) + "</td><td>" + (c.empty[k] ? "blank" : "") + "</td></tr>");
    }
    $("rows").innerHTML = html.join("");
    var pages = Math.max(1, Math.ceil(v.length / PER_PAGE));
    $("count").textContent = v.length.toLocaleString("en") + " of " + c.n.toLocaleString("en") + " images";
    $("count").dataset.shown = v.length;
    $("pageinfo").textContent = "page " + (state.page + 1) + " of " + pages;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    head();
  }
  function turn(by) {
    var pages = Math.max(1, Math.ceil(state.view.length / PER_PAGE));
    var page = Math.min(pages - 1, Math.max(0, state.page + by));
    if (page !== state.page) { state.page = page; render(); }
  }

  /* ---- the detail view: the image, the raw map of each run holding it, one colour scale ---- */
  function loadMaps(r, chunk) {
    var id = r + "_" + chunk;
    if (maps[id]) return Promise.resolve(maps[id]);
    if (!waiting[id]) {
      waiting[id] = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = A + "maps/" + id + ".js";
        s.onload = function () { resolve(maps[id]); };
        s.onerror = function () { reject(new Error("map file " + s.src + " is missing")); };
        document.head.appendChild(s);
      });
    }
    return waiting[id];
  }
  window.AIGC_MAPS = function (r, chunk, b64) {
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
    maps[r + "_" + chunk] = new Float32Array(bytes.buffer);
  };
  function colour(t) {  // t in [0, 1] -> the diverging colour map's rgb
    var k = Math.max(0, Math.min(255, Math.round(t * 255))) * 6;
    return [parseInt(D.lut.substr(k, 2), 16), parseInt(D.lut.substr(k + 2, 2), 16), parseInt(D.lut.substr(k + 4, 2), 16)];
  }
  function drawMap(canvas, values, run, vmax) {
    var h = run.mapSize[0], w = run.mapSize[1], small = document.createElement("canvas");
    small.width = w; small.height = h;
    var sctx = small.getContext("2d"), img = sctx.createImageData(w, h);
    for (var p = 0; p < h * w; p++) {
      var rgb = colour((values[p] / vmax + 1) / 2);
      img.data[4 * p] = rgb[0]; img.data[4 * p + 1] = rgb[1]; img.data[4 * p + 2] = rgb[2]; img.data[4 * p + 3] = 255;
    }
    sctx.putImageData(img, 0, 0);
    var ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height, g = run.regions;
    ctx.imageSmoothingEnabled = false;  // the map at its own resolution: one block per map cell
    ctx.drawImage(small, 0, 0, W, H);
    ctx.lineWidth = 2; ctx.strokeStyle = "#111";
    var ch = g.corner[0] * H, cw = g.corner[1] * W;
    [[0, 0], [W - cw, 0], [0, H - ch], [W - cw, H - ch]].forEach(function (o) { ctx.strokeRect(o[0] + 1, o[1] + 1, cw - 2, ch - 2); });
    ctx.setLineDash([5, 4]);
    ctx.strokeRect(g.center[1] * W, g.center[0] * H, g.center[3] * W, g.center[2] * H);
  }
  function drawBar(vmax, units) {
    var canvas = $("bar"), ctx = canvas.getContext("2d");
    for (var y = 0; y < canvas.height; y++) {
      var rgb = colour(1 - y / (canvas.height - 1));
      ctx.fillStyle = "rgb(" + rgb.join(",") + ")"; ctx.fillRect(0, y, canvas.width, 1);
    }
    $("bar-hi").textContent = "+" + vmax.toPrecision(3);
    $("bar-lo").textContent = "−" + vmax.toPrecision(3);
    $("bar-units").textContent = units + "; white = 0";
    canvas.setAttribute("aria-label", "colour scale from −" + vmax.toPrecision(3) + " to +" + vmax.toPrecision(3) + ", " + units);
  }
  function open(pos) {
    var v = state.view;
    if (pos < 0 || pos >= v.length) return;
    state.cursor = pos;
    var c = cols[state.run], i = c.img[v[pos]], name = D.images.name[i], full = D.images.full[i];
    $("detail-title").textContent = name;
    $("detail-path").textContent = D.images.path[i];
    var image = $("detail-image");
    image.dataset.index = i;
    if (full || D.images.thumb[i]) {
      image.hidden = false;
      image.src = full || A + "img/" + i + ".jpg";
      image.alt = NAMES[c.label[v[pos]]] + " image " + name;
      $("detail-caption").textContent = "the image (" + NAMES[c.label[v[pos]]] + ")";
    } else {
      image.hidden = true; image.removeAttribute("src");
      $("detail-caption").textContent = "image not shown: it lies outside the images folder its run records";
    }
    var holders = [];  // every run that explained this image, and its row there
    D.tables.forEach(function (t, r) { var k = cols[r].img.indexOf(i); if (k >= 0 && D.runs[r].maps) holders.push([r, k]); });
    var box = $("detail-maps");
    box.innerHTML = "";
    if (!$("detail").open) $("detail").showModal();
    Promise.all(holders.map(function (h) { return loadMaps(h[0], Math.floor(h[1] / D.chunk)); })).then(function (chunks) {
      var size = function (r) { return D.runs[r].mapSize[0] * D.runs[r].mapSize[1]; };
      var vals = holders.map(function (h, n) { var s = size(h[0]), o = (h[1] % D.chunk) * s; return chunks[n].subarray(o, o + s); });
      var vmax = 0;
      vals.forEach(function (a) { for (var p = 0; p < a.length; p++) vmax = Math.max(vmax, Math.abs(a[p])); });
      vmax = vmax > 0 ? vmax : 1e-12;
      holders.forEach(function (h, n) {
        var run = D.runs[h[0]], cc = cols[h[0]], k = h[1], fig = document.createElement("figure");
        var canvas = document.createElement("canvas");
        canvas.width = 240; canvas.height = Math.round(240 * run.inputSize[0] / run.inputSize[1]);
        canvas.setAttribute("role", "img");
        canvas.setAttribute("aria-label", "raw map of " + run.label + " for " + name + ", corner squares and centre outlined");
        drawMap(canvas, vals[n], run, vmax);
        fig.appendChild(canvas);
        var cap = document.createElement("figcaption");
        cap.innerHTML = "<strong>" + esc(run.label) + "</strong> " + esc(run.method) + " at " + esc(run.layer) +
          " (" + run.mapSize.join("×") + ")<br>p(fake) " + fmt(cc.prob[k]) + " · pred " + NAMES[cc.pred[k]] +
          "<br>corner " + fmt(cc.corner[k]) + " · centre " + fmt(cc.center[k]) + " · border " + fmt(cc.border[k]) +
          "<br>corner share " + fmt(cc.share[k]) + (cc.empty[k] ? " · <strong>blank map</strong>" : "");
        fig.appendChild(cap);
        fig.dataset.run = h[0];
        box.appendChild(fig);
      });
      var units = holders.map(function (h) { return D.runs[h[0]].units; }).filter(function (u, n, a) { return a.indexOf(u) === n; });
      if (!holders.length) box.textContent = "no raw maps: the run's record lists no cams.npz";
      else drawBar(vmax, units.join("; "));
      $("detail").dataset.ready = String(i);
    }, function (err) { box.textContent = err.message; });
  }

  /* ---- wiring ---- */
  function rowOf(el) { return el && el.closest ? el.closest("tr[data-pos]") : null; }
  function init() {
    prepare();
    $("run").innerHTML = D.runs.map(function (r, n) { return "<option value=\"" + n + "\">" + esc(r.label) + "</option>"; }).join("");
    $("run-box").hidden = D.runs.length < 2;
    $("run").addEventListener("change", function () { state.run = Number(this.value); state.page = 0; compute(); });
    $("filters").addEventListener("input", function () { state.page = 0; compute(); });
    $("filters").addEventListener("reset", function () { setTimeout(function () { state.page = 0; compute(); }, 0); });
    $("filters").addEventListener("submit", function (e) { e.preventDefault(); });
    $("head").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-key]");
      if (!b) return;
      state.dir = state.key === b.dataset.key ? -state.dir : 1;
      state.key = b.dataset.key; state.page = 0;
      compute();
      var again = document.querySelector("#head button[data-key=\"" + state.key + "\"]");
      if (again) again.focus();
    });
    $("rows").addEventListener("click", function (e) { var tr = rowOf(e.target); if (tr) open(Number(tr.dataset.pos)); });
    $("rows").addEventListener("keydown", function (e) {
      var tr = rowOf(e.target);
      if (!tr) return;
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(Number(tr.dataset.pos)); }
      else if (e.key === "ArrowDown" && tr.nextElementSibling) { e.preventDefault(); tr.nextElementSibling.focus(); }
      else if (e.key === "ArrowUp" && tr.previousElementSibling) { e.preventDefault(); tr.previousElementSibling.focus(); }
    });
    document.addEventListener("keydown", function (e) {
      if ($("detail").open) {
        if (e.key === "ArrowRight") open(state.cursor + 1);
        else if (e.key === "ArrowLeft") open(state.cursor - 1);
      } else if ((e.key === "PageDown" || e.key === "PageUp") && rowOf(document.activeElement)) {
        e.preventDefault(); turn(e.key === "PageDown" ? 1 : -1);
        var first = document.querySelector("#rows tr"); if (first) first.focus();
      }
    });
    $("prev").addEventListener("click", function () { turn(-1); });
    $("next").addEventListener("click", function () { turn(1); });
    $("d-prev").addEventListener("click", function () { open(state.cursor - 1); });
    $("d-next").addEventListener("click", function () { open(state.cursor + 1); });
    $("d-close").addEventListener("click", function () { $("detail").close(); });
    $("detail").addEventListener("close", function () {
      delete $("detail").dataset.ready;
      var tr = document.querySelector("#rows tr[data-pos=\"" + state.cursor + "\"]"); if (tr) tr.focus();
    });
    compute();
  }
  init();
})();
