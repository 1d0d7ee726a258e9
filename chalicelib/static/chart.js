// LiveInsight's time chart: a hand-written SVG line/area chart (y axis with nice ticks and gridlines, x time
// labels thinned so they never overlap, tooltips on hover and arrow keys, a dashed comparison series).
// LI.chart.render(container, {points: [{label, value, comparisonValue?, comparisonLabel?}], granularity,
//   metricLabel, format(v), comparisonName, xTitle, integer, aggregate?, comparisonAggregate?}); labels are the API's
// time_labels ("2024-09-10 13:00:00" or "2024-09-10"), already in the site's time zone, so they are shown as written;
// aggregate is the API's figure over the whole range (the tile's), named in the chart's text.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var CHAR_PX = 7; // ~12px system-ui digits and letters: enough to reserve room for a label
  var drawn = [];

  function svgEl(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, String(attrs[key])); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function htmlEl(name, className, parent, text) {
    var node = document.createElement(name);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // Heckbert's nice numbers: a step of 1, 2, 2.5 or 5 times a power of ten.
  function niceStep(span, count, integer) {
    var raw = span / count, magnitude = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / magnitude;
    var step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * magnitude;
    return integer ? Math.max(1, Math.ceil(step)) : step;
  }

  function yTicks(max, count, integer) {
    var step = niceStep(max > 0 ? max : 1, count, integer), ticks = [];
    var top = Math.max(step, Math.ceil((max > 0 ? max : 1) / step - 1e-9) * step);
    for (var i = 0; i * step <= top + step / 2; i++) ticks.push(Math.round(i * step * 1e6) / 1e6);
    return ticks;
  }

  function parts(label) {
    var m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?/.exec(String(label));
    return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0))) : null;
  }

  // The labels are wall-clock times of the site's zone: formatting them "in UTC" prints them unchanged.
  var FORMATS = {
    hourShort: { hour: "numeric", minute: "2-digit", timeZone: "UTC" },
    hourDay: { day: "numeric", month: "short", hour: "numeric", minute: "2-digit", timeZone: "UTC" },
    day: { day: "numeric", month: "short", timeZone: "UTC" },
    month: { month: "short", year: "numeric", timeZone: "UTC" },
    longHour: { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "numeric", minute: "2-digit",
      timeZone: "UTC" },
    longDay: { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC" },
    dayYear: { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" },
    longMonth: { month: "long", year: "numeric", timeZone: "UTC" }
  };
  var formatters = {};
  function fmt(kind, date) {
    if (!formatters[kind]) formatters[kind] = new Intl.DateTimeFormat(undefined, FORMATS[kind]);
    return formatters[kind].format(date);
  }

  function timeLabel(label, granularity, long, manyDays) {
    var date = parts(label);
    if (!date) return label === null || label === undefined ? "" : String(label);
    if (granularity === "minute" || granularity === "hour") {
      return fmt(long ? "longHour" : manyDays ? "hourDay" : "hourShort", date);
    }
    if (granularity === "month") return fmt(long ? "longMonth" : "month", date);
    var text = fmt(long ? "longDay" : "day", date);
    return long && granularity === "week" ? "Week of " + text : text;
  }

  function spansDays(points) {
    return points.length > 1 && String(points[0].label).slice(0, 10) !== String(points[points.length - 1].label).slice(0, 10);
  }

  function linePath(points, key, x, y) {
    var d = "", pen = false;
    points.forEach(function (p, i) {
      var v = p[key];
      if (v === null || v === undefined) { pen = false; return; }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
      pen = true;
    });
    return d;
  }

  function areaPath(points, x, y, bottom) {
    var d = "", run = [];
    function flush() {
      if (!run.length) return;
      d += "M" + x(run[0]).toFixed(1) + " " + bottom;
      run.forEach(function (i) { d += "L" + x(i).toFixed(1) + " " + y(points[i].value).toFixed(1); });
      d += "L" + x(run[run.length - 1]).toFixed(1) + " " + bottom + "Z";
      run = [];
    }
    points.forEach(function (p, i) { if (p.value === null || p.value === undefined) flush(); else run.push(i); });
    flush();
    return d;
  }

  function dataTable(container, points, opts, manyDays) {
    var details = htmlEl("details", "chart-data", container);
    htmlEl("summary", "", details, "Chart data as a table");
    var table = htmlEl("table", "", details);
    var head = htmlEl("tr", "", htmlEl("thead", "", table));
    htmlEl("th", "", head, opts.xTitle || "Time").scope = "col";
    htmlEl("th", "num", head, opts.metricLabel).scope = "col";
    var compared = points.some(function (p) { return "comparisonValue" in p; });
    if (compared) htmlEl("th", "num", head, opts.comparisonName || "Comparison").scope = "col";
    var body = htmlEl("tbody", "", table);
    points.forEach(function (p) {
      var row = htmlEl("tr", "", body);
      htmlEl("th", "", row, timeLabel(p.label, opts.granularity, false, manyDays)).scope = "row";
      htmlEl("td", "num", row, opts.format(p.value));
      if (compared) htmlEl("td", "num", row, opts.format(p.comparisonValue));
    });
  }

  function render(container, opts) {
    var points = opts.points || [], n = points.length, format = opts.format || String;
    opts.format = format;
    var manyDays = spansDays(points);
    var compared = points.some(function (p) { return "comparisonValue" in p; });
    container.textContent = "";
    container.classList.add("li-chart");
    if (drawn.indexOf(container) < 0) drawn.push(container);
    container.liChart = opts;

    var width = Math.max(280, container.clientWidth || 600), height = width < 560 ? 210 : 260;
    var max = 0;
    points.forEach(function (p) {
      [p.value, p.comparisonValue].forEach(function (v) { if (typeof v === "number" && v > max) max = v; });
    });
    var ticks = yTicks(max, height < 240 ? 4 : 5, opts.integer);
    var top = ticks[ticks.length - 1];
    var tickText = ticks.map(format);
    var labels = points.map(function (p) { return timeLabel(p.label, opts.granularity, false, manyDays); });
    var labelPx = Math.max.apply(null, labels.map(function (t) { return t.length * CHAR_PX; }).concat([CHAR_PX])) + 14;
    var left = 30 + Math.max.apply(null, tickText.map(function (t) { return t.length * CHAR_PX; }));
    var margin = { left: Math.max(left, labelPx / 2), right: Math.min(48, labelPx / 2 + 4), top: 12, bottom: 50 };
    var plotW = width - margin.left - margin.right, plotH = height - margin.top - margin.bottom;
    var bottom = margin.top + plotH;
    var dx = n > 1 ? plotW / (n - 1) : 0;
    var x = function (i) { return margin.left + (n > 1 ? i * dx : plotW / 2); };
    var y = function (v) { return margin.top + plotH - (v / top) * plotH; };

    // The figure over the whole range is the API's (the tile's), never a sum of the points: summed hourly
    // uniques are not the range's uniques, and a sum of rates or durations means nothing.
    var whole = typeof opts.aggregate === "number";
    var summary = opts.metricLabel + " per " + opts.granularity + (n ? ", " + timeLabel(points[0].label, opts.granularity,
      true) + " to " + timeLabel(points[n - 1].label, opts.granularity, true) : ", no data") + "." + (whole ? " " +
      opts.metricLabel + " over the whole range: " + format(opts.aggregate) +
      (typeof opts.comparisonAggregate === "number" ? " (" + (opts.comparisonName || "comparison") + ": " +
      format(opts.comparisonAggregate) + ")" : "") + "." : "") + " Use the arrow keys to read each " + opts.granularity + ".";
    var svg = svgEl("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img",
      tabindex: 0, "aria-label": summary, "data-points": n, "data-aggregate": whole ? opts.aggregate : "" }, container);

    var grid = svgEl("g", { class: "grid" }, svg);
    ticks.forEach(function (t, i) {
      svgEl("line", { x1: margin.left, x2: width - margin.right, y1: y(t), y2: y(t) }, grid);
      svgEl("text", { x: margin.left - 8, y: y(t) + 4, "text-anchor": "end", class: "tick y-tick" }, grid)
        .textContent = tickText[i];
    });
    svgEl("text", { class: "axis-title y-title", transform: "translate(12 " + (margin.top + plotH / 2) + ") rotate(-90)",
      "text-anchor": "middle" }, svg).textContent = opts.metricLabel;

    // Thinning: at most as many labels as fit side by side, every `step`-th one.
    var fit = Math.max(1, Math.floor(plotW / labelPx) + 1), step = Math.max(1, Math.ceil(n / fit));
    var xAxis = svgEl("g", { class: "x-axis" }, svg);
    svgEl("line", { x1: margin.left, x2: width - margin.right, y1: bottom, y2: bottom, class: "axis" }, xAxis);
    for (var i = 0; i < n; i += step) {
      svgEl("line", { x1: x(i), x2: x(i), y1: bottom, y2: bottom + 4, class: "axis" }, xAxis);
      svgEl("text", { x: x(i), y: bottom + 18, "text-anchor": "middle", class: "tick x-tick" }, xAxis)
        .textContent = labels[i];
    }
    svgEl("text", { class: "axis-title x-title", x: margin.left + plotW / 2, y: height - 6, "text-anchor": "middle" },
      svg).textContent = opts.xTitle || "Time";

    if (compared) {
      svgEl("path", { d: linePath(points, "comparisonValue", x, y), class: "series comparison" }, svg);
    }
    svgEl("path", { d: areaPath(points, x, y, bottom), class: "area" }, svg);
    svgEl("path", { d: linePath(points, "value", x, y), class: "series main" }, svg);
    // a dot on every point of a short series, and on a point between gaps (a rate with no visits either side),
    // which no line would show
    var has = function (i) { return i >= 0 && i < n && typeof points[i].value === "number"; };
    points.forEach(function (p, i) {
      if (has(i) && (n <= 62 || (!has(i - 1) && !has(i + 1)))) {
        svgEl("circle", { cx: x(i), cy: y(p.value), r: 2.5, class: "dot" }, svg);
      }
    });

    var guide = svgEl("line", { y1: margin.top, y2: bottom, class: "guide", visibility: "hidden" }, svg);
    var marker = svgEl("circle", { r: 5, class: "marker", visibility: "hidden" }, svg);
    var markerB = svgEl("circle", { r: 4, class: "marker comparison", visibility: "hidden" }, svg);
    var overlay = svgEl("rect", { x: margin.left - dx / 2, y: margin.top, width: plotW + dx, height: plotH,
      class: "overlay" }, svg);
    var tip = htmlEl("div", "chart-tip", container);
    tip.setAttribute("role", "status");
    tip.hidden = true;
    var active = -1;

    function show(i) {
      if (!n) return;
      active = Math.max(0, Math.min(n - 1, i));
      var p = points[active], px = x(active);
      guide.setAttribute("x1", px); guide.setAttribute("x2", px); guide.setAttribute("visibility", "visible");
      place(marker, px, p.value);
      if (compared) place(markerB, px, p.comparisonValue);
      tip.textContent = "";
      htmlEl("strong", "", tip, timeLabel(p.label, opts.granularity, true));
      htmlEl("span", "tip-main", tip, opts.metricLabel + ": " + format(p.value));
      if (compared) {
        htmlEl("span", "tip-comparison", tip, (p.comparisonLabel ? timeLabel(p.comparisonLabel, opts.granularity, true) :
          opts.comparisonName || "Comparison") + ": " + format(p.comparisonValue));
      }
      tip.hidden = false;
      var tipWidth = tip.offsetWidth, room = container.clientWidth || width;
      tip.style.left = Math.max(0, Math.min(room - tipWidth, px - tipWidth / 2)) + "px";
      tip.style.top = "0px";
    }
    function place(circle, px, v) {
      var visible = typeof v === "number";
      circle.setAttribute("visibility", visible ? "visible" : "hidden");
      if (visible) { circle.setAttribute("cx", px); circle.setAttribute("cy", y(v)); }
    }
    function hide() {
      active = -1;
      tip.hidden = true;
      [guide, marker, markerB].forEach(function (node) { node.setAttribute("visibility", "hidden"); });
    }
    overlay.addEventListener("mousemove", function (event) {
      var box = svg.getBoundingClientRect(), mx = (event.clientX - box.left) * (width / box.width);
      show(n > 1 ? Math.round((mx - margin.left) / dx) : 0);
    });
    overlay.addEventListener("mouseleave", function () { if (document.activeElement !== svg) hide(); });
    svg.addEventListener("focus", function () { show(active < 0 ? n - 1 : active); });
    svg.addEventListener("blur", hide);
    svg.addEventListener("keydown", function (event) {
      var moves = { ArrowLeft: -1, ArrowRight: 1, ArrowDown: -1, ArrowUp: 1, PageDown: -step, PageUp: step };
      if (event.key in moves) show((active < 0 ? n - 1 : active) + moves[event.key]);
      else if (event.key === "Home") show(0);
      else if (event.key === "End") show(n - 1);
      else if (event.key === "Escape") hide();
      else return;
      event.preventDefault();
    });

    var legend = htmlEl("p", "chart-legend", container);
    htmlEl("span", "key main", legend, opts.metricLabel);
    if (compared) htmlEl("span", "key comparison", legend, opts.comparisonName || "Comparison");
    dataTable(container, points, opts, manyDays);
    return svg;
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      drawn = drawn.filter(function (c) { return c.isConnected; });
      drawn.forEach(function (c) { if (c.liChart) render(c, c.liChart); });
    }, 150);
  });

  window.LI = window.LI || {};
  // A wall-clock label of the site's zone ("2024-11-26", "2024-11-26T14:01:05+01:00") in one of FORMATS, as written.
  function wallClock(label, kind) {
    var date = parts(label);
    return date ? fmt(kind, date) : "";
  }

  window.LI.chart = { render: render, niceTicks: yTicks, timeLabel: timeLabel, wallClock: wallClock };
})();
