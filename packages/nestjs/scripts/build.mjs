// Builds the package: tsc emits CommonJS with decorator metadata (Nest's DI needs `design:paramtypes`,
// which esbuild-based bundlers drop), then a thin ES module wrapper re-exports the same CommonJS
// instances, so an app that mixes `import` and `require` still sees one copy of every class and token.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
execFileSync("tsc", ["-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
  shell: process.platform === "win32",
});
writeFileSync(join(dist, "cjs", "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);

const names = Object.keys(createRequire(import.meta.url)(join(dist, "cjs", "index.js")))
  .filter((n) => n !== "__esModule" && n !== "default")
  .sort();
mkdirSync(join(dist, "esm"), { recursive: true });
writeFileSync(
  join(dist, "esm", "index.mjs"),
  `import cjs from "../cjs/index.js";\n\nexport const {\n${names.map((n) => `  ${n},`).join("\n")}\n} = cjs;\n`,
);
writeFileSync(join(dist, "esm", "index.d.mts"), 'export * from "../cjs/index.js";\n');
console.log(`built dist/cjs and dist/esm (${names.length} exports)`);
