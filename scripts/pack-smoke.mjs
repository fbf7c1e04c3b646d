#!/usr/bin/env node
// What a user installs: packs every published @marketmeter/* package, installs the tarballs with npm into
// a scratch app outside the workspace next to another @aws-sdk client, builds the app with tsc as ESM and
// as CommonJS, runs both builds (the packed emulator, core, express adapter and SQLite store bill one hour
// over loopback), and checks that the app holds one copy of @smithy/core and of each @marketmeter/*.
// Exits non-zero with a reason on any failure. Usage: `node scripts/pack-smoke.mjs` after `pnpm build`.
// MM_PACK_KEEP=1 keeps the scratch directory; MM_PACK_BUILD_NATIVE=1 compiles better-sqlite3 instead of
// reusing the workspace's build of the same version for the same Node.
import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));
const started = Date.now();
const step = (msg) => console.log(`[pack-smoke ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
function run(cmd, args, cwd, env = {}) {
  try {
    return execFileSync(cmd, args, {
      cwd,
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...env },
    })
      .toString()
      .trim();
  } catch (err) {
    // tsc reports on stdout; keep the failure readable instead of a dump of byte arrays.
    throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}:\n${err.stdout?.toString() ?? ""}`.trim());
  }
}

const rootPkg = readJson(join(root, "package.json"));
const published = readdirSync(join(root, "packages"))
  .map((name) => join(root, "packages", name))
  .filter((dir) => existsSync(join(dir, "package.json")))
  .map((dir) => ({ dir, pkg: readJson(join(dir, "package.json")) }))
  .filter(({ pkg }) => pkg.private !== true);
if (published.length === 0) throw new Error("no published packages found under packages/");
for (const { dir, pkg } of published) {
  if (!existsSync(join(dir, "dist"))) throw new Error(`${pkg.name} has no dist/: run \`pnpm build\` first`);
}

// The AWS SDK version the lockfile resolves for the core; the neighbouring client is taken from the same
// release, as a user upgrading both together would have it.
const lock = readFileSync(join(root, "pnpm-lock.yaml"), "utf8");
const sdkVersion = lock.match(/\n {2}'@aws-sdk\/client-marketplace-metering@(\d+\.\d+\.\d+)':/)?.[1];
if (!sdkVersion) throw new Error("pnpm-lock.yaml resolves no @aws-sdk/client-marketplace-metering");

const scratch = mkdtempSync(join(tmpdir(), "mm-pack-"));
const tarballs = join(scratch, "tarballs");
const app = join(scratch, "app");
mkdirSync(tarballs);
mkdirSync(join(app, "cjs"), { recursive: true });
let ok = false;
try {
  const deps = {};
  for (const { dir, pkg } of published) {
    const out = run("pnpm", ["pack", "--pack-destination", tarballs], dir);
    const file = out.split("\n").findLast((line) => line.endsWith(".tgz"));
    if (!file) throw new Error(`pnpm pack printed no tarball for ${pkg.name}:\n${out}`);
    deps[pkg.name] = `file:${relative(app, file.startsWith("/") ? file : join(tarballs, file))}`;
    // Peers at the versions the workspace tests them with (each package pins them as devDependencies).
    for (const peer of Object.keys(pkg.peerDependencies ?? {})) {
      const pinned = pkg.devDependencies?.[peer];
      if (pinned && !deps[peer]) deps[peer] = pinned;
    }
  }
  step(`packed ${published.length} packages: ${published.map((p) => p.pkg.name).join(", ")}`);
  const nest = published.find((p) => p.pkg.name === "@marketmeter/nestjs")?.pkg;
  Object.assign(deps, {
    "@aws-sdk/client-sts": sdkVersion,
    "@nestjs/platform-express": nest?.devDependencies?.["@nestjs/platform-express"],
    "@types/node": rootPkg.devDependencies["@types/node"],
    typescript: rootPkg.devDependencies.typescript,
  });
  writeFileSync(
    join(app, "package.json"),
    `${JSON.stringify({ name: "mm-pack-smoke", private: true, type: "module", dependencies: deps }, null, 2)}\n`,
  );
  writeFileSync(join(app, "cjs", "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);

  const useWorkspaceNative = process.env.MM_PACK_BUILD_NATIVE !== "1";
  const npmArgs = ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"];
  run("npm", useWorkspaceNative ? [...npmArgs, "--ignore-scripts"] : npmArgs, app, {
    npm_config_nodedir: process.env.npm_config_nodedir ?? "/usr",
  });
  step("npm install done");
  if (useWorkspaceNative) reuseNativeBuild(app);

  // One copy each: a second @smithy/core means the user's app carries two AWS SDK runtimes.
  const copies = findPackages(join(app, "node_modules"));
  const single = ["@smithy/core", ...published.map((p) => p.pkg.name)];
  for (const name of single) {
    const found = copies.get(name) ?? [];
    if (found.length !== 1)
      throw new Error(`expected one copy of ${name}, found ${found.length}:\n  ${found.join("\n  ")}`);
  }
  step(`one copy each of ${single.join(", ")}`);

  const source = smokeSource();
  const tsc = join(app, "node_modules", "typescript", "bin", "tsc");
  for (const [format, dir] of [
    ["esm", app],
    ["cjs", join(app, "cjs")],
  ]) {
    mkdirSync(join(dir, "src"), { recursive: true });
    writeFileSync(join(dir, "src", "smoke.ts"), source);
    writeFileSync(join(dir, "tsconfig.json"), tsconfig(format));
    build(tsc, dir, format);
    const out = run(process.execPath, [join(dir, "out", "smoke.js")], dir, {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      AWS_EC2_METADATA_DISABLED: "true",
    });
    if (!out.includes(`smoke ok (${format})`)) throw new Error(`the ${format} build printed:\n${out}`);
    step(`${format}: tsc build and smoke run passed (${out.split("\n").at(-1)})`);
  }
  ok = true;
} finally {
  if (process.env.MM_PACK_KEEP === "1") console.log(`scratch app kept in ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
}
if (ok) step("pack smoke passed");

/** Every package directory under node_modules (nested ones included), by package name. */
function findPackages(dir, found = new Map()) {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    const dirs = entry.name.startsWith("@")
      ? readdirSync(path, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => join(path, e.name))
      : [path];
    for (const pkgDir of dirs) {
      if (!existsSync(join(pkgDir, "package.json"))) continue;
      const name = readJson(join(pkgDir, "package.json")).name;
      found.set(name, [...(found.get(name) ?? []), relative(app, pkgDir)]);
      findPackages(join(pkgDir, "node_modules"), found);
    }
  }
  return found;
}

/** better-sqlite3 compiles for a minute; the workspace already holds that version built for this Node. */
function reuseNativeBuild(appDir) {
  const target = join(appDir, "node_modules", "better-sqlite3");
  if (!existsSync(target)) throw new Error("better-sqlite3 was not installed");
  const version = readJson(join(target, "package.json")).version;
  const storeDir = join(
    root,
    "node_modules",
    ".pnpm",
    `better-sqlite3@${version}`,
    "node_modules",
    "better-sqlite3",
  );
  const built = join(storeDir, "build", "Release", "better_sqlite3.node");
  if (existsSync(built)) {
    mkdirSync(join(target, "build", "Release"), { recursive: true });
    cpSync(built, join(target, "build", "Release", "better_sqlite3.node"));
    step(`better-sqlite3 ${version}: reused the workspace's build for Node ${process.version}`);
  } else {
    run("npm", ["rebuild", "better-sqlite3"], appDir, {
      npm_config_nodedir: process.env.npm_config_nodedir ?? "/usr",
    });
    step(`better-sqlite3 ${version}: compiled (the workspace has no build of this version)`);
  }
}

/**
 * Builds with `skipLibCheck: false`: an unresolved type import in our declarations fails a user's build
 * there (and silently becomes `any` with skipLibCheck). Errors inside other packages' declarations are
 * printed but are not ours to fail on; tsc still emits the app then.
 */
function build(tsc, dir, format) {
  let out = "";
  try {
    execFileSync(process.execPath, [tsc, "-p", "tsconfig.json"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    out = `${err.stdout ?? ""}${err.stderr ?? ""}`;
  }
  const errors = out.split("\n").filter((line) => /\(\d+,\d+\): error TS/.test(line));
  const ours = errors.filter((line) => /^(\.\.\/)?(node_modules\/@marketmeter\/|src\/)/.test(line));
  if (ours.length > 0 || (out && errors.length === 0) || !existsSync(join(dir, "out", "smoke.js")))
    throw new Error(`${format}: tsc failed on our code or declarations:\n${out}`);
  if (errors.length > 0)
    step(`${format}: ${errors.length} error(s) in third-party declarations only:\n  ${errors.join("\n  ")}`);
}

function tsconfig(format) {
  return `${JSON.stringify(
    {
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2023"],
        types: ["node"],
        strict: true,
        esModuleInterop: true,
        skipLibCheck: false,
        outDir: "out",
        rootDir: "src",
      },
      include: ["src"],
      // The format comes from the nearest package.json ("module" here, "commonjs" in cjs/).
      ...(format === "esm" ? { exclude: ["cjs"] } : {}),
    },
    null,
    2,
  )}\n`;
}

/**
 * The app compiled twice. No top-level await, so the same text builds as CommonJS. It bills one request
 * through the packed express adapter into the packed emulator and checks the other adapters load.
 */
function smokeSource() {
  return `import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { isMarketplaceError } from "@marketmeter/core";
import { DEMO, demoConfig, startEmulator } from "@marketmeter/emulator";
import { createMarketplace, meterUsage } from "@marketmeter/express";
import * as hono from "@marketmeter/hono";
import * as koa from "@marketmeter/koa";
import { MarketplaceModule } from "@marketmeter/nestjs";
import { sqliteStore } from "@marketmeter/sqlite";
import express from "express";

const HOUR = 3_600_000;

async function main(format: string): Promise<void> {
  for (const [name, fn] of [["hono", hono.meterUsage], ["koa", koa.meterUsage], ["nestjs", MarketplaceModule.forRoot]] as const)
    if (typeof fn !== "function") throw new Error(\`@marketmeter/\${name} does not load\`);
  const sts = new STSClient({ region: "us-east-1" });
  if (!(new GetCallerIdentityCommand({}) instanceof Object) || typeof sts.send !== "function")
    throw new Error("@aws-sdk/client-sts does not load");

  const dir = mkdtempSync(join(tmpdir(), "mm-smoke-"));
  const emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }) });
  const marketplace = createMarketplace({
    products: [{ productCode: DEMO.P_CA }],
    dimensions: ["api_calls"],
    store: sqliteStore({ path: join(dir, "usage.db") }),
    aws: { region: "us-east-1", endpoint: emu.endpoint, credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } },
    clock: () => emu.clock.now().getTime(),
    autoStart: false,
  });
  try {
    const app = express();
    app.use(meterUsage(marketplace, { getCustomer: () => ({ customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1 }), dimension: "api_calls" }));
    app.get("/", (_req, res) => { res.send("ok"); });
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const res = await fetch(\`http://127.0.0.1:\${(server.address() as AddressInfo).port}/\`);
    if ((await res.text()) !== "ok") throw new Error(\`the app answered \${res.status}\`);
    for (let i = 0; marketplace.stats().records < 1; i++) {
      if (i > 500) throw new Error("the request was never recorded");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    emu.clock.set(emu.clock.now().getTime() + HOUR, { freeze: true });
    await marketplace.flush();
    const billed = emu.ledger();
    if (billed.length !== 1 || billed[0]?.quantity !== 1 || billed[0]?.dimension !== "api_calls")
      throw new Error(\`expected one billed unit of api_calls, the emulator billed \${JSON.stringify(billed)}\`);
    try {
      createMarketplace({ products: [], dimensions: [] } as never);
      throw new Error("an invalid configuration was accepted");
    } catch (err) {
      if (!isMarketplaceError(err, "INVALID_CONFIG")) throw err;
    }
    console.log(\`smoke ok (\${format}): one request billed as \${billed[0]?.quantity} api_calls for \${billed[0]?.hour}\`);
  } finally {
    await marketplace.close();
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main(typeof require === "function" ? "cjs" : "esm").catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
`;
}
