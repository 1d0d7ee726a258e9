// LiveInsight dashboard: plain JavaScript, no external code. Reads the token-protected stats API
// relative to this page, so it works under any API Gateway stage (/prod/dashboard -> /prod/stats).
(function () {
  "use strict";
  var TOKEN_KEY = "liveinsight.token";
  var REFRESH_MS = 10000;
  var TABLES = ["page", "referrer", "country", "device", "browser", "utm_campaign"];
  var $ = function (id) { return document.getElementById(id); };
  var timer = null;

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function api(path) {
    return fetch(path, { headers: { Authorization: "Bearer " + token() } }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          var error = new Error((body.error && body.error.message) || response.statusText);
          error.status = response.status;
          throw error;
        }
        return body;
      });
    });
  }

  function rangeQuery() {
    var now = Date.now(), choice = $("range").value, day = 86400000;
    if (choice === "realtime") return { from: now - 30 * 60000, to: now, interval: "minute" };
    if (choice === "today") {
      var midnight = new Date(); midnight.setHours(0, 0, 0, 0);
      return { from: midnight.getTime(), to: now, interval: now - midnight.getTime() <= 6 * 3600000 ? "minute" : "hour" };
    }
    if (choice === "7d") return { from: now - 7 * day, to: now, interval: "hour" };
    return { from: now - 30 * day, to: now, interval: "day" };
  }

  function qs(params) {
    return Object.keys(params).map(function (k) { return k + "=" + encodeURIComponent(params[k]); }).join("&");
  }

  function number(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString(); }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
    return m ? m + "m " + s + "s" : s + "s";
  }

  function drawBars(svg, points, key) {
    var max = Math.max.apply(null, points.map(function (p) { return p[key]; }).concat([1]));
    var width = 600 / Math.max(points.length, 1), total = 0;
    svg.innerHTML = "";
    points.forEach(function (p, i) {
      total += p[key];
      var height = Math.round((p[key] / max) * 150);
      var bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      bar.setAttribute("x", String(i * width + 1));
      bar.setAttribute("y", String(160 - height));
      bar.setAttribute("width", String(Math.max(width - 2, 1)));
      bar.setAttribute("height", String(height));
      bar.setAttribute("data-count", String(p[key]));
      var title = document.createElementNS("http://www.w3.org/2000/svg", "title");
      title.textContent = p.t + ": " + p[key];
      bar.appendChild(title);
      svg.appendChild(bar);
    });
    svg.setAttribute("data-total", String(total));
  }

  function fillTable(name, results) {
    var table = $("table-" + name);
    table.innerHTML = "";
    if (!results.length) {
      table.insertRow().insertCell().outerHTML = '<td class="empty">No data yet</td>';
      return;
    }
    results.forEach(function (r) {
      var row = table.insertRow();
      var label = row.insertCell(); label.textContent = r.value; label.title = r.value;
      var count = row.insertCell(); count.className = "count"; count.textContent = number(r.count);
    });
  }

  function refresh() {
    var site = $("site").value, range = rangeQuery();
    var scope = qs({ site: site, from: range.from, to: range.to, interval: range.interval });
    $("status").textContent = "Updating…";
    return Promise.all([
      api("stats/realtime?" + qs({ site: site })),
      api("stats?" + scope)
    ].concat(TABLES.map(function (by) { return api("stats/breakdown?" + scope + "&limit=8&by=" + by); })))
      .then(function (answers) {
        var realtime = answers[0], summary = answers[1], totals = summary.totals;
        $("tile-current").textContent = number(realtime.current_visitors);
        $("tile-pageviews").textContent = number(totals.pageviews);
        $("tile-sessions").textContent = number(totals.sessions);
        $("tile-bounce").textContent = totals.bounce_rate === null ? "–" : totals.bounce_rate + "%";
        $("tile-duration").textContent = duration(totals.avg_session_duration_seconds);
        Array.prototype.forEach.call(document.querySelectorAll(".range-hint"), function (el) {
          el.textContent = $("range").selectedOptions[0].textContent.toLowerCase();
        });
        drawBars($("chart"), realtime.per_minute, "pageviews");
        $("chart-start").textContent = new Date(realtime.per_minute[0].t).toLocaleTimeString();
        $("chart-end").textContent = "now";
        var rangeCard = $("range-card");
        rangeCard.hidden = $("range").value === "realtime";
        if (!rangeCard.hidden) {
          $("range-title").textContent = "per " + summary.interval;
          drawBars($("range-chart"), summary.series, "pageviews");
        }
        TABLES.forEach(function (by, i) { fillTable(by, answers[2 + i].results); });
        $("status").textContent = "Updated " + new Date().toLocaleTimeString();
      })
      .catch(function (error) {
        if (error.status === 401) { signOut("That token was not accepted."); return; }
        $("status").textContent = "Could not update: " + error.message;
      });
  }

  function schedule() {
    clearInterval(timer);
    timer = setInterval(function () { if (document.visibilityState === "visible") refresh(); }, REFRESH_MS);
  }

  function start() {
    return api("stats/sites").then(function (body) {
      var select = $("site");
      select.innerHTML = "";
      body.sites.forEach(function (site) {
        var option = document.createElement("option");
        option.value = option.textContent = site;
        option.selected = site === body.default_site;
        select.appendChild(option);
      });
      $("signin").hidden = true;
      $("signin-error").textContent = "";
      $("controls").hidden = false;
      $("dashboard").hidden = false;
      schedule();
      return refresh();
    }).catch(function (error) {
      signOut(error.status === 401 ? "That token was not accepted." : "Could not reach LiveInsight: " + error.message);
    });
  }

  function signOut(message) {
    clearInterval(timer);
    sessionStorage.removeItem(TOKEN_KEY);
    $("dashboard").hidden = true;
    $("controls").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
  }

  $("signin").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("signout").addEventListener("click", function () { signOut(""); });
  $("site").addEventListener("change", refresh);
  $("range").addEventListener("change", refresh);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible" && token()) refresh(); });

  if (token()) start(); else signOut("");
})();
