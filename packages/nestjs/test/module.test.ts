import type { Emulator } from "@marketmeter/emulator";
import { Controller, Get, Injectable, Module } from "@nestjs/common";
import { APP_GUARD, HttpAdapterHost, ModuleRef, Reflector } from "@nestjs/core";
import { Test } from "@nestjs/testing";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as nest from "../src/index.js";
import {
  type AccessAllowed,
  createMarketplace,
  isMarketplaceError,
  MarketplaceModule,
  MarketplaceService,
  Meter,
  RequireSubscription,
  Subscription,
  SubscriptionGuard,
} from "../src/index.js";
import { ApiController, customerFromHeaders, startApp } from "./app.js";
import { A, billed, DEMO, HOUR, hit, marketplaceOptions, startEmu } from "./bed.js";

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmu();
});
afterAll(() => emu.close());

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return isMarketplaceError(err) ? `${err.code}: ${err.message}` : `uncoded: ${String(err)}`;
  }
  return undefined;
};

async function compileError(module: ReturnType<typeof MarketplaceModule.forRoot>): Promise<string> {
  try {
    const ref = await Test.createTestingModule({ imports: [module] }).compile();
    await ref.close();
  } catch (err) {
    return isMarketplaceError(err) ? err.code : `uncoded: ${String(err)}`;
  }
  return "compiled";
}

describe("configuration errors are coded and say what to fix", () => {
  it("forRoot/forRootAsync validate options when the module is built", async () => {
    const base = { marketplace: marketplaceOptions(emu), getCustomer: () => undefined };
    expect(await compileError(MarketplaceModule.forRoot({ ...base, getCustomer: "x" as never }))).toBe(
      "INVALID_CONFIG",
    );
    expect(await compileError(MarketplaceModule.forRoot({ ...base, failOpen: "yes" as never }))).toBe(
      "INVALID_CONFIG",
    );
    expect(await compileError(MarketplaceModule.forRoot({ ...base, surprise: 1 } as never))).toBe(
      "INVALID_CONFIG",
    );
    expect(
      await compileError(MarketplaceModule.forRoot({ ...base, marketplace: { products: [] } as never })),
    ).toBe("INVALID_CONFIG");
    // An instance has no list of dimensions to take the default from.
    const instance = createMarketplace({ ...marketplaceOptions(emu) });
    expect(await compileError(MarketplaceModule.forRoot({ ...base, marketplace: instance }))).toBe(
      "INVALID_CONFIG",
    );
    await instance.close();
    // The fulfillment URL needs to know where to send the buyer.
    expect(await compileError(MarketplaceModule.forRoot({ ...base, routes: { registration: "/r" } }))).toBe(
      "INVALID_CONFIG",
    );
    expect(
      await compileError(
        MarketplaceModule.forRoot({
          ...base,
          routes: { registration: "/r" },
          registration: { signUpUrl: "javascript:alert(1)" },
        }),
      ),
    ).toBe("INVALID_CONFIG");
    expect(
      await compileError(
        MarketplaceModule.forRootAsync({ useFactory: () => ({ ...base, routes: { sns: "/sns" } }) as never }),
      ),
    ).toBe("INVALID_CONFIG");
    expect(
      codeOf(() => MarketplaceModule.forRoot({ ...base, routes: { registration: "no-slash" } })),
    ).toMatch(/^INVALID_CONFIG/);
    expect(
      codeOf(() => MarketplaceModule.forRoot({ ...base, routes: { sns: "/x", eventBridge: "/x" } })),
    ).toMatch(/^INVALID_CONFIG/);
    expect(codeOf(() => MarketplaceModule.forRoot({ ...base, routes: { other: "/x" } as never }))).toMatch(
      /^INVALID_CONFIG/,
    );
    expect(codeOf(() => MarketplaceModule.forRootAsync({} as never))).toMatch(/^INVALID_CONFIG/);
    expect(codeOf(() => MarketplaceModule.forRoot(null as never))).toMatch(/^INVALID_CONFIG/);
    // The usage page shows every customer's usage: never mounted without authorize or localOnly.
    expect(
      await compileError(MarketplaceModule.forRoot({ ...base, routes: { usagePage: "/admin/usage" } })),
    ).toBe("INVALID_CONFIG");
    expect(
      await compileError(
        MarketplaceModule.forRoot({ ...base, routes: { usagePage: "/admin/usage" }, usagePage: {} }),
      ),
    ).toBe("INVALID_CONFIG");
    expect(await compileError(MarketplaceModule.forRoot({ ...base, usagePage: { localOnly: true } }))).toBe(
      "INVALID_CONFIG",
    );
    expect(
      await compileError(
        MarketplaceModule.forRoot({
          ...base,
          routes: { usagePage: "/admin/usage" },
          usagePage: { localOnly: true },
        }),
      ),
    ).toBe("compiled");
  });

  it("decorators validate their arguments at class definition", () => {
    expect(codeOf(() => Meter(""))).toMatch(/^INVALID_CONFIG/);
    expect(codeOf(() => Meter(3 as never))).toMatch(/^INVALID_CONFIG/);
    expect(codeOf(() => Meter("api_calls", -1))).toMatch(/^INVALID_CONFIG/);
    expect(codeOf(() => Meter("api_calls", 1.5))).toMatch(/^INVALID_CONFIG/);
    expect(codeOf(() => Meter("api_calls", "2" as never))).toMatch(/^INVALID_CONFIG/);
    expect(codeOf(() => Meter("api_calls", 0))).toBeUndefined();
  });
});

@Injectable()
class Settings {
  readonly dimension = "gb_stored";
}
@Module({ providers: [Settings], exports: [Settings] })
class SettingsModule {}

@Injectable()
class Reporter {
  constructor(readonly marketplace: MarketplaceService) {}
}
@Module({ providers: [Reporter] })
class FeatureModule {}

@Controller("guarded")
class GuardedController {
  @Get("open")
  open() {
    return "open";
  }

  @RequireSubscription()
  @Get("closed")
  closed() {
    return "closed";
  }
}

describe("module wiring", () => {
  it("forRootAsync with imports/inject; isGlobal makes MarketplaceService injectable everywhere; MARKETPLACE is the instance", async () => {
    const started = await startApp("express", [
      MarketplaceModule.forRootAsync({
        imports: [SettingsModule],
        inject: [Settings],
        useFactory: async (settings: Settings) => ({
          marketplace: marketplaceOptions(emu),
          getCustomer: (req: { headers: Record<string, string> }) =>
            req.headers["x-account"]
              ? {
                  customerAWSAccountId: req.headers["x-account"],
                  licenseArn: DEMO.L1,
                  productCode: DEMO.P_CA,
                }
              : undefined,
          dimension: settings.dimension,
        }),
        isGlobal: true,
      }),
      FeatureModule,
    ]);
    try {
      const reporter = started.app.get(Reporter);
      // The service is the core's instance itself: every method, none lagging behind.
      expect(reporter.marketplace).toBe(started.app.get(MarketplaceService));
      expect(typeof reporter.marketplace.registration).toBe("function");
      expect(typeof reporter.marketplace.grain).toBe("function");
      expect(await hit(started.base, "/hello", A, 2)).toEqual([200, 200]);
      emu.clock.advance(HOUR);
      await reporter.marketplace.flush();
      expect(billed(emu)).toEqual({ "L1/gb_stored/10h": 2 });
    } finally {
      await started.close();
      emu.reset();
      emu.clock.set(Date.parse(DEMO.now), { freeze: true });
    }
  });

  it("SubscriptionGuard as APP_GUARD only acts on @RequireSubscription routes; failOpen lets a failed check through", async () => {
    for (const failOpen of [false, true]) {
      const started = await startApp(
        "fastify",
        [
          MarketplaceModule.forRoot({
            marketplace: marketplaceOptions(emu),
            getCustomer: (req: { headers: Record<string, string> }) => {
              if (req.headers["x-broken"]) throw new Error("session store down");
              return undefined;
            },
            failOpen,
          }),
          {
            module: class GuardModule {},
            providers: [{ provide: APP_GUARD, useClass: SubscriptionGuard }],
          },
        ],
        [GuardedController],
      );
      try {
        expect(await hit(started.base, "/guarded/open", {})).toEqual([200]);
        expect(await hit(started.base, "/guarded/closed", {})).toEqual([403]);
        const broken = await fetch(`${started.base}/guarded/closed`, { headers: { "x-broken": "1" } });
        if (failOpen) expect(broken.status).toBe(200);
        else {
          expect(broken.status).toBe(503);
          expect(broken.headers.get("retry-after")).toBe("5");
          expect(await broken.json()).toMatchObject({
            status: 503,
            type: "urn:marketmeter:problem:subscription-check-failed",
          });
        }
      } finally {
        await started.close();
      }
    }
  });

  it("a marketplace instance passed in is used as is, and closeOnShutdown: false leaves it open", async () => {
    const marketplace = createMarketplace(marketplaceOptions(emu));
    const started = await startApp(
      "express",
      [
        MarketplaceModule.forRoot({
          marketplace,
          dimension: "api_calls",
          closeOnShutdown: false,
          getCustomer: () => ({ customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1, productCode: DEMO.P_CA }),
        }),
      ],
      [ApiController],
    );
    expect(started.app.get(MarketplaceService)).toBe(marketplace);
    await hit(started.base, "/hello", {}, 2);
    await started.close();
    // Still open: recording works after the app is gone.
    marketplace.record({
      identity: { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1, productCode: DEMO.P_CA },
      dimension: "api_calls",
      quantity: 1,
    });
    await marketplace.close();
    expect(billed(emu)).toEqual({ "L1/api_calls/10h": 3 });
    emu.reset();
    emu.clock.set(Date.parse(DEMO.now), { freeze: true });
  });
});

describe("constructor injection", () => {
  it("every injectable names real classes in design:paramtypes (type-only imports would turn them into Object)", () => {
    expect(Reflect.getMetadata("design:paramtypes", MarketplaceModule)?.[2]).toBe(HttpAdapterHost);
    expect(Reflect.getMetadata("design:paramtypes", SubscriptionGuard)).toEqual([Reflector, ModuleRef]);
    expect(Reflect.getMetadata("design:paramtypes", nest.MeterInterceptor)).toEqual([Reflector]);
    expect(Reflect.getMetadata("design:paramtypes", nest.SubscriptionProblemFilter)).toEqual([
      HttpAdapterHost,
    ]);
  });
});

describe("public exports", () => {
  it("adds exactly these names to the core's API", async () => {
    const core = await import("@marketmeter/core");
    const own = Object.keys(nest)
      .filter((k) => !(k in core))
      .sort();
    expect(own).toMatchInlineSnapshot(`
      [
        "MarketplaceModule",
        "MarketplaceService",
        "Meter",
        "MeterInterceptor",
        "PROBLEM_CONTENT_TYPE",
        "RequireSubscription",
        "SkipMetering",
        "Subscription",
        "SubscriptionGuard",
        "SubscriptionProblemFilter",
        "SubscriptionRequiredException",
        "getSubscription",
      ]
    `);
    for (const k of Object.keys(core))
      expect((nest as Record<string, unknown>)[k]).toBe((core as Record<string, unknown>)[k]);
  });
});

describe("said once", () => {
  it("the marketplace's logger is the module's: a metering failure is logged there", async () => {
    const lines: string[] = [];
    const log = (_obj: unknown, msg?: string) => void lines.push(String(msg));
    const logger = { debug: log, info: log, warn: log, error: log };
    const started = await startApp(
      "express",
      [
        MarketplaceModule.forRoot({
          marketplace: { ...marketplaceOptions(emu), logger },
          getCustomer: () => {
            throw new Error("session store down");
          },
        }),
      ],
      [ApiController],
    );
    try {
      expect(await hit(started.base, "/hello", {})).toEqual([200]);
      await vi.waitFor(() => expect(lines).toContain("marketmeter: request not metered"), { interval: 5 });
    } finally {
      await started.close();
    }
  });

  it("forRoot with isGlobal and forRootAsync with useClass wire the service and the guard everywhere", async () => {
    @Injectable()
    class Config {
      create() {
        return { marketplace: marketplaceOptions(emu), getCustomer: customerFromHeaders };
      }
    }
    @Controller("who")
    class WhoController {
      constructor(readonly marketplace: MarketplaceService) {}

      @RequireSubscription()
      @Get()
      who(@Subscription() subscription: AccessAllowed | undefined) {
        return { customer: subscription?.identity?.customerAWSAccountId ?? null };
      }
    }
    for (const module of [
      MarketplaceModule.forRoot({
        marketplace: marketplaceOptions(emu),
        getCustomer: customerFromHeaders,
        isGlobal: true,
      }),
      MarketplaceModule.forRootAsync({ useClass: Config, isGlobal: true }),
    ]) {
      const started = await startApp("express", [module, FeatureModule], [WhoController]);
      try {
        expect(started.app.get(Reporter).marketplace).toBe(started.app.get(MarketplaceService));
        // Nobody registered this buyer: the guard, found through the global module, refuses.
        const res = await fetch(`${started.base}/who`, { headers: A });
        expect([res.status, ((await res.json()) as { reason: string }).reason]).toEqual([
          403,
          "not-registered",
        ]);
      } finally {
        await started.close();
      }
    }
  });
});
