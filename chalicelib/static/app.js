// LiveInsight dashboard shell: sign-in or a shared link, the view's state in the URL (so back and bookmarks
// work), filter chips, tiles with comparisons, the chart (chart.js) and the cards (cards.js, LI.cards.render).
// Every number comes from the Stats API v2, read relative to this page (so /prod/dashboard reads /prod/api/...).
(function () {
  "use strict";
  var LI = window.LI = window.LI || {};
  var TOKEN_KEY = "liveinsight.token", SHARE_KEY = "liveinsight.share:";
  var REFRESH_MS = 15000;
  // time:minute and date_range "30m" (LiveInsight extensions, docs/api.md): realtime charts the last 30 minutes
  // minute by minute, and "today" may too; as Plausible's dashboard, whose realtime graph asks for "30m".
  var MINUTE_BUCKETS = true;
  var REALTIME_RANGE = "30m";
  var PERIODS = {
    realtime: { label: "Realtime (30 min)", granularities: MINUTE_BUCKETS ? ["minute"] : ["hour"] },
    day: { label: "Today", granularities: MINUTE_BUCKETS ? ["hour", "minute"] : ["hour"] },
    // the API's "7d"/"30d" are whole days before today and "6mo"/"12mo" whole months before this one (as
    // Plausible's): the option says so, or right after traffic begins "Last 7 days" seems to lose visits
    "7d": { label: "Last 7 days (to yesterday)", granularities: ["day", "hour"] },
    "30d": { label: "Last 30 days (to yesterday)", granularities: ["day", "week"] },
    month: { label: "This month", granularities: ["day", "week"] },
    "6mo": { label: "Last 6 months (to last month)", granularities: ["month", "week", "day"] },
    "12mo": { label: "Last 12 months (to last month)", granularities: ["month", "week", "day"] },
    custom: { label: "Custom range", granularities: null }
  };
  var DEFAULT_PERIOD = "day"; // today so far: what a new site has (7d and 30d end yesterday, as Plausible's)
  var COMPARISONS = { off: "No comparison", previous_period: "Previous period", year_over_year: "Year over year" };
  var METRICS = [
    { key: "visitors", label: "Unique visitors", kind: "count" },
    { key: "visits", label: "Visits", kind: "count", visit: true },
    { key: "pageviews", label: "Page views", kind: "count" },
    { key: "views_per_visit", label: "Views per visit", kind: "ratio", visit: true },
    { key: "bounce_rate", label: "Bounce rate", kind: "percent", visit: true, lowerIsBetter: true },
    { key: "visit_duration", label: "Visit duration", kind: "duration", visit: true },
    { key: "events", label: "Events", kind: "count" }
  ];
  var DIMENSIONS = {
    "event:page": "Page", "event:goal": "Goal", "event:name": "Event", "event:hostname": "Hostname",
    "visit:entry_page": "Entry page", "visit:exit_page": "Exit page", "visit:source": "Source",
    "visit:referrer": "Referrer", "visit:channel": "Channel", "visit:utm_source": "UTM source",
    "visit:utm_medium": "UTM medium", "visit:utm_campaign": "UTM campaign", "visit:utm_content": "UTM content",
    "visit:utm_term": "UTM term", "visit:device": "Device", "visit:browser": "Browser",
    "visit:browser_version": "Browser version", "visit:os": "Operating system", "visit:os_version": "OS version",
    "visit:country": "Country"
  };
  var OPERATORS = { is: "is", is_not: "is not", contains: "contains", contains_not: "does not contain" };
  var $ = function (id) { return document.getElementById(id); };

  var state = null;          // the view: what the URL holds
  var sites = {};            // site id -> {timezone, goals}
  var early = {};            // "path options" -> the answer of a query sent before the site list came (start)
  var auth = { link: null, credential: null };
  var generation = 0, timer = null, lastScope = "", notes = [];
  var totals = null;         // {scope, answer}: the tiles' last answer, whose figure for the metric the chart names
  var shownRange = null;     // the API's echo (query.date_range) of the view shown: [first, last], the site's wall clock

  // ---- formatting (shared with the cards through ctx) ----
  var numberFormat = new Intl.NumberFormat();
  var regionNames = window.Intl && Intl.DisplayNames ? new Intl.DisplayNames(undefined, { type: "region" }) : null;
  function formatNumber(n) { return n === null || n === undefined ? "–" : numberFormat.format(n); }
  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h) return h + "h " + m + "m";
    return m ? m + "m " + String(s % 60).padStart(2, "0") + "s" : s + "s";
  }
  function formatMoney(amount, currency) {
    if (amount === null || amount === undefined) return "–";
    try { return new Intl.NumberFormat(undefined, { style: "currency", currency: currency }).format(amount); }
    catch (e) { return formatNumber(amount) + " " + currency; }
  }
  function countryName(code) {
    if (!code) return "Unknown";
    try { return (regionNames && regionNames.of(String(code).toUpperCase())) || code; } catch (e) { return code; }
  }
  function countryFlag(code) {
    if (!/^[A-Za-z]{2}$/.test(code || "")) return "🏳";
    return String.fromCodePoint.apply(null, code.toUpperCase().split("").map(function (c) {
      return 0x1f1e6 + c.charCodeAt(0) - 65;
    }));
  }
  function formatMetric(metric, value) {
    if (value === null || value === undefined) return "–";
    if (metric.kind === "duration") return formatDuration(value);
    if (metric.kind === "percent") return formatNumber(value) + "%";
    return formatNumber(value);
  }
  function metricByKey(key) { return METRICS.filter(function (m) { return m.key === key; })[0] || METRICS[0]; }

  // ---- dates in the site's time zone ----
  function today(timezone) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: timezone, year: "numeric", month: "2-digit", day: "2-digit" })
      .format(new Date());
  }
  function addDays(isoDate, days) {
    var d = new Date(isoDate + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  }
  function daysBetween(from, to) { return Math.round((Date.parse(to) - Date.parse(from)) / 86400000) + 1; }
  function isDate(text) { return /^\d{4}-\d{2}-\d{2}$/.test(text || "") && !isNaN(Date.parse(text)); }

  function granularities(view) {
    if (view.period !== "custom") return PERIODS[view.period].granularities;
    var days = daysBetween(view.from, view.to);
    if (days <= 2) return ["hour", "day"];
    if (days <= 7) return ["day", "hour"];
    if (days <= 92) return ["day", "week", "month"];
    return ["month", "week", "day"];
  }

  // ---- the view's state <-> the URL query string ----
  function parseFilter(text) {
    var first = text.indexOf(","), second = text.indexOf(",", first + 1);
    var op = text.slice(0, first), dimension = text.slice(first + 1, second), value = text.slice(second + 1);
    var known = DIMENSIONS[dimension] || /^event:props:[^,]+$/.test(dimension);
    if (first < 0 || second < 0 || !OPERATORS[op] || !known || !value) return null;
    return [op, dimension, [value]];
  }
  function readUrl() {
    var params = new URLSearchParams(location.search), view = {}, problems = [];
    view.site = params.get("site") || "";
    view.period = PERIODS[params.get("period")] ? params.get("period") : DEFAULT_PERIOD;
    if (params.get("period") && !PERIODS[params.get("period")]) problems.push("period " + params.get("period"));
    view.from = params.get("from"); view.to = params.get("to");
    if (view.period === "custom" && !(isDate(view.from) && isDate(view.to) && view.from <= view.to)) {
      problems.push("custom range " + view.from + " to " + view.to);
      view.period = DEFAULT_PERIOD;
    }
    if (view.period !== "custom") { view.from = null; view.to = null; }
    view.comparison = COMPARISONS[params.get("comparison")] ? params.get("comparison") : "off";
    if (params.get("comparison") && !COMPARISONS[params.get("comparison")]) problems.push("comparison " + params.get("comparison"));
    // the API compares whole days: 30 minutes have no comparison
    if (view.period === "realtime" && view.comparison !== "off") { view.comparison = "off"; problems.push("a comparison of realtime"); }
    view.filters = [];
    params.getAll("f").forEach(function (text) {
      var filter = parseFilter(text);
      if (filter) view.filters.push(filter); else problems.push("filter " + text);
    });
    var allowed = granularities(view);
    view.granularity = allowed.indexOf(params.get("granularity")) >= 0 ? params.get("granularity") : allowed[0];
    view.metric = metricByKey(params.get("metric")).key;
    var known = ["site", "period", "from", "to", "comparison", "f", "granularity", "metric"];
    params.forEach(function (value, name) { if (known.indexOf(name) < 0) problems.push("parameter " + name); });
    notes = problems.length ? ["Not understood in the address, so left out: " + problems.join("; ") + "."] : [];
    return view;
  }
  function urlOf(view) {
    var params = new URLSearchParams();
    params.set("site", view.site);
    params.set("period", view.period);
    if (view.period === "custom") { params.set("from", view.from); params.set("to", view.to); }
    view.filters.forEach(function (f) { params.append("f", f[0] + "," + f[1] + "," + f[2][0]); });
    if (view.comparison !== "off") params.set("comparison", view.comparison);
    if (view.granularity !== granularities(view)[0]) params.set("granularity", view.granularity);
    if (view.metric !== "visitors") params.set("metric", view.metric);
    // readable addresses: commas, colons and slashes need no escaping in a query string
    return "?" + params.toString().replace(/%2C/g, ",").replace(/%3A/g, ":").replace(/%2F/g, "/") + location.hash;
  }
  // Every change is a history entry: the back button walks back through the views.
  function change(patch) {
    var view = Object.assign({}, state, patch);
    if (patch.period || patch.from) {
      var allowed = granularities(view);
      if (allowed.indexOf(view.granularity) < 0) view.granularity = allowed[0];
    }
    if (view.period === "realtime") view.comparison = "off";
    state = view;
    var url = urlOf(view);
    if (url !== location.search + location.hash) history.pushState(null, "", url);
    notes = [];
    show();
  }

  // ---- the API ----
  function credential() { return auth.link ? auth.credential || auth.link : sessionStorage.getItem(TOKEN_KEY); }
  function api(path, options) {
    options = options || {};
    var key = path + " " + JSON.stringify(options), sent = early[key];
    if (sent) { delete early[key]; return sent; }
    var headers = { Authorization: "Bearer " + credential() };
    if (options.body) headers["Content-Type"] = "application/json";
    if (options.accept) headers.Accept = options.accept;
    return fetch(path, { method: options.method || (options.body ? "POST" : "GET"), headers: headers,
      body: options.body ? JSON.stringify(options.body) : undefined }).then(function (response) {
      if (response.ok) return options.accept === "text/csv" ? response.text() : response.json();
      return response.text().then(function (text) {
        var body = {};
        try { body = JSON.parse(text); } catch (e) { body = {}; }
        var error = new Error((typeof body.error === "string" ? body.error : body.error && body.error.message) ||
          response.statusText || "HTTP " + response.status);
        error.status = response.status;
        error.code = body.code || (body.error && body.error.code);
        throw error;
      });
    });
  }
  function dateRange(view) {
    if (view.period === "realtime") return REALTIME_RANGE;
    if (view.period === "custom") return [view.from, view.to];
    return view.period;
  }
  function scoped(body, view, range) {
    var scopedBody = Object.assign({}, body, { site_id: view.site, date_range: range || dateRange(view) });
    scopedBody.filters = view.filters.concat(body.filters || []);
    return scopedBody;
  }
  function comparisonInclude(view, include) {
    include = Object.assign({}, include || {});
    if (view.comparison !== "off") include.comparisons = { mode: view.comparison };
    return include;
  }

  function context(view, range) {
    var site = sites[view.site] || { timezone: "UTC", goals: [] };
    return {
      site: view.site, timezone: site.timezone, goals: site.goals, propertyKeys: site.properties || [], dateRange: range,
      filters: view.filters.slice(), comparison: view.comparison, period: view.period,
      query: function (body) { return api("api/v2/query", { body: scoped(body, view, range) }); },
      queryCsv: function (body) { return api("api/v2/query", { body: scoped(body, view, range), accept: "text/csv" }); },
      funnel: function (body) { return api("api/v2/funnel", { body: scoped(body, view, range) }); },
      funnelCsv: function (body) { return api("api/v2/funnel", { body: scoped(body, view, range), accept: "text/csv" }); },
      addFilter: addFilter,
      countryName: countryName, countryFlag: countryFlag, formatNumber: formatNumber,
      formatDuration: formatDuration, formatMoney: formatMoney
    };
  }

  // A filter on a dimension already filtered replaces it (as Plausible's dashboard); others combine (AND).
  function addFilter(dimension, value) {
    if (typeof value !== "string" || !value) {
      status("A missing value cannot be filtered on: the Stats API filters take text values only.");
      return;
    }
    var filters = state.filters.filter(function (f) { return f[1] !== dimension; });
    filters.push(["is", dimension, [value]]);
    change({ filters: filters });
  }

  // ---- rendering ----
  function status(text) { $("status").textContent = text; }

  function filterText(filter) {
    var dimension = DIMENSIONS[filter[1]] || "Property " + filter[1].replace(/^event:props:/, "");
    var values = filter[2].map(function (v) {
      return filter[1] === "visit:country" ? countryFlag(v) + " " + countryName(v) : v;
    });
    return dimension + " " + OPERATORS[filter[0]] + " " + values.join(" or ");
  }
  function renderChips() {
    var list = $("chips");
    list.textContent = "";
    state.filters.forEach(function (filter, i) {
      var item = document.createElement("li");
      item.className = "chip";
      var text = document.createElement("span");
      text.textContent = filterText(filter);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", "Remove filter: " + filterText(filter));
      remove.addEventListener("click", function () {
        change({ filters: state.filters.filter(function (_, j) { return j !== i; }) });
        var next = $("chips").querySelector("button") || $("period");
        next.focus();
      });
      item.appendChild(text);
      item.appendChild(remove);
      list.appendChild(item);
    });
    $("filters").hidden = !state.filters.length;
  }

  function setOptions(select, entries, selected) {
    select.textContent = "";
    entries.forEach(function (entry) {
      var option = document.createElement("option");
      option.value = entry[0];
      option.textContent = entry[1];
      option.selected = entry[0] === selected;
      select.appendChild(option);
    });
  }
  function renderControls() {
    setOptions($("site"), Object.keys(sites).map(function (s) { return [s, s]; }), state.site);
    $("period").value = state.period;
    $("custom").hidden = state.period !== "custom";
    if (state.period === "custom") { $("from").value = state.from; $("to").value = state.to; }
    setOptions($("comparison"), Object.keys(COMPARISONS).map(function (k) { return [k, COMPARISONS[k]]; }),
      state.comparison);
    $("comparison").disabled = state.period === "realtime";
    setOptions($("granularity"), granularities(state).map(function (g) { return [g, g[0].toUpperCase() + g.slice(1)]; }),
      state.granularity);
    $("timezone").textContent = "Times in " + ((sites[state.site] || {}).timezone || "UTC");
    $("shared-site").textContent = state.site;
  }

  function buildTiles() {
    var tiles = $("tiles");
    METRICS.forEach(function (metric) {
      var tile = document.createElement("button");
      tile.type = "button";
      tile.className = "tile";
      tile.id = "tile-" + metric.key;
      tile.dataset.metric = metric.key;
      ["label", "value", "change", "previous", "hint"].forEach(function (part) {
        var span = document.createElement("span");
        span.className = part;
        tile.appendChild(span);
      });
      tile.querySelector(".label").textContent = metric.label;
      tile.addEventListener("click", function () { change({ metric: metric.key }); });
      tiles.appendChild(tile);
    });
  }

  function changeText(metric, delta) {
    if (delta === null || delta === undefined) return { text: "–", words: "no change figure", tone: "neutral" };
    var unit = metric.kind === "percent" ? " pts" : "%";
    var arrow = delta > 0 ? "↑" : delta < 0 ? "↓" : "→";
    var better = delta === 0 ? "neutral" : (delta > 0) !== !!metric.lowerIsBetter ? "good" : "bad";
    var words = delta === 0 ? "no change" : (delta > 0 ? "up " : "down ") + Math.abs(delta) + unit;
    return { arrow: arrow, text: (delta > 0 ? "+" : "") + formatNumber(delta) + unit, words: words, tone: better };
  }

  function renderTiles(answer, view) {
    var row = answer.results[0] || { metrics: [] }, comparison = row.comparison;
    var end = Date.parse(answer.query.date_range[1]);
    var inProgress = end + 1000 >= Date.now();
    METRICS.forEach(function (metric, i) {
      var tile = $("tile-" + metric.key), value = row.metrics[i];
      tile.setAttribute("aria-pressed", String(view.metric === metric.key));
      var valueEl = tile.querySelector(".value");
      valueEl.textContent = formatMetric(metric, value);
      valueEl.dataset.value = value === null || value === undefined ? "" : String(value);
      var changeEl = tile.querySelector(".change"), previous = tile.querySelector(".previous");
      changeEl.textContent = ""; previous.textContent = "";
      changeEl.className = "change"; delete changeEl.dataset.change;
      if (comparison) {
        var delta = comparison.change[i], shown = changeText(metric, delta);
        changeEl.className = "change " + shown.tone;
        changeEl.dataset.change = delta === null ? "" : String(delta);
        if (shown.arrow) {
          var arrow = document.createElement("span");
          arrow.setAttribute("aria-hidden", "true");
          arrow.textContent = shown.arrow + " ";
          changeEl.appendChild(arrow);
        }
        changeEl.appendChild(document.createTextNode(shown.text));
        var words = document.createElement("span");
        words.className = "sr-only";
        words.textContent = " (" + (shown.words || shown.text) + (shown.tone === "neutral" ? "" : ", " +
          (shown.tone === "good" ? "better" : "worse")) + ")";
        changeEl.appendChild(words);
        previous.textContent = "vs " + formatMetric(metric, comparison.metrics[i]);
        previous.dataset.value = String(comparison.metrics[i]);
      }
      tile.querySelector(".hint").textContent = metric.visit && inProgress ? "incl. visits in progress" : "";
    });
  }

  // A time label without a row had no events: 0 of a count, but no rate or duration at all (a gap, not 0).
  function chartPoints(answer, metric) {
    var none = metric.kind === "count" ? 0 : null;
    var labels = (answer.meta && answer.meta.time_labels) || answer.results.map(function (r) { return r.dimensions[0]; });
    var byLabel = {};
    answer.results.forEach(function (r) { byLabel[r.dimensions[0]] = r; });
    return labels.map(function (label) {
      var row = byLabel[label], point = { label: label, value: row ? row.metrics[0] : none };
      if (row && row.comparison) {
        point.comparisonValue = row.comparison.metrics[0];
        point.comparisonLabel = row.comparison.dimensions[0];
      } else if (answer.meta && answer.meta.comparison_date_range) {
        point.comparisonValue = none;
      }
      return point;
    });
  }
  // tiles: the aggregate answer of the same view (or null): its figure for the metric is the chart's "whole range"
  function renderChart(answer, view, tiles) {
    var metric = metricByKey(view.metric), i = METRICS.indexOf(metric), row = tiles && tiles.results[0];
    $("chart-title").textContent = metric.label;
    renderRange(answer.query && answer.query.date_range, view);
    LI.chart.render($("chart"), {
      points: chartPoints(answer, metric), granularity: view.granularity, metricLabel: metric.label,
      aggregate: row ? row.metrics[i] : null, comparisonAggregate: row && row.comparison ? row.comparison.metrics[i] : null,
      format: function (v) { return formatMetric(metric, v); }, integer: metric.kind === "count",
      comparisonName: COMPARISONS[view.comparison],
      xTitle: view.granularity[0].toUpperCase() + view.granularity.slice(1) + " (" +
        ((sites[view.site] || {}).timezone || "UTC") + ")"
    });
  }

  // The days the API says the view covers (its echo, query.date_range, is the site's wall clock with its offset,
  // so it is shown as written), realtime's minutes; the period select is described by this text.
  function renderRange(range, view) {
    var holder = $("range");
    holder.textContent = "";
    shownRange = Array.isArray(range) && range.length === 2 ? range.map(String) : null;
    if (!shownRange) return;
    var first = shownRange[0], last = shownRange[1], minutes = view.period === "realtime";
    var oneDay = first.slice(0, 10) === last.slice(0, 10);
    var thisYear = today((sites[view.site] || {}).timezone || "UTC").slice(0, 4);
    var kind = minutes ? "hourShort" : oneDay ? "longDay" :
      first.slice(0, 4) === thisYear && last.slice(0, 4) === thisYear ? "day" : "dayYear";
    (minutes || !oneDay ? [first, last] : [first]).forEach(function (text, i) {
      if (i) holder.appendChild(document.createTextNode(" – "));
      var time = document.createElement("time");
      time.dateTime = minutes ? text : text.slice(0, 10);
      time.textContent = LI.chart.wallClock(text, kind);
      holder.appendChild(time);
    });
  }

  function aggregateBody(view) {
    return { metrics: METRICS.map(function (m) { return m.key; }), include: comparisonInclude(view) };
  }
  function timeseriesBody(view) {
    return { metrics: [view.metric], dimensions: ["time:" + view.granularity],
      include: comparisonInclude(view, { time_labels: true }) };
  }

  function loadLive() {
    if (!state) return Promise.resolve();
    return api("stats/realtime?site=" + encodeURIComponent(state.site)).then(function (live) {
      $("live-value").textContent = formatNumber(live.current_visitors);
      $("live-value").dataset.value = String(live.current_visitors);
      // seconds fresh from the minute counters, which hold no filters: say so when the view has some
      $("live-hint").textContent = state.filters.length ? "last 5 minutes, all traffic" : "last 5 minutes";
    });
  }

  // Draws the whole view; tiles and cards only when what they show changed (not for a metric or granularity).
  function show() {
    var view = state, gen = ++generation, range = dateRange(view);
    renderControls();
    renderChips();
    var scope = JSON.stringify([view.site, view.period, view.from, view.to, view.filters, view.comparison]);
    var whole = scope !== lastScope || view.period === "realtime";
    lastScope = scope;
    status(notes.concat(["Updating…"]).join(" "));
    var tiles = whole ? api("api/v2/query", { body: scoped(aggregateBody(view), view, range) }).then(function (answer) {
      if (scope === lastScope) totals = { scope: scope, answer: answer };
      if (gen === generation) renderTiles(answer, view);
      return answer;
    }) : Promise.resolve(totals && totals.scope === scope ? totals.answer : null);
    // The chart is drawn with the tiles' answer (the paint waits for both anyway); without it if that fails.
    var jobs = [api("api/v2/query", { body: scoped(timeseriesBody(view), view, range) }).then(function (answer) {
      return tiles.catch(function () { return null; }).then(function (aggregate) {
        if (gen === generation) renderChart(answer, view, aggregate);
      });
    }, function (error) {
      if (gen === generation) renderRange(null, view);
      throw error;
    })];
    if (whole) {
      jobs.push(tiles);
      jobs.push(loadLive());
      // The cards' queries (~8) go once the tiles and the chart have answered: sent with them, they shared the
      // server and the first paint waited for all of them (bench/dashboard_paint.py). Unless the view moved on.
      if (LI.cards && LI.cards.render) {
        jobs.push(Promise.all(jobs.slice(0, 2)).catch(function () {}).then(function () {
          if (scope === lastScope) LI.cards.render($("cards"), context(view, range));
        }));
      }
    } else {
      METRICS.forEach(function (m) { $("tile-" + m.key).setAttribute("aria-pressed", String(view.metric === m.key)); });
    }
    return Promise.all(jobs).then(function () {
      if (gen === generation) status(notes.concat(["Updated " + new Date().toLocaleTimeString([], { timeZone: (sites[view.site] || {}).timezone || "UTC" }) + "."]).join(" "));
    }, function (error) { if (gen === generation) failed(error); });
  }

  function failed(error) {
    if (error.code === "share_password_required" || (auth.link && error.status === 401 && auth.credential)) {
      auth.credential = null;
      sessionStorage.removeItem(SHARE_KEY + auth.link);
      return showOnly("unlock");
    }
    if (error.status === 401 && auth.link) return showOnly("unlock", "This link is not valid (revoked or expired).");
    if (error.status === 401) return signOut("That credential was not accepted.");
    status("Could not update: " + error.message);
  }

  function showOnly(which, message) {
    clearInterval(timer);
    ["signin", "unlock", "dashboard"].forEach(function (id) { $(id).hidden = id !== which; });
    $("controls").hidden = which !== "dashboard";
    if (which === "unlock") {
      $("unlock-error").textContent = message || "";
      $("unlock-password").hidden = !!message; $("unlock-submit").hidden = !!message;
      if (!message) $("unlock-password").focus();
    }
    if (which === "signin") $("signin-error").textContent = message || "";
  }

  // ---- start: a shared link (token in the fragment) or a signed-in credential ----
  // The tiles' and chart's queries of the view in the address go at once, beside the site list: show() takes
  // their answers if the view is still that one (it is, unless the site is not the caller's).
  function sendEarly() {
    var view = readUrl();
    if (!view.site) return;
    [aggregateBody(view), timeseriesBody(view)].forEach(function (body) {
      var options = { body: scoped(body, view) }, key = "api/v2/query " + JSON.stringify(options);
      early[key] = api("api/v2/query", options);
      early[key].catch(function () {});  // a refusal is shown when show() asks for the answer
    });
  }
  function start() {
    early = {};
    sendEarly();
    return api("stats/sites").then(function (body) {
      sites = {};
      body.sites.forEach(function (site) {
        var details = (body.site_details || {})[site] || {};
        sites[site] = { timezone: details.timezone || "UTC", goals: details.goals || [], properties: details.properties || [] };
      });
      return body.default_site;
    }, function (error) {
      // a shared link may not list sites: its one site is the page's `site`
      var wanted = new URLSearchParams(location.search).get("site");
      if (!auth.link || error.status !== 403 || !wanted) throw error;
      sites = {}; sites[wanted] = { timezone: "UTC", goals: [] };
      return wanted;
    }).then(function (defaultSite) {
      state = readUrl();
      if (!sites[state.site]) {
        if (state.site) notes.push("No site " + state.site + " here: showing " + (defaultSite || Object.keys(sites)[0]) + ".");
        state.site = defaultSite || Object.keys(sites)[0];
      }
      history.replaceState(null, "", urlOf(state));
      showOnly("dashboard");
      $("site-field").hidden = !!auth.link; $("shared-field").hidden = !auth.link; $("signout").hidden = !!auth.link;
      lastScope = "";
      schedule();
      var shown = show();
      early = {};  // answers of another view than the one shown are not wanted
      return shown;
    }).catch(failed);
  }

  function schedule() {
    clearInterval(timer);
    timer = setInterval(function () {
      if (document.visibilityState !== "visible" || !state) return;
      if (state.period === "realtime") show(); else loadLive().catch(failed);
    }, REFRESH_MS);
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state = null;
    showOnly("signin", message);
  }

  // The whole view as ONE file (a browser asks before letting a page save many): sections one after the other,
  // each a "# name" line then the API's CSV answer as it came, a blank line between them.
  function csvCell(value) {
    var text = String(value === null || value === undefined ? "" : value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function csvRow(cells) { return cells.map(csvCell).join(",") + "\r\n"; }
  function exportCsv() {
    var view = state, range = dateRange(view), dates = shownRange, metric = metricByKey(view.metric);
    var name = ["liveinsight", view.site, view.period].concat(dates ? [dates[0].slice(0, 10) + "_" +
      dates[1].slice(0, 10)] : []).join("-").replace(/[^A-Za-z0-9_.-]+/g, "-") + ".csv";
    var about = { title: "View", csv: csvRow(["site", "period", "first", "last", "time_zone", "comparison", "filters"]) +
      csvRow([view.site, view.period, dates ? dates[0] : "", dates ? dates[1] : "",
        (sites[view.site] || {}).timezone || "UTC", view.comparison, view.filters.map(function (f) {
          return f[1] + " " + f[0] + " " + f[2].join(" or ");
        }).join("; ")]) };
    var sections = [
      api("api/v2/query", { body: scoped(aggregateBody(view), view, range), accept: "text/csv" }).then(function (csv) {
        return { title: "Tiles", csv: csv };
      }),
      api("api/v2/query", { body: scoped(timeseriesBody(view), view, range), accept: "text/csv" }).then(function (csv) {
        return { title: "Chart: " + metric.label + " by " + view.granularity, csv: csv };
      }),
      LI.cards && LI.cards.exportAll ? LI.cards.exportAll(context(view, range)) : Promise.resolve([])
    ];
    $("export").disabled = true;
    status("Preparing the CSV file…");
    return Promise.all(sections).then(function (done) {
      var all = [about].concat(done.slice(0, 2), done[2] || []);
      download(name, all.map(function (section) {
        return csvRow(["# " + section.title]) + section.csv + (/\n$/.test(section.csv) ? "" : "\r\n");
      }).join("\r\n"));
      status("Downloaded " + name + " (" + all.length + " sections).");
    }).catch(failed).then(function () { $("export").disabled = false; });
  }
  function download(name, text) {
    var link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
  }

  function wire() {
    buildTiles();
    setOptions($("period"), Object.keys(PERIODS).map(function (k) { return [k, PERIODS[k].label]; }), DEFAULT_PERIOD);
    $("signin").addEventListener("submit", function (event) {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
      $("token").value = "";
      start();
    });
    $("unlock").addEventListener("submit", function (event) {
      event.preventDefault();
      api("share/unlock", { body: { token: auth.link, password: $("unlock-password").value } }).then(function (body) {
        auth.credential = body.token;
        sessionStorage.setItem(SHARE_KEY + auth.link, body.token);
        $("unlock-password").value = "";
        start();
      }, function (error) {
        $("unlock-error").textContent = error.code === "invalid_password" ? "That password is not right." :
          error.message;
      });
    });
    $("signout").addEventListener("click", function () { signOut(""); });
    $("site").addEventListener("change", function () { change({ site: $("site").value, filters: [] }); });
    $("period").addEventListener("change", function () {
      var period = $("period").value;
      if (period !== "custom") return change({ period: period, from: null, to: null });
      var end = today((sites[state.site] || {}).timezone || "UTC");
      change({ period: "custom", from: addDays(end, -6), to: end });
    });
    $("custom").addEventListener("submit", function (event) {
      event.preventDefault();
      var from = $("from").value, to = $("to").value;
      if (!isDate(from) || !isDate(to) || from > to) { status("Choose a first day on or before the last day."); return; }
      change({ period: "custom", from: from, to: to });
    });
    $("comparison").addEventListener("change", function () { change({ comparison: $("comparison").value }); });
    $("granularity").addEventListener("change", function () { change({ granularity: $("granularity").value }); });
    $("clear-filters").addEventListener("click", function () { change({ filters: [] }); $("period").focus(); });
    $("export").addEventListener("click", exportCsv);
    window.addEventListener("popstate", function () {
      if (!state) return;
      state = readUrl();
      if (!sites[state.site]) state.site = Object.keys(sites)[0];
      show();
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && state) loadLive().catch(failed);
    });
  }

  wire();
  var share = /(?:^#|&)share=([^&]+)/.exec(location.hash);
  if (share) {
    auth.link = decodeURIComponent(share[1]);
    auth.credential = sessionStorage.getItem(SHARE_KEY + auth.link);
    start();
  } else if (sessionStorage.getItem(TOKEN_KEY)) {
    start();
  } else {
    showOnly("signin");
  }
})();
