// A stand-in for SHELL's app.js in tests/e2e/test_dashboard_cards.py: the ctx of contract C5 against the
// running local stack's POST /api/v2/query and /api/v2/funnel. Its config comes in the URL's fragment.
(function () {
  "use strict";
  var config = JSON.parse(decodeURIComponent(location.hash.slice(1)));
  window.addedFilters = [];
  function post(path, body, csv) {
    return fetch(path, { method: "POST", headers: { Authorization: "Bearer " + config.token,
      "Content-Type": "application/json", Accept: csv ? "text/csv" : "application/json" }, body: JSON.stringify(body) })
      .then(function (response) {
        if (!response.ok) return response.json().then(function (b) { throw new Error(b.error); });
        return csv ? response.text() : response.json();
      });
  }
  function full(body) {
    var out = Object.assign({}, body, { site_id: config.site, date_range: config.dateRange });
    var filters = ctx.filters.concat(body.filters || []);
    if (filters.length) out.filters = filters;
    return out;
  }
  var names = new Intl.DisplayNames(["en"], { type: "region" });
  var ctx = {
    site: config.site, timezone: "UTC", goals: config.goals, dateRange: config.dateRange, filters: config.filters || [],
    query: function (body) { return post("/api/v2/query", full(body), false); },
    queryCsv: function (body) { return post("/api/v2/query", full(body), true); },
    funnel: function (body) { return post("/api/v2/funnel", full(body), false); },
    funnelCsv: function (body) { return post("/api/v2/funnel", full(body), true); },
    addFilter: function (dimension, value) {
      window.addedFilters.push([dimension, value]);
      ctx.filters = ctx.filters.concat([["is", dimension, [value]]]);
      LI.cards.render(document.getElementById("cards"), ctx);
    },
    countryName: function (code) { try { return names.of(code) || code; } catch (e) { return code; } },
    countryFlag: function (code) {
      return /^[A-Z]{2}$/.test(code) ? String.fromCodePoint.apply(null, code.split("").map(function (c) {
        return 0x1f1a5 + c.charCodeAt(0); })) : "";
    },
    formatNumber: function (n) { return Number(n).toLocaleString("en-US"); },
    formatDuration: function (s) { return s + "s"; },
    formatMoney: function (amount, currency) {
      return new Intl.NumberFormat("en-US", { style: "currency", currency: currency }).format(amount);
    }
  };
  window.fixtureCtx = ctx;
  LI.cards.render(document.getElementById("cards"), ctx);
})();
