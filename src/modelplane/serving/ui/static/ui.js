// modelplane dashboard: metric charts (uPlot), run selection for comparison, live endpoint
// numbers. No framework; data comes from <script type="application/json"> blocks and from the
// dashboard's own JSON routes.
(function () {
  "use strict";

  var PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#1b7c83",
    "#953800", "#57606a", "#0550ae"];

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  // -- charts ------------------------------------------------------------------------------

  function drawChart(holder, doc, index) {
    var box = document.createElement("div");
    box.className = "chart";
    var title = document.createElement("h3");
    title.textContent = doc.key;  // text, never HTML
    box.appendChild(title);
    var plot = document.createElement("div");
    box.appendChild(plot);
    holder.appendChild(box);

    var points = 0;
    doc.series.forEach(function (s) {
      s.values.forEach(function (v) { if (v !== null) { points += 1; } });
    });
    box.dataset.key = doc.key;
    box.dataset.series = String(doc.series.length);
    box.dataset.points = String(points);
    if (typeof window.uPlot !== "function") {
      return;
    }
    var series = [{ label: "step" }].concat(doc.series.map(function (s, i) {
      return {
        label: s.label,
        stroke: PALETTE[(i + index) % PALETTE.length],
        width: 1.5,
        spanGaps: true,
        points: { show: doc.x.length <= 60 }
      };
    }));
    var data = [doc.x].concat(doc.series.map(function (s) { return s.values; }));
    var width = Math.max(300, Math.floor(box.clientWidth - 16));
    var chart = new window.uPlot({
      width: width,
      height: 220,
      scales: { x: { time: false } },
      series: series,
      axes: [{ label: "step" }, {}]
    }, data, plot);
    box.dataset.rendered = "1";
    box.uplot = chart;
  }

  function drawCharts() {
    document.querySelectorAll("[data-charts]").forEach(function (holder) {
      var doc = readJSON(holder.dataset.charts);
      if (!doc) { return; }
      doc.charts.forEach(function (chart, i) { drawChart(holder, chart, i); });
      holder.dataset.drawn = String(doc.charts.length);
    });
  }

  // -- comparing runs ------------------------------------------------------------------------

  function compareForms() {
    document.querySelectorAll("form.compare-form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var ids = [];
        form.querySelectorAll("input[name=runs]:checked").forEach(function (box) {
          ids.push(box.value);
        });
        if (ids.length < 2) {
          form.querySelector(".actions .muted").textContent = "select two or more runs";
          return;
        }
        window.location.assign("/ui/compare?runs=" + ids.map(encodeURIComponent).join(","));
      });
    });
  }

  // -- live endpoint numbers -----------------------------------------------------------------

  function quantile(q, buckets) {
    // buckets: [[upper bound or null (+Inf), cumulative count], ...]
    if (!buckets.length) { return null; }
    var total = buckets[buckets.length - 1][1];
    if (total <= 0) { return null; }
    var rank = q * total, lower = 0, below = 0;
    for (var i = 0; i < buckets.length; i += 1) {
      var bound = buckets[i][0], count = buckets[i][1];
      if (count >= rank) {
        if (bound === null) { return lower; }
        if (count === below) { return bound; }
        return lower + (bound - lower) * (rank - below) / (count - below);
      }
      lower = bound === null ? lower : bound;
      below = count;
    }
    return lower;
  }

  function ms(seconds) {
    return seconds === null || seconds === undefined ? "–" : (seconds * 1000).toFixed(1);
  }

  function pairs(mapping) {
    return Object.keys(mapping).sort().map(function (k) { return k + ": " + mapping[k]; }).join(" ");
  }

  function setField(root, name, text) {
    root.parentNode.querySelectorAll("[data-field=" + name + "]").forEach(function (node) {
      node.textContent = text;  // text, never HTML
    });
  }

  function showLive(root, doc, previous) {
    var p50 = doc.latency.p50, p99 = doc.latency.p99, rate = null;
    if (previous) {
      var dt = doc.t - previous.t;
      var dn = doc.requests - previous.requests;
      if (dt > 0 && dn >= 0) { rate = dn / dt; }
      var recent = doc.latency.buckets.map(function (b, i) {
        var before = previous.latency.buckets[i];
        return [b[0], b[1] - (before ? before[1] : 0)];
      });
      if (doc.latency.count > previous.latency.count) {
        p50 = quantile(0.5, recent);
        p99 = quantile(0.99, recent);
      }
    }
    var status = doc.status;
    setField(root, "state", status ? status.state : "not loaded");
    setField(root, "requests", String(doc.requests));
    setField(root, "rate", rate === null ? "–" : rate.toFixed(2));
    setField(root, "p50", ms(p50));
    setField(root, "p99", ms(p99));
    setField(root, "errors", String(doc.errors));
    setField(root, "fallbacks", String(doc.fallbacks));
    setField(root, "versions", status ? status.versions.join(", ") : "");
    setField(root, "last_error", status && status.last_error ? status.last_error : "");
    setField(root, "errors_by_kind", pairs(doc.errors_by_kind));
    setField(root, "by_code", pairs(doc.by_code));
    var stamp = document.getElementById("live-time");
    if (stamp) { stamp.textContent = doc.time; }
    root.dataset.requests = String(doc.requests);
  }

  function liveNumbers() {
    document.querySelectorAll("[data-live]").forEach(function (root) {
      var previous = readJSON(root.dataset.liveInitial);
      var every = Number(root.dataset.interval || 3000);
      function poll() {
        fetch(root.dataset.live, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (answer) {
            if (!answer.ok) { throw new Error("HTTP " + answer.status); }
            return answer.json();
          })
          .then(function (doc) {
            showLive(root, doc, previous);
            previous = doc;
            root.dataset.polls = String(Number(root.dataset.polls || 0) + 1);
          })
          .catch(function (error) {
            var stamp = document.getElementById("live-time");
            if (stamp) { stamp.textContent = "not refreshed: " + error.message; }
          })
          .finally(function () { window.setTimeout(poll, every); });
      }
      window.setTimeout(poll, every);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    compareForms();
    liveNumbers();
  });
}());
