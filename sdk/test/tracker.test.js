import assert from "node:assert/strict";
import { test } from "node:test";

import { createTracker } from "../src/tracker.js";
import { fakeWindow } from "./fake-window.js";

const API = "https://api.example/prod";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const sent = (fake) => fake.requests.flatMap((r) => r.events);
const start = (fake, config = {}) => createTracker({ api: API + "/", site: "shop", ...config }, fake.win);

test("a page view on load, batched into one text/plain keepalive request", async () => {
  const fake = fakeWindow();
  start(fake);
  assert.equal(fake.requests.length, 0); // batched: nothing before the timer
  await fake.tick();
  const [request] = fake.requests;
  assert.equal(request.url, API + "/events");
  // A string body and no headers: fetch sends text/plain;charset=UTF-8, so no CORS preflight.
  assert.equal(typeof request.init.body, "string");
  assert.equal(request.init.headers, undefined);
  assert.equal(request.init.keepalive, true);
  const [view] = request.events;
  assert.equal(view.event_type, "page_view");
  assert.equal(view.page_url, "https://shop.example/");
  assert.equal(view.referrer, "https://www.google.com/");
  assert.equal(view.site, "shop");
  assert.match(view.event_id, UUID);
  assert.deepEqual(fake.queued(), []); // delivered: nothing left to retry
});

test("single-page navigation: one page view per view, never twice", async () => {
  const fake = fakeWindow();
  start(fake);
  fake.win.history.pushState({}, "", "/pricing");
  fake.win.history.replaceState({}, "", "/pricing"); // same view: not counted again
  await fake.tick();
  fake.win.history.pushState({}, "", "/pricing#faq"); // hash routing is opt-in
  fake.win.history.pushState({}, "", "/docs?q=x");
  await fake.tick();
  fake.win.location = new URL("https://shop.example/pricing");
  fake.dispatch("win", "popstate");
  await fake.tick();
  const views = sent(fake).filter((e) => e.event_type === "page_view");
  assert.deepEqual(views.map((e) => new URL(e.page_url).pathname + new URL(e.page_url).search),
                   ["/", "/pricing", "/docs?q=x", "/pricing"]);
  assert.equal(views[1].referrer, "https://shop.example/"); // the previous view, inside the app
  assert.equal(new Set(sent(fake).map((e) => e.event_id)).size, sent(fake).length);
});

test("hash routes count as pages when the site opts in", async () => {
  const fake = fakeWindow({ url: "https://shop.example/#/home" });
  start(fake, { hash: true });
  fake.win.location = new URL("https://shop.example/#/pricing");
  fake.dispatch("win", "hashchange");
  await fake.tick();
  assert.deepEqual(sent(fake).map((e) => new URL(e.page_url).hash), ["#/home", "#/pricing"]);
});

test("engagement: visible time and scroll depth, sent when the page is hidden", async () => {
  const fake = fakeWindow();
  start(fake);
  fake.win.scrollY = 1200;
  fake.dispatch("win", "scroll");
  fake.win.document.visibilityState = "hidden";
  fake.dispatch("doc", "visibilitychange");
  await fake.tick();
  const engagement = sent(fake).find((e) => e.event_type === "engagement");
  assert.equal(engagement.properties.scroll_pct, 100);
  assert.ok(engagement.properties.engaged_ms >= 0);
  assert.equal(engagement.page_url, "https://shop.example/");
});

const hide = (fake) => {
  fake.win.document.visibilityState = "hidden";
  fake.dispatch("doc", "visibilitychange");
  fake.dispatch("win", "pagehide");
};
// `target` is the link's (where it opens); the rest (ctrlKey, metaKey) the click's.
const click = (fake, href, { target = "", ...keys } = {}) => fake.dispatch("doc", "click", { target: { closest: () => {
  const url = new URL(href);
  return { host: url.host, href, target };
} }, ...keys });

test("a page left by a link of its site: its engagement rides with the next page view, one request a page", async () => {
  const storage = new Map();
  const first = fakeWindow({ storage });
  start(first);
  await first.tick();
  assert.equal(first.requests.length, 1); // the page view, at once
  first.win.scrollY = 400;
  first.dispatch("win", "scroll");
  click(first, "https://shop.example/pricing");
  hide(first);
  await first.tick();
  assert.equal(first.requests.length, 1); // nothing more: the engagement waits in storage
  assert.deepEqual(first.queued().map((e) => e.event_type), ["engagement"]);
  const next = fakeWindow({ storage, url: "https://shop.example/pricing" });
  start(next);
  await next.tick();
  assert.equal(next.requests.length, 1);
  assert.deepEqual(next.requests[0].events.map((e) => [e.event_type, new URL(e.page_url).pathname]),
                   [["engagement", "/"], ["page_view", "/pricing"]]);
  assert.deepEqual(next.queued(), []);
});

test("a page left any other way sends its engagement as it goes: nothing waits on a visit that may not return", async () => {
  for (const leave of [
    (fake) => hide(fake), // closed, typed address, back button
    (fake) => { click(fake, "https://shop.example/docs", { ctrlKey: true }); hide(fake); }, // a new tab
    (fake) => { click(fake, "https://shop.example/docs", { target: "_blank" }); hide(fake); },
    (fake) => { click(fake, "https://partner.example/"); hide(fake); } // another site
  ]) {
    const fake = fakeWindow();
    start(fake);
    await fake.tick();
    fake.win.scrollY = 400;
    fake.dispatch("win", "scroll");
    leave(fake);
    await fake.tick();
    assert.deepEqual(fake.requests.map((r) => r.events.map((e) => e.event_type)), [["page_view"], ["engagement"]]);
  }
});

test("single-page navigation: the last view's engagement and the next page view share a request", async () => {
  const fake = fakeWindow();
  start(fake);
  await fake.tick();
  fake.win.scrollY = 1200;
  fake.dispatch("win", "scroll");
  fake.win.history.pushState({}, "", "/pricing");
  await fake.tick();
  assert.deepEqual(fake.requests.map((r) => r.events.map((e) => e.event_type)),
                   [["page_view"], ["engagement", "page_view"]]);
});

test("25 events make a request at once; the rest wait for the timer", async () => {
  const fake = fakeWindow();
  const tracker = start(fake, { auto: false });
  for (let i = 0; i < 30; i++) tracker.track("click", { i });
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.requests[0].events.length, 25);
  await fake.tick();
  assert.deepEqual(fake.requests.map((r) => r.events.length), [25, 5]);
});

test("every request stays below 64 KB", async () => {
  const fake = fakeWindow();
  const tracker = start(fake, { auto: false });
  for (let i = 0; i < 20; i++) tracker.track("big", { blob: "x".repeat(5000) });
  await fake.tick();
  assert.ok(fake.requests.length > 1);
  for (const r of fake.requests) assert.ok(r.init.body.length < 64 * 1024);
  assert.equal(sent(fake).length, 20);
});

test("a 503 resends only the events answered `retry`, after a backoff", async () => {
  const fake = fakeWindow({ responses: [{ status: 503, statuses: [{ status: "accepted" }, { status: "retry" }] }] });
  const tracker = start(fake, { auto: false });
  tracker.track("a");
  tracker.track("b");
  await fake.tick();
  const [first, second] = fake.requests;
  assert.deepEqual(first.events.map((e) => e.event_type), ["a", "b"]);
  assert.deepEqual(second.events, [first.events[1]]); // the same event, the same id
  assert.ok(fake.timers.some((t) => t.ms >= 500 && t.ms <= 1000)); // backoff with jitter
  assert.deepEqual(fake.queued(), []);
});

test("offline: events wait in localStorage and go out once when the browser is back", async () => {
  const fake = fakeWindow({ responses: [{ error: true }] });
  const tracker = start(fake, { auto: false });
  tracker.track("signup");
  await fake.tick(1); // the send fails
  assert.equal(fake.queued().length, 1);
  fake.dispatch("win", "online");
  await fake.tick();
  const attempts = fake.requests.map((r) => r.events[0].event_id);
  assert.equal(new Set(attempts).size, 1); // one event id on every attempt: the server counts it once
  assert.deepEqual(fake.queued(), []);
});

test("the next page delivers what the last page could not", async () => {
  const storage = new Map();
  const first = fakeWindow({ storage, responses: [{ error: true }] });
  start(first, { auto: false }).track("checkout");
  await first.tick(1); // the send fails and the page is left before the retry
  const next = fakeWindow({ storage });
  start(next, { auto: false });
  await next.tick();
  assert.deepEqual(next.requests[0].events.map((e) => e.event_type), ["checkout"]);
  assert.deepEqual(next.queued(), []);
});

test("4xx answers are not retried, except 408 and 429", async () => {
  for (const [status, retried] of [[400, false], [403, false], [413, false], [408, true], [429, true], [500, true]]) {
    const fake = fakeWindow({ responses: [{ status }] });
    start(fake, { auto: false }).track("x");
    await fake.tick();
    assert.equal(fake.requests.length > 1, retried, `status ${status}`);
  }
});

test("the retry queue keeps the newest 500 events", async () => {
  const fake = fakeWindow({ responses: Array(100).fill({ error: true }) });
  const tracker = start(fake, { auto: false });
  for (let i = 0; i < 520; i++) tracker.track("e", { i });
  tracker.flush();
  const queued = fake.queued();
  assert.equal(queued.length, 500);
  assert.equal(queued[0].properties.i, 20);
});

test("blocked localStorage breaks nothing", async () => {
  const fake = fakeWindow({ blockStorage: true });
  const tracker = start(fake, { anonymousId: true });
  tracker.track("still-works");
  tracker.optOut();
  tracker.track("not-sent");
  await fake.tick();
  assert.deepEqual(sent(fake).map((e) => e.event_type), []); // opted out before the first flush
  tracker.optIn();
  tracker.track("sent");
  await fake.tick();
  assert.deepEqual(sent(fake).map((e) => e.event_type), ["sent"]);
});

test("opting out persists across pages; opting in undoes it", async () => {
  const storage = new Map();
  const first = fakeWindow({ storage });
  start(first, { auto: false }).optOut();
  const second = fakeWindow({ storage });
  const tracker = start(second);
  tracker.track("x");
  await second.tick();
  assert.equal(second.requests.length, 0);
  tracker.optIn();
  tracker.track("y");
  await second.tick();
  assert.deepEqual(sent(second).map((e) => e.event_type), ["y"]);
});

test("Do Not Track is honoured when the site asks for it", async () => {
  const asked = fakeWindow({ navigator: { doNotTrack: "1" } });
  start(asked, { respectDnt: true });
  const notAsked = fakeWindow({ navigator: { doNotTrack: "1" } });
  start(notAsked);
  await asked.tick();
  await notAsked.tick();
  assert.equal(asked.requests.length, 0);
  assert.equal(notAsked.requests.length, 1);
});

test("no id is stored unless the site opts in; identify() names the user", async () => {
  const storage = new Map();
  const plain = fakeWindow({ storage });
  start(plain);
  await plain.tick();
  assert.equal(sent(plain)[0].user_id, undefined);
  assert.deepEqual([...storage.keys()], []); // nothing stored: no cookies, no ids

  const first = fakeWindow({ storage });
  start(first, { anonymousId: true });
  const second = fakeWindow({ storage });
  const tracker = start(second, { anonymousId: true });
  tracker.identify("user-42");
  tracker.track("after");
  await first.tick();
  await second.tick();
  assert.equal(sent(first)[0].user_id, sent(second)[0].user_id);
  assert.equal(sent(second)[1].user_id, "user-42");
});

test("outbound link clicks, when the site opts in", async () => {
  const fake = fakeWindow();
  start(fake, { outbound: true });
  const link = (href) => ({ target: { closest: () => new URL(href) } });
  fake.dispatch("doc", "click", link("https://shop.example/internal"));
  fake.dispatch("doc", "click", link("https://partner.example/deal"));
  await fake.tick();
  const clicks = sent(fake).filter((e) => e.event_type === "outbound_click");
  assert.deepEqual(clicks.map((e) => e.properties.url), ["https://partner.example/deal"]);
});

test("an outbound click and the page's leaving go in one request; a link opened elsewhere sends on the timer", async () => {
  const fake = fakeWindow();
  start(fake, { outbound: true });
  await fake.tick();
  fake.win.scrollY = 400;
  fake.dispatch("win", "scroll");
  click(fake, "https://partner.example/deal");
  hide(fake); // the browser leaves for the other site
  await fake.tick();
  assert.deepEqual(fake.requests.map((r) => r.events.map((e) => e.event_type)),
                   [["page_view"], ["outbound_click", "engagement"]]);
  const stays = fakeWindow();
  start(stays, { outbound: true });
  await stays.tick();
  click(stays, "https://partner.example/deal", { target: "_blank" }); // this page stays up
  await stays.tick();
  assert.deepEqual(stays.requests.map((r) => r.events.map((e) => e.event_type)),
                   [["page_view"], ["outbound_click"]]);
  assert.deepEqual(stays.queued(), []);
});

test("nothing escapes to the page, whatever fails", async () => {
  const fake = fakeWindow();
  fake.win.fetch = () => { throw new Error("blocked by an extension"); };
  const tracker = start(fake);
  assert.doesNotThrow(() => {
    tracker.track({ toString() { throw new Error("weird"); } });
    tracker.track("ok", { a: 1 });
    tracker.flush();
    fake.dispatch("win", "pagehide");
  });
  const broken = fakeWindow();
  broken.win.history = null; // a page that replaced history: the tracker stays quiet
  assert.doesNotThrow(() => start(broken));
});

test("User-Agent Client Hints ride along where the browser has them", async () => {
  // navigator.userAgentData's toJSON() gives its low-entropy hints, as in Chromium.
  const hints = { brands: [{ brand: "Google Chrome", version: "131" }], mobile: false, platform: "Android" };
  const fake = fakeWindow({ navigator: { userAgentData: { toJSON: () => hints, getHighEntropyValues() {} } } });
  start(fake);
  await fake.tick();
  assert.deepEqual(JSON.parse(fake.requests[0].init.body).client_hints, hints);

  const safari = fakeWindow(); // no userAgentData: no client_hints key at all
  start(safari);
  await safari.tick();
  assert.equal("client_hints" in JSON.parse(safari.requests[0].init.body), false);
});

test("revenue rides on a tracked event as decimal text in its ISO 4217 currency", async () => {
  const fake = fakeWindow();
  const tracker = start(fake, { auto: false });
  tracker.track("purchase", { plan: "pro" }, { revenue: { amount: 19.9, currency: "EUR" } });
  tracker.track("purchase", null, { revenue: { amount: "19.90", currency: "USD" } }); // text stays exact
  tracker.track("refund", null, { revenue: { amount: -5, currency: "EUR" } });
  tracker.track("purchase", null, { revenue: { amount: 0.1 * 3, currency: "EUR" } }); // a float's 17 decimals
  tracker.track("purchase", null, { revenue: { amount: "99999999999999.9999", currency: "JPY" } }); // the lake's largest
  tracker.track("signup", { plan: "pro" }); // no third argument: no revenue
  await fake.tick();
  const events = sent(fake);
  assert.deepEqual(events.map((e) => e.revenue), [
    { amount: "19.9", currency: "EUR" }, { amount: "19.90", currency: "USD" }, { amount: "-5", currency: "EUR" },
    { amount: "0.30000000000000004", currency: "EUR" }, { amount: "99999999999999.9999", currency: "JPY" }, undefined]);
  assert.deepEqual(events[0].properties, { plan: "pro" });
  assert.equal("revenue" in events[5], false);
});

test("a revenue the server would refuse is left off: the event itself still counts", async () => {
  // Each of these makes the server answer the event `invalid` (revenue.amount / revenue.currency), and
  // a 4xx is final: sent as given, the purchase itself would be lost.
  const refused = [
    { amount: 5, currency: "eur" }, { amount: 5, currency: "EURO" }, { amount: 5, currency: "E1R" },
    { amount: "12,50", currency: "EUR" }, { amount: "", currency: "EUR" },
    { amount: NaN, currency: "EUR" }, { amount: Infinity, currency: "EUR" }, { amount: 1e14, currency: "EUR" },
    { amount: "100000000000000", currency: "EUR" }, { amount: true, currency: "EUR" }, { amount: null, currency: "EUR" },
    { amount: "1." + "5".repeat(31), currency: "EUR" }, // 33 characters: over the server's 32
    { amount: 5 }, { currency: "EUR" }, "19.90 EUR", 19.9, null
  ];
  const fake = fakeWindow();
  const tracker = start(fake, { auto: false });
  refused.forEach((revenue, i) => tracker.track("purchase", { i }, { revenue }));
  tracker.track("purchase", { i: "options not an object" }, "EUR");
  await fake.tick();
  const events = sent(fake);
  assert.equal(events.length, refused.length + 1);
  assert.deepEqual(events.filter((e) => "revenue" in e), []);
  assert.deepEqual(events.slice(0, refused.length).map((e) => e.properties.i), refused.map((_, i) => i));
});

test("revenue waits in the retry queue with its event", async () => {
  const storage = new Map();
  const first = fakeWindow({ storage, responses: [{ error: true }] });
  start(first, { auto: false }).track("purchase", null, { revenue: { amount: "42.00", currency: "EUR" } });
  await first.tick(1);
  const next = fakeWindow({ storage });
  start(next, { auto: false });
  await next.tick();
  assert.deepEqual(next.requests[0].events[0].revenue, { amount: "42.00", currency: "EUR" });
});
