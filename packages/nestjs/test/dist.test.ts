// The published build, not the sources: tsc must keep `design:paramtypes` (Nest's constructor injection
// reads it), and the ES module entry must hand out the very same classes as the CommonJS one.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { Emulator } from "@marketmeter/emulator";
import { Controller, Get } from "@nestjs/common";
import { ModuleRef, Reflector } from "@nestjs/core";
import { afterAll, beforeAll, expect, it } from "vitest";
import type * as Source from "../src/index.js";
import { startApp } from "./app.js";
import { A, billed, DEMO, HOUR, hit, marketplaceOptions, silent, startEmu } from "./bed.js";

const cjsPath = fileURLToPath(new URL("../dist/cjs/index.js", import.meta.url));
if (!existsSync(cjsPath))
  throw new Error("dist/ is missing: run `pnpm --filter @marketmeter/nestjs build` before the tests");
const packageRoot = fileURLToPath(new URL("..", import.meta.url));
const dist = createRequire(import.meta.url)(cjsPath) as typeof Source;

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmu();
});
afterAll(() => emu.close());

it("keeps design:paramtypes on the injectables of the build", () => {
  expect(Reflect.getMetadata("design:paramtypes", dist.SubscriptionGuard)).toEqual([Reflector, ModuleRef]);
  expect(Reflect.getMetadata("design:paramtypes", dist.MeterInterceptor)).toEqual([Reflector]);
  expect(Reflect.getMetadata("design:paramtypes", dist.MarketplaceModule)).toHaveLength(3);
  expect(Reflect.getMetadata("design:paramtypes", dist.MarketplaceModule)[0]).toBe(Object);
});

it("the ES module entry re-exports the CommonJS classes (one copy of every token), in plain Node", () => {
  // A child process, so Node's own loader (not the test runner's) resolves the package exports.
  const script = `
    import "reflect-metadata";
    import * as esm from "@marketmeter/nestjs";
    import { createRequire } from "node:module";
    const cjs = createRequire(import.meta.url)("@marketmeter/nestjs");
    const names = Object.keys(esm).sort();
    console.log(JSON.stringify({
      same: names.every((n) => esm[n] === cjs[n]),
      count: names.length,
      missing: Object.keys(cjs).filter((n) => n !== "__esModule" && !(n in esm)),
      module: typeof esm.MarketplaceModule,
    }));`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: packageRoot,
    encoding: "utf8",
  });
  const result = JSON.parse(out) as { same: boolean; count: number; missing: string[]; module: string };
  expect(result).toMatchObject({ same: true, missing: [], module: "function" });
  expect(result.count).toBeGreaterThan(20);
});

it("an app built from dist resolves the module, its service and the decorators' guards through DI", async () => {
  @Controller()
  class DistController {
    @dist.Meter("gb_stored", 4)
    @Get("stored")
    stored() {
      return "stored";
    }

    @dist.RequireSubscription()
    @Get("paid")
    paid() {
      return "paid";
    }
  }
  const started = await startApp(
    "express",
    [
      dist.MarketplaceModule.forRootAsync({
        useFactory: () => ({
          marketplace: { ...marketplaceOptions(emu), logger: silent },
          getCustomer: (req: { headers: Record<string, string> }) =>
            req.headers["x-account"]
              ? { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1, productCode: DEMO.P_CA }
              : undefined,
        }),
      }),
    ],
    [DistController],
  );
  try {
    const service = started.app.get(dist.MarketplaceService);
    expect(typeof service.record).toBe("function");
    expect(await hit(started.base, "/stored", A, 2)).toEqual([200, 200]);
    expect(await hit(started.base, "/paid", {})).toEqual([403]);
    emu.clock.advance(HOUR);
    await service.flush();
    expect(billed(emu)).toEqual({ "L1/gb_stored/10h": 8 });
  } finally {
    await started.close();
  }
});
