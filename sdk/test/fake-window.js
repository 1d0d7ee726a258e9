// A small stand-in for a browser window: enough of location, history, document, storage, fetch
// and timers for the tracker, with the knobs the tests need (responses, blocked storage, clock).
import { webcrypto } from "node:crypto";

export function fakeWindow({ url = "https://shop.example/", storage = new Map(), blockStorage = false,
                             responses = [], navigator = {} } = {}) {
  const listeners = {};
  const timers = [];
  const requests = [];
  const on = (target) => (name, fn) => (listeners[target + name] ||= []).push(fn);
  const win = {
    location: new URL(url),
    history: {
      pushState(state, title, next) { win.location = new URL(next, win.location.href); },
      replaceState(state, title, next) { win.location = new URL(next ?? win.location.href, win.location.href); }
    },
    document: {
      title: "Home", referrer: "https://www.google.com/", visibilityState: "visible",
      documentElement: { scrollHeight: 2000 }, addEventListener: on("doc:")
    },
    navigator,
    crypto: webcrypto,
    scrollY: 0,
    innerHeight: 800,
    addEventListener: on("win:"),
    setTimeout(fn, ms) { timers.push({ fn, ms, done: false }); return timers.length; },
    clearTimeout(id) { if (timers[id - 1]) timers[id - 1].done = true; },
    async fetch(target, init) {
      const request = { url: target, init, events: JSON.parse(init.body).events };
      requests.push(request);
      const next = responses.length ? responses.shift() : { status: 200 };
      if (next.error) throw new TypeError("Failed to fetch");
      const statuses = next.statuses || request.events.map((e) => ({ status: "accepted", event_id: e.event_id }));
      return { status: next.status, json: async () => ({ events: statuses }) };
    }
  };
  Object.defineProperty(win, "localStorage", {
    get() {
      if (blockStorage) throw new DOMException("The operation is insecure.", "SecurityError");
      return {
        getItem: (k) => (storage.has(k) ? storage.get(k) : null),
        setItem: (k, v) => storage.set(k, String(v)),
        removeItem: (k) => storage.delete(k)
      };
    }
  });
  return {
    win, requests, storage, timers,
    dispatch(target, name, event = {}) { (listeners[target + ":" + name] || []).forEach((fn) => fn(event)); },
    // Runs the pending timers, whatever their delay (the tests do not wait for real time), and
    // lets the promises they start settle; `rounds` times, as timers can start timers.
    async tick(rounds = 5) {
      for (let round = 0; round < rounds; round++) {
        const due = timers.filter((t) => !t.done);
        due.forEach((t) => { t.done = true; t.fn(); });
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    queued: () => JSON.parse(storage.get("liveinsight:queue") || "[]")
  };
}
