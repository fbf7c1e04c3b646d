// The instances and probes run the built files as separate Node processes (no TypeScript loader), so a
// test must not run stale ones.
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export function assertBuilt(): void {
  for (const file of readdirSync(join(root, "src"))) {
    if (!file.endsWith(".ts")) continue;
    const source = statSync(join(root, "src", file)).mtimeMs;
    const built = statSync(join(root, "dist", file.replace(/\.ts$/, ".js")), { throwIfNoEntry: false });
    if (!built || built.mtimeMs < source)
      throw new Error(`packages/chaos/dist is older than src/${file}: run \`pnpm build\` first`);
  }
}
