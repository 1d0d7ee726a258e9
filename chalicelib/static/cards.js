// LiveInsight dashboard cards (issue 15, contract C5): every number comes from the Stats API v2 through
// ctx.query / ctx.queryCsv / ctx.funnel; this file only lays rows out and formats them. No framework.
(function () {
  "use strict";
  const LI = window.LI = window.LI || {};
  const ROWS = 9;              // rows a card shows; "Details" shows the rest
  const PAGE = 20;             // rows a details page loads
  const PARALLEL = 4;          // queries in flight at once: Chalice's local server queues only 5 connections
  const MAX_STEPS = 8;         // the funnel API's bounds
  const MIN_STEPS = 2;
  const SEARCH_DELAY_MS = 250;

  const COUNT = { visitors: "Visitors", visits: "Visits", pageviews: "Pageviews", events: "Events" };
  const GOAL_HEADERS = { visitors: "Uniques", events: "Total", conversion_rate: "Conv. rate",
    total_revenue: "Revenue", average_revenue: "Average" };
  const REVENUE = ["total_revenue", "average_revenue"];
  const NONE_LABEL = { "visit:source": "Direct / None", "visit:channel": "Direct / None", "visit:referrer": "Direct / None",
    "visit:country": "Unknown" };

  const v = (slug, label, header, dimension, metrics, extra) =>
    Object.assign({ slug, label, header, dimension, metrics }, extra || {});
  const utm = (name) => v("utm-" + name, "UTM " + name, "UTM " + name, "visit:utm_" + name, ["visitors"]);
  const CARDS = [
    { id: "pages", title: "Pages", views: [
      v("top-pages", "Top pages", "Page", "event:page", ["visitors", "pageviews"]),
      v("entry-pages", "Entry pages", "Entry page", "visit:entry_page", ["visits"]),
      v("exit-pages", "Exit pages", "Exit page", "visit:exit_page", ["visits"])] },
    { id: "sources", title: "Sources", views: [
      v("channels", "Channels", "Channel", "visit:channel", ["visitors"]),
      v("sources", "Sources", "Source", "visit:source", ["visitors"]),
      v("referrers", "Referrers", "Referrer", "visit:referrer", ["visitors"]),
      utm("medium"), utm("source"), utm("campaign"), utm("content"), utm("term")] },
    { id: "locations", title: "Locations", views: [
      v("countries", "Countries", "Country", "visit:country", ["visitors"], { country: true })],
      // Countries without CloudFront's header come from DB-IP's database (CC BY 4.0), whose licence asks for this link.
      credit: { text: "IP geolocation by DB-IP", href: "https://db-ip.com" } },
    { id: "devices", title: "Devices", views: [
      v("browsers", "Browser", "Browser", "visit:browser", ["visitors"]),
      v("os", "OS", "Operating system", "visit:os", ["visitors"]),
      v("devices", "Device", "Device", "visit:device", ["visitors"])] },
    { id: "goals", title: "Goals", goals: true, views: [
      v("goals", "Goals", "Goal", "event:goal", ["visitors", "events", "conversion_rate"].concat(REVENUE),
        { headers: GOAL_HEADERS, optional: REVENUE })] },
    { id: "properties", title: "Properties", properties: true, views: [] },
    { id: "funnel", title: "Funnel", funnel: true, views: [] },
  ];

  const ui = { tab: {}, propKey: {}, steps: {} };  // what the user picked: kept across render() calls
  let current = null;  // {container, ctx, generation}
  let generation = 0;
  let uid = 0;

  // ---- small DOM helpers (no inline style attributes: CSP; widths are set through the CSSOM) ----
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach((key) => {
      const value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach((child) => child && node.appendChild(typeof child === "string" ? document.createTextNode(child) : child));
    return node;
  }
  const id = (prefix) => "li-" + prefix + "-" + (++uid);

  // ---- the API, a few requests at a time ----
  let active = 0;
  const waiting = [];
  function limited(call) {
    return new Promise((resolve, reject) => {
      const run = () => {
        active++;
        Promise.resolve().then(call).then(resolve, reject).then(() => { active--; if (waiting.length) waiting.shift()(); });
      };
      if (active < PARALLEL) run(); else waiting.push(run);
    });
  }
  const query = (ctx, body) => limited(() => ctx.query(body));
  const queryCsv = (ctx, body) => limited(() => ctx.queryCsv(body));
  const funnel = (ctx, body) => limited(() => ctx.funnel(body));
  const errorText = (error) => "Error: " + ((error && error.message) || String(error));

  // ---- formatting only ----
  function formatMetric(ctx, metric, value) {
    if (value === null || value === undefined) return "–";
    if (REVENUE.indexOf(metric) >= 0) return ctx.formatMoney(value.value, value.currency);
    if (metric === "conversion_rate" || metric === "percentage") return ctx.formatNumber(value) + "%";
    return ctx.formatNumber(value);
  }
  function countryLabel(ctx, code) {
    const name = (ctx.countryName && ctx.countryName(code)) || code;
    const flag = (ctx.countryFlag && ctx.countryFlag(code)) || "";
    return { text: (flag ? flag + " " : "") + name, title: name === code ? code : name + " (" + code + ")" };
  }
  function rowLabel(ctx, view, value) {
    if (value === null || value === undefined || value === "") {
      const none = NONE_LABEL[view.dimension] || "(not set)";
      return { text: none, title: none };
    }
    return view.country ? countryLabel(ctx, value) : { text: String(value), title: String(value) };
  }
  function rangeName(range) {
    return (Array.isArray(range) ? range.map((part) => String(part).slice(0, 10)).join("_") : String(range))
      .replace(/[^A-Za-z0-9_-]+/g, "-");
  }
  const fileName = (ctx, slug) => ctx.site + "-" + slug + "-" + rangeName(ctx.dateRange) + ".csv";
  const headerOf = (view, metric) => (view.headers && view.headers[metric]) || COUNT[metric] || metric;

  // ---- tables: a label cell with a proportional bar behind it, then one cell per metric ----
  function visibleMetrics(view, results) {
    return view.metrics.filter((metric, i) => (view.optional || []).indexOf(metric) < 0 ||
      results.some((row) => row.metrics[i] !== null && row.metrics[i] !== undefined));
  }
  function table(ctx, view, results, options) {
    const shown = visibleMetrics(view, results);
    const head = el("tr", {}, [el("th", { scope: "col", class: "li-label", text: view.header })]
      .concat(shown.map((m) => el("th", { scope: "col", class: "li-num", "data-metric": m, text: headerOf(view, m) }))));
    const body = el("tbody");
    appendRows(ctx, view, body, results, shown, options);
    return el("table", { class: shown.length > 3 ? "li-table li-wide" : "li-table" }, [
      options.caption ? el("caption", { class: "li-sr", text: options.caption }) : null, el("thead", {}, [head]), body]);
  }
  function appendRows(ctx, view, body, results, shown, options) {
    const max = options.max || Math.max.apply(null, results.map((row) => row.metrics[0] || 0).concat([1]));
    results.forEach((row) => {
      const value = row.dimensions[0];
      const label = rowLabel(ctx, view, value);
      const clickable = value !== null && value !== undefined && value !== "";
      const content = clickable
        ? el("button", { type: "button", class: "li-row", title: "Filter by " + view.header.toLowerCase() + ": " + label.title,
          "aria-label": label.title + " – filter the dashboard", "data-focus": "row:" + view.dimension + ":" + value,
          onclick: () => { if (options.onPick) options.onPick(); ctx.addFilter(view.dimension, value); } },
        [el("span", { class: "li-text", text: label.text })])
        : el("span", { class: "li-row li-text", title: label.title, text: label.text });
      const bar = el("span", { class: "li-bar", "aria-hidden": "true" });
      bar.style.width = Math.max(0, Math.min(100, ((row.metrics[0] || 0) / max) * 100)).toFixed(1) + "%";
      const cells = shown.map((metric) => {
        const i = view.metrics.indexOf(metric);
        return el("td", { class: "li-num", "data-metric": metric, text: formatMetric(ctx, metric, row.metrics[i]) });
      });
      body.appendChild(el("tr", { "data-value": clickable ? String(value) : "" },
        [el("th", { scope: "row", class: "li-label", title: label.title }, [bar, content])].concat(cells)));
    });
  }
  const message = (text, kind) => el("p", { class: "li-" + kind, role: kind === "error" ? "alert" : null, text });

  // ---- a card: title, Details, tabs, and a panel filled from one query ----
  function buildCard(def, ctx) {
    const titleId = id("title");
    const root = el("article", { class: "li-card", id: "card-" + def.id, "aria-labelledby": titleId, "data-card": def.id });
    const details = def.funnel
      // the funnel has no details view: its CSV, the one thing details would add, is downloaded from the card
      ? el("button", { type: "button", class: "li-csv", "data-focus": "csv:" + def.id, text: "Download CSV",
        "aria-label": "Download CSV: " + def.title })
      : el("button", { type: "button", class: "li-details-btn", "data-focus": "details:" + def.id, text: "Details",
        "aria-label": "Details: " + def.title });
    root.appendChild(el("div", { class: "li-card-head" }, [el("h2", { id: titleId, text: def.title }), details]));
    const panel = el("div", { class: "li-panel" });
    if (def.views.length > 1) {
      root.appendChild(tabs(def, panel, ctx));
    }
    root.appendChild(panel);
    if (def.credit) root.appendChild(el("p", { class: "li-credit" }, [el("a", { href: def.credit.href, rel: "noopener", text: def.credit.text })]));
    if (def.funnel) { funnelCard(ctx, panel, details); return root; }
    const viewOf = () => (def.properties ? propertyView(ctx) : def.views.find((x) => x.slug === ui.tab[def.id]) || def.views[0]);
    details.addEventListener("click", () => { const view = viewOf(); if (view) openDetails(ctx, view); });
    if (def.properties) { propertiesCard(ctx, panel, details); return root; }
    if (def.goals && !(ctx.goals || []).length) {
      panel.appendChild(message("No goals are configured for this site.", "empty"));
      details.disabled = true;
      return root;
    }
    fillPanel(ctx, panel, viewOf());
    return root;
  }

  function tabs(def, panel, ctx) {
    const list = el("div", { role: "tablist", class: "li-tabs", "aria-label": def.title });
    const selected = ui.tab[def.id] || def.views[0].slug;
    panel.setAttribute("role", "tabpanel");
    panel.id = id("panel");
    const buttons = def.views.map((view) => {
      const on = view.slug === selected;
      const tab = el("button", { type: "button", role: "tab", id: id("tab"), class: "li-tab", "aria-selected": on ? "true" : "false",
        "aria-controls": panel.id, tabindex: on ? "0" : "-1", "data-view": view.slug, "data-focus": "tab:" + def.id + ":" + view.slug,
        text: view.label });
      if (on) panel.setAttribute("aria-labelledby", tab.id);
      return tab;
    });
    function select(index, focus) {
      buttons.forEach((tab, i) => {
        tab.setAttribute("aria-selected", i === index ? "true" : "false");
        tab.tabIndex = i === index ? 0 : -1;
      });
      if (focus) buttons[index].focus();
      ui.tab[def.id] = def.views[index].slug;
      panel.setAttribute("aria-labelledby", buttons[index].id);
      fillPanel(ctx, panel, def.views[index]);
    }
    buttons.forEach((tab, i) => {
      tab.addEventListener("click", () => select(i, false));
      tab.addEventListener("keydown", (event) => {
        const last = buttons.length - 1;
        const to = { ArrowRight: i === last ? 0 : i + 1, ArrowLeft: i === 0 ? last : i - 1, Home: 0, End: last }[event.key];
        if (to === undefined) return;
        event.preventDefault();
        select(to, true);
      });
      list.appendChild(tab);
    });
    return list;
  }

  function fillPanel(ctx, panel, view) {
    const mine = generation;
    const ticket = panel.dataset.ticket = String(Number(panel.dataset.ticket || 0) + 1);
    panel.setAttribute("aria-busy", "true");
    panel.setAttribute("data-keep", view.slug);
    const fresh = () => mine === generation && panel.dataset.ticket === ticket;
    return query(ctx, { metrics: view.metrics, dimensions: [view.dimension], pagination: { limit: ROWS, offset: 0 } })
      .then((answer) => {
        if (!fresh()) return;
        panel.textContent = "";
        panel.setAttribute("data-view", view.slug);
        if (!answer.results.length) panel.appendChild(message("No data for this range", "empty"));
        else panel.appendChild(table(ctx, view, answer.results, { caption: view.label }));
      }, (error) => {
        if (!fresh()) return;
        panel.textContent = "";
        panel.appendChild(message(errorText(error), "error"));
      })
      .then(() => { if (fresh()) { panel.removeAttribute("aria-busy"); restoreFocus(panel); } });
  }

  // ---- properties: the API cannot list property keys, so the key is typed (suggestions: keys used before) ----
  const KEYS_STORE = "liveinsight.propertyKeys.";
  function knownKeys(ctx) {
    let stored = [];
    try { stored = JSON.parse(localStorage.getItem(KEYS_STORE + ctx.site) || "[]"); } catch (e) { stored = []; }
    const fromFilters = [];
    (function walk(filters) {
      (filters || []).forEach((f) => {
        if (!Array.isArray(f)) return;
        if (typeof f[1] === "string" && f[1].indexOf("event:props:") === 0) fromFilters.push(f[1].slice(12));
        else if (Array.isArray(f[1])) walk(f[1]);
        else if (f[0] === "not") walk([f[1]]);
      });
    })(ctx.filters);
    return (ctx.propertyKeys || []).concat(fromFilters, stored).filter((k, i, all) => k && all.indexOf(k) === i);
  }
  function rememberKey(ctx, key) {
    const keys = [key].concat(knownKeys(ctx).filter((k) => k !== key)).slice(0, 20);
    try { localStorage.setItem(KEYS_STORE + ctx.site, JSON.stringify(keys)); } catch (e) { /* private mode: no memory */ }
  }
  function propertyView(ctx) {
    const key = ui.propKey[ctx.site];
    return key ? v("property-" + key, key, key, "event:props:" + key, ["visitors", "events"]) : null;
  }
  function propertiesCard(ctx, panel, details) {
    const keys = knownKeys(ctx);
    if (!ui.propKey[ctx.site] && keys.length) ui.propKey[ctx.site] = keys[0];
    const listId = id("keys");
    const input = el("input", { type: "text", id: id("key"), list: listId, class: "li-key", value: ui.propKey[ctx.site] || "",
      placeholder: "e.g. plan", required: true, maxlength: "200", autocomplete: "off", spellcheck: "false" });
    const form = el("form", { class: "li-form li-key-form" }, [
      el("label", { for: input.id, text: "Property" }), input,
      el("datalist", { id: listId }, keys.map((k) => el("option", { value: k }))),
      el("button", { type: "submit", text: "Show" })]);
    const results = el("div", { class: "li-panel", "aria-live": "polite" });
    panel.appendChild(form);
    panel.appendChild(results);
    const show = () => {
      const view = propertyView(ctx);
      details.disabled = !view;
      if (view) fillPanel(ctx, results, view);
      else results.replaceChildren(message("Type a custom property key to see its values.", "empty"));
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      ui.propKey[ctx.site] = key;
      rememberKey(ctx, key);
      show();
    });
    show();
  }

  // ---- funnel: 2-8 goals in order, POST /api/v2/funnel ----
  // the API refuses goal filters on funnels (their steps are goals)
  const goalFiltered = (ctx) => (ctx.filters || []).some((f) => Array.isArray(f) && f[1] === "event:goal");
  // The steps the funnel card shows (null: it shows none), so that its CSV and the whole view's are that funnel.
  function funnelSteps(ctx) {
    const goals = ctx.goals || [];
    if (goals.length < MIN_STEPS || goalFiltered(ctx)) return null;
    const steps = (ui.steps[ctx.site] || goals.slice(0, Math.min(goals.length, 4))).filter((g) => goals.indexOf(g) >= 0);
    return steps.length < MIN_STEPS ? goals.slice(0, MIN_STEPS) : steps;
  }
  function funnelCard(ctx, panel, csv) {
    const steps = funnelSteps(ctx);
    csv.disabled = !steps;
    if (!steps) {
      panel.appendChild(message(goalFiltered(ctx) ? "A funnel's steps are goals: remove the goal filter to see the funnel."
        : "A funnel needs at least two goals configured for this site.", "empty"));
      return;
    }
    const goals = ctx.goals;
    let drawn = steps.slice();  // the funnel on screen (the form may hold steps not yet shown)
    const form = el("form", { class: "li-form li-funnel-form", "aria-label": "Funnel steps" });
    const result = el("div", { class: "li-funnel-result", "aria-live": "polite" });
    function drawForm() {
      form.textContent = "";
      steps.forEach((step, i) => {
        const select = el("select", { id: id("step"), "data-step": String(i) },
          goals.map((g) => el("option", { value: g, selected: g === step, text: g })));
        select.addEventListener("change", () => { steps[i] = select.value; });
        form.appendChild(el("span", { class: "li-step" }, [el("label", { for: select.id, text: "Step " + (i + 1) }), select]));
      });
      const more = el("button", { type: "button", text: "Add step", disabled: steps.length >= MAX_STEPS });
      more.addEventListener("click", () => { steps.push(goals[steps.length % goals.length]); drawForm(); });
      const fewer = el("button", { type: "button", text: "Remove step", disabled: steps.length <= MIN_STEPS });
      fewer.addEventListener("click", () => { steps.pop(); drawForm(); });
      form.appendChild(el("span", { class: "li-step-actions" }, [more, fewer, el("button", { type: "submit", text: "Show funnel" })]));
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      ui.steps[ctx.site] = steps.slice();
      drawn = steps.slice();
      drawFunnel(ctx, result, drawn.slice());
    });
    csv.addEventListener("click", () => {
      csv.disabled = true;
      const asked = drawn.slice();
      limited(() => ctx.funnelCsv({ steps: asked })).then((text) => download(fileName(ctx, "funnel"), text),
        (error) => { result.replaceChildren(message(errorText(error), "error")); }).then(() => { csv.disabled = false; });
    });
    drawForm();
    panel.appendChild(form);
    panel.appendChild(result);
    drawFunnel(ctx, result, drawn.slice());
  }
  function drawFunnel(ctx, result, steps) {
    const mine = generation;
    const ticket = result.dataset.ticket = String(Number(result.dataset.ticket || 0) + 1);
    const fresh = () => mine === generation && result.dataset.ticket === ticket;
    result.setAttribute("aria-busy", "true");
    result.setAttribute("data-keep", "funnel:" + steps.join("\n"));
    return funnel(ctx, { steps }).then((answer) => {
      if (!fresh()) return;
      const r = answer.results;
      result.textContent = "";
      if (!r.all_visitors) { result.appendChild(message("No data for this range", "empty")); return; }
      const view = v("funnel", "Funnel", "Step", "event:goal", ["visitors", "conversion_rate", "dropoff"],
        { headers: { visitors: "Visitors", conversion_rate: "Conv. rate", dropoff: "Drop-off" } });
      const rows = r.steps.map((s) => ({ dimensions: [s.label], metrics: [s.visitors, s.conversion_rate, s.dropoff] }));
      const t = table(ctx, view, rows, { caption: "Funnel: " + steps.join(", "), max: Math.max(r.steps[0].visitors, 1) });
      Array.prototype.forEach.call(t.tBodies[0].rows, (tr, i) => {
        const s = r.steps[i];
        tr.cells[2].textContent = s.conversion_rate + "%";
        const narrow = window.matchMedia && window.matchMedia("(max-width: 480px)").matches;  // a phone: % only
        tr.cells[3].textContent = !i ? "–" : narrow ? s.dropoff_percentage + "%"
          : ctx.formatNumber(s.dropoff) + " (" + s.dropoff_percentage + "%)";
      });
      result.appendChild(t);
      result.appendChild(el("p", { class: "li-note", text: ctx.formatNumber(r.entering_visitors) + " of " +
        ctx.formatNumber(r.all_visitors) + " visitors entered the funnel (" + r.entering_visitors_percentage + "%)" }));
    }, (error) => {
      if (!fresh()) return;
      result.textContent = "";
      result.appendChild(message(errorText(error), "error"));
    }).then(() => { if (fresh()) result.removeAttribute("aria-busy"); });
  }

  // ---- details: a modal dialog with search, sorting, pages and CSV ----
  function openDetails(ctx, view) {
    const titleId = id("dtitle");
    const dialog = el("dialog", { class: "li-dialog", "aria-labelledby": titleId, "data-view": view.slug });
    const search = el("input", { type: "search", id: id("search"), class: "li-search", autocomplete: "off",
      placeholder: "Search " + view.header.toLowerCase() });
    const status = el("p", { class: "li-note", "aria-live": "polite" });
    const holder = el("div", { class: "li-dialog-table" });
    const more = el("button", { type: "button", class: "li-more", text: "Load more", hidden: true });
    const csv = el("button", { type: "button", class: "li-csv", text: "Download CSV" });
    const close = el("button", { type: "button", class: "li-close", text: "Close", "aria-label": "Close details" });
    dialog.appendChild(el("div", { class: "li-card-head" }, [el("h2", { id: titleId, text: view.label }), close]));
    dialog.appendChild(el("div", { class: "li-form" }, [el("label", { for: search.id, text: "Search" }), search, csv]));
    dialog.appendChild(status);
    dialog.appendChild(holder);
    dialog.appendChild(more);
    const state = { order: [view.metrics[0], "desc"], offset: 0, rows: [], seq: 0, timer: null };

    function body(paged) {
      const term = search.value.trim();
      const b = { metrics: view.metrics, dimensions: [view.dimension], order_by: [state.order] };
      if (term) b.filters = [["contains", view.dimension, [term], { case_sensitive: false }]];
      if (paged) { b.pagination = { limit: PAGE, offset: state.offset }; b.include = { total_rows: true }; }
      return b;
    }
    function load(reset) {
      if (reset) { state.offset = 0; state.rows = []; }
      const seq = ++state.seq;
      dialog.setAttribute("aria-busy", "true");
      more.disabled = true;
      return query(ctx, body(true)).then((answer) => {
        if (seq !== state.seq) return;
        state.rows = state.rows.concat(answer.results);
        state.offset = state.rows.length;
        const total = answer.meta && answer.meta.total_rows;
        draw();
        more.hidden = total === undefined ? answer.results.length < PAGE : state.rows.length >= total;
        status.textContent = state.rows.length ? "Showing " + ctx.formatNumber(state.rows.length) +
          (total === undefined ? "" : " of " + ctx.formatNumber(total)) : "";
      }, (error) => {
        if (seq !== state.seq) return;
        holder.replaceChildren(message(errorText(error), "error"));
        more.hidden = true;
      }).then(() => { if (seq === state.seq) { dialog.removeAttribute("aria-busy"); more.disabled = false; } });
    }
    function draw() {
      if (!state.rows.length) { holder.replaceChildren(message("No data for this range", "empty")); return; }
      const t = table(ctx, view, state.rows, { caption: view.label, onPick: () => dialog.close() });
      Array.prototype.forEach.call(t.tHead.rows[0].cells, (th, i) => {
        const key = i ? th.getAttribute("data-metric") : view.dimension;
        const on = state.order[0] === key;
        th.setAttribute("aria-sort", on ? (state.order[1] === "asc" ? "ascending" : "descending") : "none");
        const sort = el("button", { type: "button", class: "li-sort", "data-sort": key, text: th.textContent + (on ? (state.order[1] === "asc" ? " ▲" : " ▼") : "") });
        sort.addEventListener("click", () => {
          state.order = [key, on && state.order[1] === "desc" ? "asc" : on ? "desc" : (i ? "desc" : "asc")];
          load(true).then(() => { const again = holder.querySelector('[data-sort="' + CSS.escape(key) + '"]'); if (again) again.focus(); });
        });
        th.replaceChildren(sort);
      });
      holder.replaceChildren(t);
    }
    search.addEventListener("input", () => { clearTimeout(state.timer); state.timer = setTimeout(() => load(true), SEARCH_DELAY_MS); });
    more.addEventListener("click", () => load(false));
    close.addEventListener("click", () => dialog.close());
    csv.addEventListener("click", () => {
      csv.disabled = true;
      queryCsv(ctx, body(false)).then((text) => download(fileName(ctx, view.slug), text),
        (error) => { status.textContent = errorText(error); }).then(() => { csv.disabled = false; });
    });
    dialog.addEventListener("close", () => { clearTimeout(state.timer); dialog.remove(); });
    document.body.appendChild(dialog);
    dialog.showModal();
    search.focus();
    return load(true);
  }

  function download(name, text) {
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // ---- focus survives a re-render: the element with the same data-focus key gets it back ----
  let focusKey = null;
  function restoreFocus(scope) {
    if (!focusKey) return;
    const target = scope.querySelector('[data-focus="' + CSS.escape(focusKey) + '"]');
    if (target) { target.focus(); focusKey = null; }
  }

  function render(container, ctx) {
    generation++;
    const focused = document.activeElement;
    if (focused && container.contains(focused) && focused.getAttribute("data-focus")) focusKey = focused.getAttribute("data-focus");
    current = { container, ctx };
    container.classList.add("li-cards");
    const before = {};  // the rows on screen, kept in place until the new answer replaces them (no flicker)
    container.querySelectorAll("[data-keep]").forEach((node) => { before[node.getAttribute("data-keep")] = node; });
    container.replaceChildren.apply(container, CARDS.map((def) => buildCard(def, ctx)));
    container.querySelectorAll("[data-keep]").forEach((node) => {
      const old = before[node.getAttribute("data-keep")];
      if (old && node.getAttribute("aria-busy") && !node.firstChild) node.replaceChildren.apply(node, Array.from(old.childNodes));
    });
    restoreFocus(container);
  }

  // Every tab of every card (and the current property and funnel) as the API's CSV, for "export the view":
  // [{name, title, csv}], title naming the card and tab ("Pages: Top pages").
  function exportAll(given) {
    const ctx = given || (current && current.ctx);
    if (!ctx) return Promise.resolve([]);
    const jobs = [];
    CARDS.forEach((def) => {
      let views = def.views;
      if (def.goals && !(ctx.goals || []).length) views = [];
      if (def.properties) views = propertyView(ctx) ? [propertyView(ctx)] : [];
      views.forEach((view) => jobs.push(queryCsv(ctx, { metrics: view.metrics, dimensions: [view.dimension] })
        .then((csv) => ({ name: fileName(ctx, view.slug), title: def.title === view.label && views.length === 1 ? def.title
          : def.title + ": " + view.label, csv }))));
    });
    const steps = funnelSteps(ctx);
    if (steps && ctx.funnelCsv) {
      jobs.push(limited(() => ctx.funnelCsv({ steps })).then((csv) => ({ name: fileName(ctx, "funnel"),
        title: "Funnel: " + steps.join(" > "), csv })));
    }
    return Promise.all(jobs);
  }

  LI.cards = { render, exportAll, cards: CARDS.map((def) => def.id) };
})();
