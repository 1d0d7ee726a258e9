// The one-line install: <script defer src="https://<api>/prod/liveinsight.js" data-site="my-site"></script>
// Options are data- attributes: data-api (defaults to where the script came from), data-hash
// (count #/routes as pages), data-outbound (track outbound link clicks), data-anonymous-id (keep a
// random id in localStorage), data-respect-dnt (send nothing when Do Not Track is on).
import { createTracker } from "./tracker.js";

(function (win) {
  var api = {};
  "track identify optOut optIn pageview flush".split(" ").forEach(function (name) { api[name] = function () {}; });
  try {
    var script = win.document.currentScript;
    var has = function (name) { return script.hasAttribute("data-" + name); };
    if (win.JSON && win.addEventListener && [].filter && script) {
      api = createTracker({
        site: script.getAttribute("data-site"),
        // By default the API is where the script came from: https://<api>/prod/liveinsight.js -> https://<api>/prod
        api: script.getAttribute("data-api") || script.src.replace(/\/[^/]*$/, ""),
        hash: has("hash"),
        outbound: has("outbound"),
        anonymousId: has("anonymous-id"),
        respectDnt: has("respect-dnt")
      }, win);
    }
  } catch (e) {
    /* an old or unusual browser: stay a no-op */
  }
  win.liveinsight = api;
})(window);
