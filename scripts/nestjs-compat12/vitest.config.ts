import { existsSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineProject } from "vitest/config";

// The suites live in packages/nestjs and import NestJS by name; from there those names resolve to the
// workspace's NestJS 11. Every import of them is pointed at this folder's NestJS 12 (installed with npm,
// see package.json) so the adapter's sources and the test apps run on one NestJS 12 copy.
const modules = join(fileURLToPath(new URL(".", import.meta.url)), "node_modules");
if (!existsSync(join(modules, "@nestjs", "core")))
  throw new Error(
    "NestJS 12 is not installed here: run `npm install --engine-strict` in scripts/nestjs-compat12 on Node 22+",
  );
const redirected = [
  "@nestjs/common",
  "@nestjs/core",
  "@nestjs/platform-express",
  "@nestjs/platform-fastify",
  "@nestjs/testing",
  "rxjs",
  "reflect-metadata",
];

export default defineProject({
  resolve: {
    alias: redirected.map((name) => ({
      find: new RegExp(`^${name.replace("/", "\\/")}(/.*)?$`),
      replacement: `${realpathSync(join(modules, name))}$1`,
    })),
  },
  test: {
    name: "nestjs-compat12",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
