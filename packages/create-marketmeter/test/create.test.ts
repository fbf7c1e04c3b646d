// The real bin, as `npm create marketmeter` runs it: refusals, then each template scaffolded into a temp
// folder, installed against the workspace's packed @marketmeter/* packages, and tested.
import { execFileSync, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const repo = join(pkgDir, "..", "..");
const bin = join(pkgDir, "dist", "index.js");
const work = mkdtempSync(join(tmpdir(), "create-marketmeter-"));

function create(args: string[], env: NodeJS.ProcessEnv = {}) {
  // stdin is not a terminal here, so the bin never prompts.
  return spawnSync(process.execPath, [bin, ...args], {
    cwd: work,
    encoding: "utf8",
    env: { ...process.env, npm_config_user_agent: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("create-marketmeter refuses", () => {
  it("an unknown template, and writes nothing", () => {
    const r = create(["app-a", "--template", "fastify"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('unknown template "fastify"; choose one of express, koa, hono, nestjs');
    expect(existsSync(join(work, "app-a"))).toBe(false);
  });

  it("a missing template when there is no terminal to ask", () => {
    const r = create(["app-b"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("MM_CREATE_NO_TEMPLATE");
    expect(existsSync(join(work, "app-b"))).toBe(false);
  });

  it("a folder that is not empty unless --force, leaving its files as they were", () => {
    const dir = join(work, "busy");
    mkdirSync(dir);
    writeFileSync(join(dir, "notes.txt"), "mine");
    const r = create(["busy", "-t", "koa"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("busy is not empty; choose a new folder or pass --force");
    expect(readdirSync(dir)).toEqual(["notes.txt"]);
    const forced = create(["busy", "-t", "koa", "--force"]);
    expect(forced.status).toBe(0);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("mine");
    expect(existsSync(join(dir, "src", "app.ts"))).toBe(true);
  });
});

describe.each(["express", "koa", "hono", "nestjs"])("create-marketmeter --template %s", (template) => {
  const name = `My ${template} API`;
  const dir = join(work, name);

  it("scaffolds the starter, renamed, with a .gitignore, and prints the next steps", () => {
    const r = create([name, "--template", template], {
      npm_config_user_agent: "pnpm/10.34.9 npm/? node/v20",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`  cd ${name}\n  pnpm install\n  pnpm start`);
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    expect(pkg.name).toBe(`my-${template}-api`);
    expect(readFileSync(join(dir, ".gitignore"), "utf8")).toContain("node_modules/");
    expect(existsSync(join(dir, "_gitignore"))).toBe(false);
    const starter = join(repo, "examples", `${template}-saas`);
    expect(readFileSync(join(dir, "src", "app.ts"), "utf8")).toBe(
      readFileSync(join(starter, "src", "app.ts"), "utf8"),
    );
    // The header names the monorepo's template, which the new app does not have.
    const main = readFileSync(join(dir, "src", "main.ts"), "utf8");
    expect(main).not.toContain("templates/starter");
    expect(`// x\n${main}`).toBe(
      `// x\n${readFileSync(join(starter, "src", "main.ts"), "utf8")
        .split("\n")
        .slice(1)
        .join("\n")}`,
    );
    expect(JSON.stringify(pkg)).not.toContain("workspace:");
    expect(existsSync(join(dir, "node_modules"))).toBe(false);
    expect(existsSync(join(dir, "biome.json"))).toBe(false);
  });
});

// Installs real dependencies (the @marketmeter/* ones packed from this workspace, the rest from the
// registry through pnpm's store) and runs the new app's own tests.
describe("a scaffolded app installs and passes its own tests", () => {
  const packed = join(work, "packed");
  const overrides: Record<string, string> = {};

  beforeAll(() => {
    mkdirSync(packed);
    for (const name of [
      "core",
      "emulator",
      "sqlite",
      "postgres",
      "redis",
      "express",
      "koa",
      "hono",
      "nestjs",
    ]) {
      const out = execFileSync("pnpm", ["pack", "--pack-destination", packed], {
        cwd: join(repo, "packages", name),
        encoding: "utf8",
      });
      const tarball = out.trim().split("\n").pop() ?? "";
      const pkg = JSON.parse(readFileSync(join(repo, "packages", name, "package.json"), "utf8"));
      overrides[pkg.name] = `file:${tarball}`;
    }
  });

  function install(template: string): string {
    const dir = join(work, `installed-${template}`);
    expect(create([dir, "--template", template]).status).toBe(0);
    const pkgPath = join(dir, "package.json");
    const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
    pkg.pnpm = { ...pkg.pnpm, overrides };
    writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
    execFileSync(
      "pnpm",
      ["install", "--prefer-offline", "--no-frozen-lockfile", "--config.confirmModulesPurge=false"],
      {
        cwd: dir,
        stdio: "pipe",
        env: { ...process.env, CI: "true" },
      },
    );
    return dir;
  }

  it("hono: install, typecheck and the smoke test", () => {
    const dir = install("hono");
    execFileSync("pnpm", ["run", "typecheck"], { cwd: dir, stdio: "pipe" });
    const r = spawnSync("pnpm", ["exec", "vitest", "run", "test/smoke.test.ts"], {
      cwd: dir,
      encoding: "utf8",
      // Plain text, so the summary line can be read whatever the caller's terminal settings.
      env: { ...process.env, CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" },
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Tests\s+\d+ passed/);
  });

  it.each(["express", "koa", "nestjs"])("%s: install and typecheck", (template) => {
    const dir = install(template);
    const r = spawnSync("pnpm", ["run", "typecheck"], { cwd: dir, encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
