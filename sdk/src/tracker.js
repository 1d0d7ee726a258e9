// LiveInsight tracker. One implementation behind both builds: the <script> snippet (snippet.js)
// and the ES module for bundlers (index.js). Everything it touches comes from `win`, so tests can
// hand it a fake window. It must never break the host page: every entry point is guarded.

const BATCH_EVENTS = 25; // a request carries at most 25 events...
const BATCH_BYTES = 60000; // ...and stays under the 64 KB the server and keepalive allow
const FLUSH_MS = 1000;
const NEXT_PAGE_MS = 10000; // a page left this soon after a click on a link of its site: the next page sends
const QUEUE_MAX = 500; // failed events kept for retry, oldest dropped first
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 60000;
const QUEUE_KEY = "liveinsight:queue";
const OPT_OUT_KEY = "liveinsight:optout";
const ID_KEY = "liveinsight:id";

export function createTracker(config, win) {
  const doc = win.document;
  const nav = win.navigator || {};
  const endpoint = config.api.replace(/\/+$/, "") + "/events";
  const memory = {}; // stands in for localStorage when it is blocked
  let buffer = [];
  let timer = 0;
  let retryTimer = 0;
  let failures = 0;
  let userId = null;
  let lastView = null;
  // The current page view: its url (null before the first), deepest scroll, and since when it has
  // been visible (0 while hidden). Engagement is sent at every hide, so no visible time is carried.
  let pageUrl = null;
  let scrollPct = 0;
  let reportedPct = 0; // the deepest scroll already sent for this page view
  let visibleSince = 0;
  let first = 1; // this page's first flush also sends what earlier pages left in storage
  let clickedIn = 0; // when a link to this site was last clicked: the page is likely left for another of it

  const guard = (fn) => (...args) => {
    try {
      return fn(...args);
    } catch (e) {
      /* never let an analytics error reach the page */
    }
  };
  const load = (key) => {
    try {
      return win.localStorage.getItem(key);
    } catch (e) {
      return memory[key]; // undefined when never saved: every caller reads it as "not set"
    }
  };
  const save = (key, value) => {
    try {
      value == null ? win.localStorage.removeItem(key) : win.localStorage.setItem(key, value);
    } catch (e) {
      memory[key] = value;
    }
  };
  // A v4 UUID from getRandomValues, which (unlike randomUUID) also works on plain http pages.
  const uuid = () => "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
    (c ^ (win.crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));
  const now = () => Date.now();
  const visible = () => doc.visibilityState == "visible";

  const disabled = () => load(OPT_OUT_KEY) == "1" || (config.respectDnt && (nav.doNotTrack || win.doNotTrack) == 1);
  const stored = () => {
    try {
      return JSON.parse(load(QUEUE_KEY)) || [];
    } catch (e) {
      return [];
    }
  };
  const store = (events) => save(QUEUE_KEY, events.length ? JSON.stringify(events.slice(-QUEUE_MAX)) : null);
  const forget = (events) => {
    const ids = events.map((e) => e.event_id);
    store(stored().filter((e) => ids.indexOf(e.event_id) < 0));
  };

  const retryLater = () => {
    failures++;
    win.clearTimeout(retryTimer);
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (failures - 1));
    retryTimer = win.setTimeout(guard(resend), (ceiling * (1 + Math.random())) / 2);
  };

  // Per-event answers: `retry` is resent; accepted, duplicate, invalid and dropped are done.
  const settle = (events, statuses) => {
    const done = events.filter((e, i) => (statuses[i] || {}).status != "retry");
    forget(done);
    done.length < events.length ? retryLater() : (failures = 0);
  };

  const send = (events) => {
    // navigator.userAgentData serialises to its low-entropy hints {brands, mobile, platform}: what a
    // reduced User-Agent hides (the server prefers them; beacons carry no Sec-CH-UA headers).
    const body = JSON.stringify({ events, client_hints: nav.userAgentData });
    // A string body is sent as text/plain;charset=UTF-8 (fetch's default): a "simple" request, no CORS
    // preflight, and cross-origin no cookies. keepalive lets it outlive the page; what fails (a keepalive
    // quota, a network error) stays stored for a retry or the next page.
    win.fetch(endpoint, { method: "POST", body, keepalive: true }).then((response) => {
      const status = response.status;
      // fetch resolves with a status from 200 (a network error rejects instead)
      if (status < 300 || status == 503) {
        return response.json().then((answer) => settle(events, answer.events || []));
      }
      // Other 4xx answers say the events are wrong: resending cannot help. 408, 429, 5xx: retry.
      status > 399 && status < 500 && status != 408 && status != 429 ? forget(events) : retryLater();
    }).catch(retryLater);
  };

  const batches = (events) => {
    const out = [];
    let current = [];
    let bytes = 0;
    events.forEach((e) => {
      const size = JSON.stringify(e).length + 1;
      if (current.length && (current.length >= BATCH_EVENTS || bytes + size > BATCH_BYTES)) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push(e);
      bytes += size;
    });
    current.length && out.push(current);
    return out;
  };

  function resend() {
    batches(stored()).forEach(send);
  }

  const flush = (leaving) => {
    win.clearTimeout(timer);
    timer = 0;
    const events = buffer.splice(0);
    // Kept until the server answers: a page that closes mid-request resends them on the next
    // page, and the server recognises the event ids, so nothing is lost or counted twice.
    const queue = stored().concat(events);
    store(queue);
    // Left for a page of this site: its page view carries them (one request, not two). Should it never
    // come, a later visit delivers them; any other leaving sends them now.
    if (leaving && now() - clickedIn < NEXT_PAGE_MS) return;
    batches(first ? queue : events).forEach(send);
    first = 0;
  };

  const enqueue = (type, properties, extra) => {
    if (disabled()) return;
    const event = { event_type: type, event_id: uuid(), timestamp: now(), page_url: win.location.href };
    if (config.site) event.site = config.site;
    if (userId) event.user_id = userId;
    if (properties) event.properties = properties;
    buffer.push(Object.assign(event, extra));
    if (buffer.length >= BATCH_EVENTS) flush();
    else timer = timer || win.setTimeout(guard(flush), FLUSH_MS);
  };

  // Revenue as the server takes it: an ISO 4217 code and an amount below 10^14, sent as decimal text
  // (19.90 stays exact; 32 characters at most). Anything else is left off: the server would refuse
  // the whole event for it, and the event still counts without its revenue.
  const revenue = (options) => {
    const r = (options || {}).revenue || {};
    const valid = /^([A-Z]{3}) (?=.{1,32}$)(-?\d{1,14}(\.\d+)?)$/.exec(r.currency + " " + r.amount);
    return valid && { revenue: { amount: valid[2], currency: valid[1] } };
  };

  // Time on page and scroll depth, sent when the page is hidden or left.
  const engagement = () => {
    if (!pageUrl) return;
    const ms = visibleSince ? now() - visibleSince : 0;
    // Hidden, then left (visibilitychange, pagehide): the second has nothing new to say, and says nothing.
    if (ms >= 1000 || scrollPct > reportedPct) {
      enqueue("engagement", { engaged_ms: ms, scroll_pct: scrollPct }, { page_url: pageUrl });
      reportedPct = scrollPct;
    }
    visibleSince = visible() ? now() : 0;
  };

  const pageview = () => {
    const l = win.location;
    const key = l.pathname + l.search + (config.hash ? l.hash : "");
    if (key == lastView) return; // one page view per view: replaceState or a repeated event is not a new one
    const referrer = pageUrl || doc.referrer;
    engagement();
    lastView = key;
    pageUrl = l.href;
    scrollPct = reportedPct = 0;
    visibleSince = visible() ? now() : 0;
    enqueue("page_view", null, { title: doc.title, referrer: referrer || undefined }); // undefined: not sent
  };

  const onScroll = () => {
    const depth = Math.round(((win.scrollY + win.innerHeight) / (doc.documentElement.scrollHeight || 1)) * 100);
    if (pageUrl && depth > scrollPct) scrollPct = Math.min(depth, 100);
  };

  const onHide = (leaving) => {
    if (leaving === true || !visible()) {
      engagement();
      flush(true);
    } else if (pageUrl && !visibleSince) {
      visibleSince = now();
    }
  };

  const onClick = (event) => {
    // A target without closest() (not an element) throws: guarded, it is simply not a link click.
    const link = event.target.closest("a[href]");
    if (!link) return;
    // A link of this site opened here (not in a new tab or window): this page is about to be left for it.
    clickedIn = link.host == win.location.host && !(link.target || event.ctrlKey || event.metaKey) && now();
    // Not sent now: the pagehide that follows a link opened here sends it with the page's engagement,
    // in one request; a link opened elsewhere leaves this page up, and the batch timer sends it.
    if (link.host != win.location.host && config.outbound && link.host) {
      enqueue("outbound_click", { url: link.href.slice(0, 500) });
    }
  };

  const patch = (name) => {
    const original = win.history[name];
    win.history[name] = function () {
      const result = original.apply(this, arguments);
      win.setTimeout(guard(pageview), 0); // after the app has rendered and set its title
      return result;
    };
  };

  guard(() => {
    if (config.anonymousId && !disabled()) {
      userId = load(ID_KEY);
      userId || save(ID_KEY, (userId = uuid()));
    }
    patch("pushState");
    patch("replaceState");
    const on = (target, name, fn, options) => target.addEventListener(name, guard(fn), options);
    on(win, "popstate", pageview);
    config.hash && on(win, "hashchange", pageview);
    on(win, "scroll", onScroll, { passive: true });
    on(win, "pagehide", () => onHide(true));
    on(doc, "visibilitychange", onHide);
    on(win, "online", resend);
    on(doc, "click", onClick, true);
    config.auto !== false && pageview();
    // what earlier pages left goes with this page's first request
    timer = timer || win.setTimeout(guard(flush), FLUSH_MS);
  })();

  return {
    track: guard((name, properties, options) => enqueue(String(name), properties, revenue(options))),
    identify: guard((id) => (userId = id ? String(id) : null)),
    optOut: guard(() => {
      save(OPT_OUT_KEY, "1");
      buffer = [];
      store([]);
    }),
    optIn: guard(() => save(OPT_OUT_KEY, null)),
    pageview: guard(pageview),
    flush: guard(flush)
  };
}
