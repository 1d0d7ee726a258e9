// The ES module build for bundlers: `import { init } from "liveinsight"`.
import { createTracker } from "./tracker.js";

export function init(options) {
  if (typeof window === "undefined") throw new Error("liveinsight runs in a browser");
  return createTracker(options, window);
}
