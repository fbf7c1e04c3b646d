#!/usr/bin/env node
// Overhead of metering in a NestJS (Express) hello-world app, against baselines measured in the same run:
//   bare          no middleware at all
//   map           the lower bound: one middleware that counts successful responses per customer in a Map
//   interceptor   an empty global interceptor (what metering through an interceptor would cost at least)
//   prom-client   a prom-client 15 counter incremented per response (customer and status labels)
//   marketmeter   MarketplaceModule (dry run, in-memory store): one unit per successful response
// The shared harness (bench/overhead/harness.mjs) measures them four ways: sequential autocannon rounds
// and concurrent rounds (each variant in its own process), crossover rounds (every process serves
// every variant in turn, so differences between processes cancel out), and paired rounds (each variant
// against bare in two processes that swap; the verdict).
// Usage: pnpm --filter @marketmeter/nestjs build && node bench/overhead-nest.mjs (from the repository root)
// Options (env): ROUNDS (sequential, default 3), SECONDS (2), CSESSIONS (concurrent sessions of fresh
// processes, 6), CROUNDS (rounds per session, 8), CSECONDS (1.5), XCYCLES (crossover cycles, 8),
// XSECONDS (1.5), PCYCLES (paired cycles, 8), PSECONDS (1.5).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
process.env.AWS_EC2_METADATA_DISABLED ??= "true";

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const harness = await import(new URL("./overhead/harness.mjs", import.meta.url).href);
// NestJS, prom-client and the adapter resolve from the NestJS package, which has them as dev dependencies.
const nestPackage = fileURLToPath(new URL("../packages/nestjs/package.json", import.meta.url));
const from = createRequire(nestPackage);

const args = process.argv.slice(2);
const VARIANTS = ["bare", "map", "interceptor", "prom-client", "marketmeter"];
const customers = ["111111111111", "222222222222", "333333333333"];

if (args[0] !== "--serve") {
  // The orchestrator: variants are served by this script in child processes (`--serve <variant>[,…]`).
  const env = (k, d) => Number(process.env[k] ?? d);
  const common = {
    script: fileURLToPath(import.meta.url),
    args: ["--serve"],
    variants: VARIANTS,
    header: "x-customer-id",
    customers,
  };
  const seq = await harness.measure({
    ...common,
    rounds: env("ROUNDS", 3),
    seconds: env("SECONDS", 2),
    connections: 10,
  });
  const con = await harness.measureConcurrent({
    ...common,
    sessions: env("CSESSIONS", 6),
    rounds: env("CROUNDS", 8),
    seconds: env("CSECONDS", 1.5),
  });
  const xo = await harness.measureCrossover({
    ...common,
    cycles: env("XCYCLES", 8),
    seconds: env("XSECONDS", 1.5),
  });
  const pa = await harness.measurePaired({
    ...common,
    cycles: env("PCYCLES", 8),
    seconds: env("PSECONDS", 1.5),
  });
  const { version } = from("@nestjs/core/package.json");
  console.log(`\nNestJS ${version} on Express, Node ${process.versions.node}`);
  console.log(
    harness.table(
      [
        "variant",
        "req/s (sequential)",
        "p99",
        "ratio to bare (sequential)",
        "CPU µs/request (concurrent)",
        "ratio to bare (concurrent, mean of sessions)",
        "± standard error",
        "ratio to bare (crossover, mean of cycles)",
        "± standard error ",
        "ratio to bare (paired, mean of cycles)",
        "± standard error  ",
      ],
      VARIANTS.map((v) => [
        v,
        Math.round(seq.results[v].rps).toLocaleString("en-US"),
        `${seq.results[v].p99} ms`,
        seq.results[v].ratio.toFixed(3),
        con.results[v].us.toFixed(1),
        con.results[v].ratio.toFixed(3),
        `± ${con.results[v].se.toFixed(3)}`,
        xo.results[v].ratio.toFixed(3),
        `± ${xo.results[v].se.toFixed(3)}`,
        pa.results[v].ratio.toFixed(3),
        `± ${pa.results[v].se.toFixed(3)}`,
      ]),
    ),
  );
  for (const [label, r] of [
    ["paired, the verdict", pa.results],
    ["crossover", xo.results],
    ["concurrent", con.results],
    ["sequential req/s", seq.results],
  ]) {
    const mm = r.marketmeter.ratio;
    const map = r.map.ratio;
    const pc = r["prom-client"].ratio;
    console.log(
      `nestjs (${label}): marketmeter ${mm.toFixed(3)} vs Map ${map.toFixed(3)} (gap ${(map - mm).toFixed(3)}, target ≤ 0.030: ${map - mm <= 0.03 ? "met" : "MISSED"}); vs prom-client ${pc.toFixed(3)} (${mm >= pc ? "at or above" : "BELOW"}); empty interceptor ${r.interceptor.ratio.toFixed(3)}`,
    );
  }
  console.log(
    `marketmeter recorded ${(seq.stats.marketmeter ?? 0) + (con.stats.marketmeter ?? 0) + (xo.stats.marketmeter ?? 0) + (pa.stats.marketmeter ?? 0)} requests`,
  );
  process.exit(0);
}

from("reflect-metadata");
const { Controller, Get, Module } = from("@nestjs/common");
const { NestFactory, APP_INTERCEPTOR } = from("@nestjs/core");
const { ExpressAdapter } = from("@nestjs/platform-express");
const client = from("prom-client");
const { MarketplaceModule } = from("./dist/cjs/index.js");

// Decorators applied by hand: this script is plain JavaScript.
function helloController() {
  class HelloController {
    hello() {
      return "hello";
    }
  }
  Controller()(HelloController);
  Get()(
    HelloController.prototype,
    "hello",
    Object.getOwnPropertyDescriptor(HelloController.prototype, "hello"),
  );
  return HelloController;
}

function appModule(name, { imports = [], providers = [], configure } = {}) {
  const cls = { [name]: class {} }[name];
  if (configure) cls.prototype.configure = configure;
  Module({ imports, providers, controllers: [helloController()] })(cls);
  return cls;
}

function onFinishMiddleware(onFinish) {
  return (consumer) => {
    consumer
      .apply((_req, res, next) => {
        res.on("finish", onFinish);
        next();
      })
      .forRoutes({ path: "*", method: -1 });
  };
}

const counts = new Map();
const counter = new client.Counter({
  name: "http_requests_total",
  help: "requests",
  labelNames: ["customer", "status"],
});
const identities = new Map();

const variants = {
  bare: () => appModule("Bare"),
  map: () =>
    appModule("MapCount", {
      configure: onFinishMiddleware(function () {
        if (this.statusCode < 400) {
          const k = this.req.headers["x-customer-id"];
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
      }),
    }),
  interceptor: () =>
    appModule("Intercepted", {
      providers: [{ provide: APP_INTERCEPTOR, useValue: { intercept: (_ctx, next) => next.handle() } }],
    }),
  "prom-client": () =>
    appModule("Prom", {
      configure: onFinishMiddleware(function () {
        counter.inc({ customer: this.req.headers["x-customer-id"], status: this.statusCode });
      }),
    }),
  marketmeter: () =>
    appModule("Metered", {
      imports: [
        MarketplaceModule.forRoot({
          marketplace: {
            products: [{ productCode: "pca1234567890abcdefghijkl" }],
            dimensions: ["api_calls"],
            dryRun: true,
          },
          getCustomer: (req) => {
            const id = req.headers["x-customer-id"];
            let identity = identities.get(id);
            if (!identity) identities.set(id, (identity = { customerAWSAccountId: id }));
            return identity;
          },
          closeOnShutdown: true,
        }),
      ],
    }),
};

const { MarketplaceService } = from("./dist/cjs/index.js");
await harness.serveVariants(args[1].split(","), async (variant) => {
  const app = await NestFactory.create(variants[variant](), new ExpressAdapter(), { logger: false });
  await app.listen(0, "127.0.0.1");
  // The crossover method leaves a variant's connections idle for several seconds between its rounds.
  app.getHttpServer().keepAliveTimeout = 120_000;
  const url = (await app.getUrl()).replace("[::1]", "127.0.0.1");
  return {
    url: url.endsWith("/") ? url : `${url}/`,
    stats: variant === "marketmeter" ? () => app.get(MarketplaceService).stats().records : undefined,
    close: () => app.close(),
  };
});
