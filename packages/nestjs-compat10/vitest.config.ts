import { realpathSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineProject } from "vitest/config";

// The suites live in packages/nestjs and import NestJS by name; from there those names would resolve to
// NestJS 11. Every import of them is pointed at this package's NestJS 10 instead, so the adapter's sources
// and the test apps run on one NestJS 10 copy.
const here = (name: string) =>
  realpathSync(join(fileURLToPath(new URL(".", import.meta.url)), "node_modules", name));
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
      replacement: `${here(name)}$1`,
    })),
  },
  test: {
    name: "nestjs-compat10",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
