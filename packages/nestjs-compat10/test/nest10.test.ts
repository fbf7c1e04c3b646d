// The @marketmeter/nestjs suites (Express and Fastify platforms, emulator-backed) on NestJS 10.
import { createRequire } from "node:module";
import { NestApplication } from "@nestjs/core";
import { expect, it } from "vitest";
import { startApp } from "../../nestjs/test/app.js";
import "../../nestjs/test/metering.test.js";
import "../../nestjs/test/buyers.test.js";
import "../../nestjs/test/module.test.js";
import "../../nestjs/test/conformance.test.js";

it("the suites' apps really run on NestJS 10", async () => {
  const version = createRequire(import.meta.url)("@nestjs/core/package.json").version as string;
  expect(version).toMatch(/^10\./);
  const started = await startApp("express", []);
  try {
    expect(started.app).toBeInstanceOf(NestApplication);
  } finally {
    await started.close();
  }
});
