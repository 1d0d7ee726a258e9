// Builds the snippet (IIFE, minified: what the API serves as /liveinsight.js) and the ES module
// with its types. The snippet is also copied to chalicelib/static, where the app serves it from.
//   node build.mjs          build dist/ and the served copy
//   node build.mjs --check  build in memory; fail if the served copy is not current or the
//                           snippet is over its 2 KB gzip budget (make test and CI run this)
import { build } from "esbuild";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET_GZIP_BYTES = 2048;
const SERVED = "../chalicelib/static/liveinsight.js";
const check = process.argv.includes("--check");
const target = ["es2017", "chrome64", "firefox67", "safari12"];
const common = { bundle: true, minify: true, target, legalComments: "none", write: false };

const [snippet] = (await build({ ...common, entryPoints: ["src/snippet.js"], format: "iife", outfile: "liveinsight.js" })).outputFiles;
const [module] = (await build({ ...common, entryPoints: ["src/index.js"], format: "esm", outfile: "liveinsight.mjs" })).outputFiles;
const gzipped = gzipSync(snippet.contents, { level: 9 }).length;
console.log(`liveinsight.js: ${snippet.contents.length} bytes, ${gzipped} bytes gzipped (budget ${BUDGET_GZIP_BYTES})`);

let failed = false;
if (gzipped > BUDGET_GZIP_BYTES) {
  console.error(`liveinsight.js is ${gzipped - BUDGET_GZIP_BYTES} bytes over its gzip budget`);
  failed = true;
}
if (check) {
  const current = existsSync(SERVED) && Buffer.compare(readFileSync(SERVED), Buffer.from(snippet.contents)) === 0;
  if (!current) {
    console.error(`${SERVED} is not the build of sdk/src: run \`make sdk\` and commit it`);
    failed = true;
  }
} else {
  mkdirSync("dist", { recursive: true });
  writeFileSync("dist/liveinsight.js", snippet.contents);
  writeFileSync("dist/liveinsight.mjs", module.contents);
  copyFileSync("src/liveinsight.d.ts", "dist/liveinsight.d.ts");
  writeFileSync(SERVED, snippet.contents);
}
process.exit(failed ? 1 : 0);
