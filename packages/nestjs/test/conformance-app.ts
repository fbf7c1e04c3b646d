// The conformance app (see @marketmeter/adapter-conformance), written the way a Nest user would.
import "reflect-metadata";
import {
  ADMIN_TOKEN,
  type AdapterUnderTest,
  type ConformanceApp,
  type ConformanceHooks,
} from "@marketmeter/adapter-conformance";
import { Controller, Get, Module, Param, Post, Query, Req, Res } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ExpressAdapter } from "@nestjs/platform-express";
import { FastifyAdapter } from "@nestjs/platform-fastify";
import {
  type AccessAllowed,
  getSubscription,
  MarketplaceModule,
  MarketplaceService,
  Meter,
  RequireSubscription,
  SkipMetering,
  Subscription,
} from "../src/index.js";
import type { Platform } from "./app.js";

/** What these routes use of a response, common to Express's response and Fastify's reply. */
interface PlatformResponse {
  status(code: number): unknown;
  header(name: string, value: string): unknown;
  getHeader(name: string): unknown;
}

type Headers = Record<string, string | string[] | undefined>;
const headersOf = (x: unknown): Headers | undefined =>
  typeof x === "object" && x !== null && "headers" in x && typeof x.headers === "object" && x.headers !== null
    ? (x.headers as Headers)
    : undefined;

/** A request header from Express's request or Fastify's (whose Node request is `raw`). */
const header = (req: unknown, name: string): string | undefined => {
  const raw = typeof req === "object" && req !== null && "raw" in req ? req.raw : undefined;
  const value = (headersOf(raw) ?? headersOf(req))?.[name];
  return Array.isArray(value) ? value[0] : value;
};

function controllerFor(hooks: ConformanceHooks) {
  @Controller()
  class ConformanceController {
    constructor(private readonly marketplace: MarketplaceService) {}

    @Get("hello")
    hello() {
      return "hello";
    }

    @Get("status/:code")
    status(@Param("code") code: string, @Res({ passthrough: true }) res: PlatformResponse) {
      res.status(Number(code));
      return `status ${code}`;
    }

    @Get("throw")
    throws() {
      throw new Error("handler failed (conformance)");
    }

    @Meter("gb_stored", (req: unknown) => Number(header(req, "x-units")))
    @Post("upload")
    upload() {
      return "stored";
    }

    @Meter("api_calls", (_req: unknown, res: PlatformResponse) => Number(res.getHeader("x-rows")))
    @Get("rows")
    rows(@Query("n") n: string, @Res({ passthrough: true }) res: PlatformResponse) {
      res.header("x-rows", n);
      return Array.from({ length: Number(n) }, (_, i) => ({ row: i }));
    }

    @SkipMetering()
    @Get("free")
    free() {
      return "free";
    }

    // Nest mounts the module's metering once; the route stays to show it is billed once.
    @Get("twice")
    twice() {
      return "twice";
    }

    @SkipMetering()
    @Get("manual")
    async manual(@Req() req: unknown) {
      const identity = await hooks.customer(header(req, "x-customer"));
      if (identity && typeof identity === "object" && !("tenantId" in identity))
        this.marketplace.record({ identity, dimension: "gb_stored", quantity: 7 });
      return "manual";
    }

    @RequireSubscription()
    @Get("paid")
    paid(@Subscription() subscription: AccessAllowed | undefined) {
      return { tenantId: subscription?.tenantId };
    }

    @RequireSubscription({ failOpen: true })
    @Get("paid-open")
    paidOpen(@Req() req: object) {
      return { tenantId: getSubscription(req)?.tenantId };
    }
  }
  return ConformanceController;
}

export async function startConformanceApp(
  platform: Platform,
  hooks: ConformanceHooks,
): Promise<ConformanceApp> {
  @Module({
    imports: [
      MarketplaceModule.forRoot({
        marketplace: hooks.marketplace,
        dimension: "api_calls",
        getCustomer: (req) => hooks.customer(header(req, "x-customer")),
        onError: (error) => hooks.onMeterError(error),
        registration: { signUpUrl: "/signup?from=aws" },
        usagePage: { authorize: (req) => header(req, "x-admin") === ADMIN_TOKEN },
        routes: {
          registration: "/marketplace/register",
          eventBridge: "/marketplace/events",
          sns: "/marketplace/sns",
          usagePage: "/usage",
          buyerUsage: "/my-usage",
        },
        // The suite closes its marketplace itself.
        closeOnShutdown: false,
      }),
    ],
    controllers: [controllerFor(hooks)],
  })
  class ConformanceModule {}
  const adapter = platform === "express" ? new ExpressAdapter() : new FastifyAdapter();
  const app = await NestFactory.create(ConformanceModule, adapter as never, {
    logger: false,
    abortOnError: false,
  });
  await app.listen(0, "127.0.0.1");
  const url = (await app.getUrl()).replace("[::1]", "127.0.0.1");
  return { url, close: () => app.close() };
}

export const nestAdapters: AdapterUnderTest[] = [
  { name: "nestjs (express)", start: (hooks) => startConformanceApp("express", hooks), usageLocal: false },
  { name: "nestjs (fastify)", start: (hooks) => startConformanceApp("fastify", hooks), usageLocal: false },
];
