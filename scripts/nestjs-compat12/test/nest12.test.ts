// The @marketmeter/nestjs suites (Express and Fastify platforms, emulator-backed) on NestJS 12 (Node 22+).
import { createRequire } from "node:module";
import { NestApplication } from "@nestjs/core";
import { expect, it } from "vitest";
import { startApp } from "../../../packages/nestjs/test/app.js";
import "../../../packages/nestjs/test/metering.test.js";
import "../../../packages/nestjs/test/buyers.test.js";
import "../../../packages/nestjs/test/module.test.js";
import "../../../packages/nestjs/test/conformance.test.js";

it("the suites' apps really run on NestJS 12", async () => {
  const version = createRequire(import.meta.url)("@nestjs/core/package.json").version as string;
  expect(version).toMatch(/^12\./);
  const started = await startApp("express", []);
  try {
    expect(started.app).toBeInstanceOf(NestApplication);
  } finally {
    await started.close();
  }
});
