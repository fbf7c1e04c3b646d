import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// Each folder of the core is a concern with one front door (its index.ts): code in one folder never reaches
// into another folder's files, so a folder's internals can move without breaking its neighbours.
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Every relative module specifier of `import`, `export ... from` and `import()` in `text`. */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\b(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g))
    out.push(m[1] as string);
  return out;
}

/** The cross-folder imports of `file` that bypass the target folder's index.ts. */
export function bypasses(file: string, text: string): string[] {
  const from = relative(SRC, dirname(file)).split(sep)[0] ?? "";
  return specifiers(text).filter((spec) => {
    const target = relative(SRC, resolve(dirname(file), spec)).split(sep);
    const folder = target.length > 1 ? target[0] : undefined;
    if (folder === undefined || folder === from) return false;
    return !(target.length === 2 && target[1] === "index.js");
  });
}

// Tests exercise a folder's internals and its test helpers on purpose; the package's entry files at the root
// of src/ are the public front doors and pick from each folder what they publish.
const inFolders = sources(SRC).filter(
  (f) => dirname(f) !== SRC && !f.endsWith(".test.ts") && !f.endsWith(".test-d.ts"),
);

describe("core imports", () => {
  it("finds the source files", () => {
    expect(inFolders.length).toBeGreaterThan(20);
  });

  it("crosses folders only through the target folder's index.ts", () => {
    const offenders = inFolders.flatMap((f) =>
      bypasses(f, readFileSync(f, "utf8")).map((spec) => `${relative(SRC, f)} -> ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it("flags a bypass and accepts the index, same-folder files and dynamic imports", () => {
    const file = join(SRC, "reporter", "x.ts");
    expect(
      bypasses(
        file,
        [
          'import { a } from "../stores/grain.js";',
          'import type { B } from "../stores/index.js";',
          'import { c } from "./batch.js";',
          'export { d } from "../usage/tags.js";',
          'const e = await import("../aws/client.js");',
        ].join("\n"),
      ),
    ).toEqual(["../stores/grain.js", "../usage/tags.js", "../aws/client.js"]);
  });
});
