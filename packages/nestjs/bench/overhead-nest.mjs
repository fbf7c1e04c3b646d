#!/usr/bin/env node
// Overhead of metering in a NestJS (Express) hello-world app, against baselines measured in the same run:
//   bare          no middleware at all
//   map           the lower bound: one middleware that counts successful responses per customer in a Map
//   interceptor   an empty global interceptor (what metering through an interceptor would cost at least)
//   prom-client   a prom-client 15 counter incremented per response (method and status labels)
//   marketmeter   MarketplaceModule (dry run, in-memory store): one unit per successful response
// Every variant runs in this process; autocannon runs in a child process against 127.0.0.1. Rounds are
// interleaved (bare, map, … , bare, map, …) and the medians are printed with the ratio to bare.
// Usage: pnpm --filter @marketmeter/nestjs build && node bench/overhead-nest.mjs [--rounds 3] [--duration 4]
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};

if (args[0] === "--load") {
  // Child process: the load generator.
  const { default: autocannon } = await import("autocannon");
  const [, url, duration, connections] = args;
  const customers = ["111111111111", "222222222222", "333333333333"];
  const run = (seconds) =>
    autocannon({
      url,
      connections: Number(connections),
      duration: Number(seconds),
      requests: customers.map((c) => ({ method: "GET", path: "/", headers: { "x-customer-id": c } })),
    });
  await run(1); // warm-up: JIT, connection set-up
  const r = await run(duration);
  process.stdout.write(
    JSON.stringify({ rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.non2xx }),
  );
  process.exit(0);
}

await import("reflect-metadata");
const { Controller, Get, Module } = await import("@nestjs/common");
const { NestFactory, APP_INTERCEPTOR } = await import("@nestjs/core");
const { ExpressAdapter } = await import("@nestjs/platform-express");
const client = await import("prom-client");
const { MarketplaceModule } = await import("../dist/cjs/index.js").then((m) => m.default ?? m);

const rounds = flag("rounds", 3);
const duration = flag("duration", 4);
const connections = flag("connections", 10);

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
  labelNames: ["method", "status"],
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
        counter.inc({ method: this.req.method, status: this.statusCode });
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

const apps = {};
for (const [name, make] of Object.entries(variants)) {
  const app = await NestFactory.create(make(), new ExpressAdapter(), { logger: false });
  await app.listen(0, "127.0.0.1");
  apps[name] = { app, url: (await app.getUrl()).replace("[::1]", "127.0.0.1") };
}

function load(url) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), "--load", url, String(duration), String(connections)],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited ${code}`)),
    );
  });
}

const results = Object.fromEntries(Object.keys(variants).map((n) => [n, []]));
for (let r = 0; r < rounds; r++)
  for (const name of Object.keys(variants)) {
    const res = await load(apps[name].url);
    if (res.errors > 0) throw new Error(`${name}: ${res.errors} failed requests`);
    results[name].push(res);
    process.stderr.write(`round ${r + 1}/${rounds} ${name}: ${Math.round(res.rps)} req/s\n`);
  }

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const bare = median(results.bare.map((x) => x.rps));
const rows = Object.entries(results).map(([name, xs]) => {
  const rps = median(xs.map((x) => x.rps));
  return { name, rps, p99: median(xs.map((x) => x.p99)), ratio: rps / bare };
});
console.log(
  `\nNestJS ${(await import("@nestjs/core/package.json", { with: { type: "json" } })).default.version} on Express, Node ${process.versions.node}, ${connections} connections, ${rounds} x ${duration} s interleaved rounds (medians)\n`,
);
console.log("| variant | req/s | p99 (ms) | ratio to bare |");
console.log("| --- | ---: | ---: | ---: |");
for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.rps)} | ${r.p99} | ${r.ratio.toFixed(3)} |`);
const mm = rows.find((r) => r.name === "marketmeter");
const lower = rows.find((r) => r.name === "map");
const prom = rows.find((r) => r.name === "prom-client");
console.log(
  `\nmarketmeter ratio minus Map lower-bound ratio: ${(mm.ratio - lower.ratio).toFixed(3)} (target >= -0.03); minus prom-client ratio: ${(mm.ratio - prom.ratio).toFixed(3)} (target >= 0)`,
);
const metered = apps.marketmeter.app
  .get((await import("../dist/cjs/index.js").then((m) => m.default ?? m)).MarketplaceService)
  .stats();
console.log(`marketmeter recorded ${metered.records} requests`);
for (const { app } of Object.values(apps)) await app.close();
