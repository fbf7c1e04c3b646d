// Build step: copies the generated starters (examples/<framework>-saas) into templates/<framework>, so the
// published package scaffolds from what it carries and never fetches anything.
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GENERATED, STARTERS } from "../../../scripts/starters.mjs";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const repo = join(pkg, "..", "..");
// Workspace-only files: build output, local data, and a lint config that extends the monorepo's.
// The monorepo's service-backed tests (Chromium, a shared PostgreSQL or Redis) fail under CI without those
// services, which a new app's CI does not have: they stay here.
const SKIP = new Set([
  "node_modules",
  "dist",
  ".turbo",
  ".marketmeter",
  "biome.json",
  "usage-page.test.ts",
  "chromium.ts",
  "shared-store.test.ts",
]);

function files(dir, base = dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? files(full, base) : [full];
  });
}

rmSync(join(pkg, "templates"), { recursive: true, force: true });
for (const [framework, starter] of Object.entries(STARTERS)) {
  const to = join(pkg, "templates", framework);
  cpSync(join(repo, starter.dir), to, { recursive: true, filter: (src) => !SKIP.has(src.split("/").pop()) });
  for (const file of files(to)) {
    let text = readFileSync(file, "utf8");
    // The header points at the monorepo's template, which a scaffolded app does not have.
    if (text.split("\n", 1)[0].includes(GENERATED)) text = text.slice(text.indexOf("\n") + 1);
    // The README's commands are the monorepo's; in a scaffolded app they are plain npm scripts.
    text = text.replaceAll(`pnpm --filter @marketmeter-examples/${framework}-saas `, "npm run ");
    writeFileSync(file, text);
  }
  // npm leaves .gitignore files out of a package: it travels as _gitignore and is renamed on scaffold.
  if (existsSync(join(to, ".gitignore"))) renameSync(join(to, ".gitignore"), join(to, "_gitignore"));
}
console.log(`templates: ${Object.keys(STARTERS).join(", ")}`);
