// The four starters are generated from templates/starter: a hand edit of a generated file must fail CI.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const script = join(repo, "scripts", "starters.mjs");
const STARTERS = ["express", "koa", "hono", "nestjs"].map((f) => `examples/${f}-saas`);
const temps: string[] = [];

/** A copy of what the generator reads and writes, so the test can edit it freely. */
function copyRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), "mm-starters-"));
  temps.push(dir);
  const skip = new Set(["node_modules", "dist", ".turbo", ".marketmeter"]);
  const filter = (src: string) => !skip.has(src.split("/").pop() ?? "");
  cpSync(join(repo, "templates"), join(dir, "templates"), { recursive: true });
  cpSync(join(repo, "packages/core/package.json"), join(dir, "packages/core/package.json"));
  for (const s of STARTERS) cpSync(join(repo, s), join(dir, s), { recursive: true, filter });
  return dir;
}

const check = (root: string) =>
  spawnSync(process.execPath, [script, "--check", "--root", root], { encoding: "utf8" });

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe("starters generated from templates/starter", () => {
  it("the checked-in starters are what the generator writes", () => {
    const r = check(repo);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("fails on a hand edit of a generated file, names it, and generate restores it", () => {
    const root = copyRepo();
    const file = join(root, "examples/koa-saas/src/pages.ts");
    const original = readFileSync(file, "utf8");
    writeFileSync(file, original.replace("</html>", "</html><!-- edited by hand -->"));
    const r = check(root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("examples/koa-saas/src/pages.ts");
    expect(r.stderr).not.toContain("examples/hono-saas/src/pages.ts");
    execFileSync(process.execPath, [script, "--root", root]);
    expect(readFileSync(file, "utf8")).toBe(original);
    expect(check(root).status).toBe(0);
  });

  it("fails when a starter's @marketmeter range drifts from the packages' version", () => {
    const root = copyRepo();
    const file = join(root, "examples/hono-saas/package.json");
    const pkg = JSON.parse(readFileSync(file, "utf8"));
    pkg.dependencies["@marketmeter/hono"] = "workspace:*";
    writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
    const r = check(root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("examples/hono-saas/package.json");
  });

  it("fails on a generated file whose template is gone", () => {
    const root = copyRepo();
    rmSync(join(root, "templates/starter/src/market-data.ts"));
    const r = check(root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "examples/express-saas/src/market-data.ts (generated, but its template is gone)",
    );
  });

  it.each(STARTERS)(
    "%s installs from npm: no workspace: ranges, the emulator only a dev dependency",
    (dir) => {
      const pkg = JSON.parse(readFileSync(join(repo, dir, "package.json"), "utf8"));
      const version = JSON.parse(readFileSync(join(repo, "packages/core/package.json"), "utf8")).version;
      const all = { ...pkg.dependencies, ...pkg.devDependencies } as Record<string, string>;
      expect(Object.values(all).filter((v) => v.startsWith("workspace:"))).toEqual([]);
      expect(pkg.dependencies["@marketmeter/emulator"]).toBeUndefined();
      expect(pkg.devDependencies["@marketmeter/emulator"]).toBe(`^${version}`);
    },
  );

  it.each(STARTERS)("%s loads the emulator only in emulator mode (a type import or import())", (dir) => {
    const src = join(repo, dir, "src");
    for (const name of readdirSync(src)) {
      const text = readFileSync(join(src, name), "utf8");
      for (const line of text.split("\n").filter((l) => l.includes('"@marketmeter/emulator"')))
        expect(line, `${dir}/src/${name}`).toMatch(/^import type |await import\("@marketmeter\/emulator"\)/);
    }
  });
});
