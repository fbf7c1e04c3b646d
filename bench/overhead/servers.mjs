// The benchmark servers: one hello-world app per framework and variant, all in this process.
//   bare        no middleware
//   map         the lower bound: a middleware that only increments a Map per customer (as a request starts)
//   mapfinish   the same Map increment once the response has finished with a status below 400: the
//               lower bound for metering that bills by status, as marketmeter does
//   prom        a prom-client counter labelled by customer and status, on response finish
//   marketmeter the adapter's meterUsage() on a dry-run marketplace with the memory store
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = new URL("../../packages/", import.meta.url);
const from = (pkg) => createRequire(fileURLToPath(new URL(`${pkg}/package.json`, root)));
const express = from("express")("express");
const Koa = from("koa")("koa");
const { Hono } = from("hono")("hono");
const { serve } = from("hono")("@hono/node-server");
const prom = from("adapter-conformance")("prom-client");
const core = await import(new URL("core/dist/index.js", root).href);
const adapters = {
  express: await import(new URL("express/dist/index.js", root).href),
  koa: await import(new URL("koa/dist/index.js", root).href),
  hono: await import(new URL("hono/dist/index.js", root).href),
};

export const VARIANTS = ["bare", "map", "mapfinish", "prom", "marketmeter"];
export const FRAMEWORKS = ["express", "koa", "hono"];

const P = "pca1234567890abcdefghijkl";
// Ten buyers; getCustomer hands back the same identity object per buyer, as an app with a tenant cache would.
const identities = new Map(
  Array.from({ length: 10 }, (_, i) => [
    `c${i}`,
    Object.freeze({
      productCode: P,
      customerAWSAccountId: String(100000000000 + i),
      licenseArn: `arn:aws:license-manager::294406891311:license:l-${String(i).padStart(32, "0")}`,
    }),
  ]),
);

export function makeMarketplace() {
  return core.createMarketplace({
    products: [{ productCode: P }],
    dimensions: ["api_calls"],
    dryRun: true,
    aws: {
      region: "us-east-1",
      endpoint: "http://127.0.0.1:9",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    },
  });
}

let promSeq = 0;
function counter(name) {
  name = `${name}_${++promSeq}`;
  const registry = new prom.Registry();
  return new prom.Counter({
    name,
    help: "requests by customer and status",
    labelNames: ["customer", "status"],
    registers: [registry],
  });
}

function expressApp(variant, marketplace) {
  const app = express();
  app.set("etag", false);
  app.set("x-powered-by", false);
  if (variant === "map") {
    const counts = new Map();
    app.use((req, _res, next) => {
      const c = req.headers["x-customer"];
      counts.set(c, (counts.get(c) ?? 0) + 1);
      next();
    });
  } else if (variant === "mapfinish") {
    const counts = new Map();
    function onFinish() {
      if (this.statusCode < 400) {
        const c = this.req.headers["x-customer"];
        counts.set(c, (counts.get(c) ?? 0) + 1);
      }
    }
    app.use((_req, res, next) => {
      res.on("finish", onFinish);
      next();
    });
  } else if (variant === "prom") {
    const requests = counter("express_requests_total");
    app.use((req, res, next) => {
      res.on("finish", () => requests.inc({ customer: req.headers["x-customer"], status: res.statusCode }));
      next();
    });
  } else if (variant === "marketmeter") {
    app.use(
      adapters.express.meterUsage(marketplace, {
        getCustomer: (req) => identities.get(req.headers["x-customer"]),
        dimension: "api_calls",
      }),
    );
  }
  app.get("/", (_req, res) => {
    res.end("hello");
  });
  return app;
}

function koaApp(variant, marketplace) {
  const app = new Koa();
  if (variant === "map") {
    const counts = new Map();
    app.use((ctx, next) => {
      const c = ctx.req.headers["x-customer"];
      counts.set(c, (counts.get(c) ?? 0) + 1);
      return next();
    });
  } else if (variant === "mapfinish") {
    const counts = new Map();
    app.use((ctx, next) => {
      ctx.res.on("finish", () => {
        if (ctx.res.statusCode < 400) {
          const c = ctx.req.headers["x-customer"];
          counts.set(c, (counts.get(c) ?? 0) + 1);
        }
      });
      return next();
    });
  } else if (variant === "prom") {
    const requests = counter("koa_requests_total");
    app.use((ctx, next) => {
      ctx.res.on("finish", () =>
        requests.inc({ customer: ctx.req.headers["x-customer"], status: ctx.res.statusCode }),
      );
      return next();
    });
  } else if (variant === "marketmeter") {
    app.use(
      adapters.koa.meterUsage(marketplace, {
        getCustomer: (ctx) => identities.get(ctx.req.headers["x-customer"]),
        dimension: "api_calls",
      }),
    );
  }
  app.use((ctx) => {
    ctx.body = "hello";
  });
  return app;
}

function honoApp(variant, marketplace) {
  const app = new Hono();
  if (variant === "map") {
    const counts = new Map();
    app.use(async (c, next) => {
      const k = c.req.header("x-customer");
      counts.set(k, (counts.get(k) ?? 0) + 1);
      await next();
    });
  } else if (variant === "mapfinish") {
    const counts = new Map();
    app.use(async (c, next) => {
      await next();
      if (c.res.status < 400) {
        const k = c.req.header("x-customer");
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
    });
  } else if (variant === "prom") {
    const requests = counter("hono_requests_total");
    app.use(async (c, next) => {
      await next();
      requests.inc({ customer: c.req.header("x-customer"), status: c.res.status });
    });
  } else if (variant === "marketmeter") {
    app.use(
      adapters.hono.meterUsage(marketplace, {
        getCustomer: (c) => identities.get(c.req.header("x-customer")),
        dimension: "api_calls",
      }),
    );
  }
  app.get("/", (c) => c.text("hello"));
  return app;
}

const listen = (server) =>
  new Promise((resolve, reject) => {
    server.once("error", reject);
    if (server.listening) resolve(server);
    else server.once("listening", () => resolve(server));
  });

/** Starts one server; returns { url, close, marketplace }. */
export async function start(framework, variant) {
  const marketplace = variant === "marketmeter" ? makeMarketplace() : undefined;
  let server;
  if (framework === "express") server = expressApp(variant, marketplace).listen(0, "127.0.0.1");
  else if (framework === "koa") server = koaApp(variant, marketplace).listen(0, "127.0.0.1");
  else server = serve({ fetch: honoApp(variant, marketplace).fetch, port: 0, hostname: "127.0.0.1" });
  // The crossover method leaves a variant's connections idle for several seconds between its rounds.
  server.keepAliveTimeout = 120_000;
  await listen(server);
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    marketplace,
    async close() {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
      await marketplace?.close();
    },
  };
}
