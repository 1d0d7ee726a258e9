// The one-line install: <script defer src="https://<api>/prod/liveinsight.js" data-site="my-site"></script>
// Options are data- attributes: data-api (defaults to where the script came from), data-hash
// (count #/routes as pages), data-outbound (track outbound link clicks), data-anonymous-id (keep a
// random id in localStorage), data-respect-dnt (send nothing when Do Not Track is on).
// esbuild wraps this file in a function (format "iife"): its names stay out of the page's globals.
import { createTracker } from "./tracker.js";

let api = {};
"track identify optOut optIn pageview flush".split(" ").forEach((name) => (api[name] = () => {}));
try {
  // A browser that can parse this ES2017 build has JSON, addEventListener and Array#filter; without
  // currentScript (a module, an unusual loader) there are no options to read: stay a set of no-ops.
  const script = document.currentScript;
  const has = (name) => script.hasAttribute("data-" + name);
  api = createTracker({
    site: script.getAttribute("data-site"),
    // By default the API is where the script came from: https://<api>/prod/liveinsight.js -> https://<api>/prod
    api: script.getAttribute("data-api") || script.src.replace(/\/[^/]*$/, ""),
    hash: has("hash"),
    outbound: has("outbound"),
    anonymousId: has("anonymous-id"),
    respectDnt: has("respect-dnt")
  }, window);
} catch (e) {
  /* an unusual page: stay a set of no-ops */
}
window.liveinsight = api;
