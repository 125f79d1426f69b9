// Folio Explorer: progressive enhancement only; every page works without it.
// - Live pages (body[data-live]) follow /events: the dashboard's figures and
//   chart, and the newest-first block lists, update as blocks are indexed.
// - The works page hashes a chosen file locally (crypto.subtle, SHA-256)
//   and searches by that content hash; the file never leaves the browser.
"use strict";

(function () {
  function text(el, v) { if (el) el.textContent = v; }

  function fmtTime(s) {
    if (!s || s.startsWith("0001-")) return "—";
    return s.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
  }

  function group(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f"); }

  function updateStats(ev) {
    var st = ev.stats || {};
    var invalid = 0;
    for (var k in (st.invalid || {})) invalid += st.invalid[k];
    var set = function (name, v) { text(document.querySelector('[data-stat="' + name + '"]'), v); };
    set("height", group(st.height || 0));
    set("txs", group(st.txs || 0));
    set("valid", group(st.valid || 0));
    set("invalid", group(invalid));
    set("works", group(st.works || 0));
    set("last_block_at", fmtTime(st.last_block_at));
    set("lag", ev.lag || "—");
    var l = ev.latency;
    if (l) {
      var ms = function (v) { return l.count ? (v >= 10000 ? (v / 1000).toFixed(1) + " s" : v + " ms") : "—"; };
      set("p50", ms(l.p50_ms));
      set("p95", ms(l.p95_ms));
      set("p99", ms(l.p99_ms));
      set("latency_count", group(l.count || 0));
    }
  }

  function cell(tr, content, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    tr.appendChild(td);
  }

  function prependBlock(b) {
    var lists = document.querySelectorAll("[data-live-blocks]");
    lists.forEach(function (tbody) {
      var empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      // Keep the list the length the server rendered (at least 10).
      var max = Number(tbody.dataset.max) || Math.max(tbody.rows.length, 10);
      tbody.dataset.max = max;
      var tr = document.createElement("tr");
      tr.className = "fresh";
      var a = document.createElement("a");
      a.href = "/blocks/" + b.number;
      a.textContent = b.number;
      cell(tr, a, "n");
      var code = document.createElement("code");
      code.title = b.hash;
      code.textContent = b.hash.length > 16 ? b.hash.slice(0, 12) + "…" : b.hash;
      cell(tr, code);
      cell(tr, fmtTime(b.time));
      cell(tr, b.txs, "n");
      cell(tr, b.valid, "n");
      cell(tr, b.txs - b.valid, "n");
      tbody.insertBefore(tr, tbody.firstChild);
      while (tbody.rows.length > max) tbody.deleteRow(tbody.rows.length - 1);
    });
  }

  function loadSVG(fig, url) {
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (svg) {
        if (svg) {
          var doc = new DOMParser().parseFromString(svg, "image/svg+xml");
          var el = doc.documentElement;
          if (el && el.nodeName === "svg") fig.replaceChildren(document.importNode(el, true));
        }
      })
      .catch(function () {});
  }

  var chartPending = false;
  function refreshChart() {
    var fig = document.getElementById("rate-chart");
    var lat = document.getElementById("latency-chart");
    if (!fig || chartPending) return;
    chartPending = true;
    // At most one chart refresh a second, however fast blocks come.
    setTimeout(function () {
      Promise.all([loadSVG(fig, "/chart.svg"), lat ? loadSVG(lat, "/latency.svg") : null])
        .finally(function () { chartPending = false; });
    }, 1000);
  }

  function follow() {
    if (!document.body.dataset.live || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var es = new EventSource("/events");
    es.addEventListener("hello", function (m) {
      status.hidden = false;
      status.textContent = "live ·";
      updateStats(JSON.parse(m.data));
    });
    es.addEventListener("block", function (m) {
      var ev = JSON.parse(m.data);
      updateStats(ev);
      if (ev.block) prependBlock(ev.block);
      refreshChart();
    });
    es.onerror = function () {
      status.hidden = false;
      status.textContent = "reconnecting ·";
    };
  }

  function hashFiles() {
    var box = document.getElementById("hash-file");
    var input = document.getElementById("hash-file-input");
    if (!box || !input || !(window.crypto && crypto.subtle)) return;
    box.hidden = false;
    var status = document.getElementById("hash-file-status");
    input.addEventListener("change", function () {
      var f = input.files && input.files[0];
      if (!f) return;
      text(status, "hashing " + f.name + " …");
      f.arrayBuffer()
        .then(function (buf) { return crypto.subtle.digest("SHA-256", buf); })
        .then(function (d) {
          var hex = Array.from(new Uint8Array(d)).map(function (b) { return b.toString(16).padStart(2, "0"); }).join("");
          window.location.href = "/works?hash=sha256:" + hex;
        })
        .catch(function (e) { text(status, "could not hash the file: " + e); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { follow(); hashFiles(); });
})();
