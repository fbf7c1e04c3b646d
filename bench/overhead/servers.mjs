// The benchmark servers: one hello-world app per framework and variant, all in this process.
//   bare        no middleware
//   map         the lower bound: a middleware that only increments a Map per customer (as a request starts)
//   mapfinish   the same Map increment once the response has finished with a status below 400: the
//               lower bound for metering that bills by status, as marketmeter does
//   prom        a prom-client counter labelled by customer and status, on response finish
//   marketmeter the adapter's meterUsage() on a dry-run marketplace with the memory store, or with the
//               store BENCH_STORE names: sqlite (a temp file), postgres (DATABASE_URL), redis (REDIS_URL).
//               The request path never touches the store (checkpoints run in the background), so the
//               figures should not move with it.
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

const BENCH_STORE = process.env.BENCH_STORE || "memory";
async function storeFactory() {
  if (BENCH_STORE === "memory") return () => undefined;
  const unique = `bench_ab_${process.pid}_${Date.now().toString(36)}`;
  if (BENCH_STORE === "sqlite") {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { sqliteStore } = await import(new URL("sqlite/dist/index.js", root).href);
    const dir = mkdtempSync(join(tmpdir(), "mm-bench-ab-"));
    let n = 0;
    return () => sqliteStore({ path: join(dir, `${++n}.db`) });
  }
  if (BENCH_STORE === "postgres") {
    if (!process.env.DATABASE_URL) throw new Error("BENCH_STORE=postgres needs DATABASE_URL");
    const { postgresStore } = await import(new URL("postgres/dist/index.js", root).href);
    const pg = from("postgres")("pg");
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
    let n = 0;
    return () => postgresStore({ pool, schema: `${unique}_${++n}` });
  }
  if (BENCH_STORE === "redis") {
    if (!process.env.REDIS_URL) throw new Error("BENCH_STORE=redis needs REDIS_URL");
    const { redisStore } = await import(new URL("redis/dist/index.js", root).href);
    const { Redis } = from("redis")("ioredis");
    const client = new Redis(process.env.REDIS_URL);
    let n = 0;
    return () => redisStore({ client, keyPrefix: `${unique}_${++n}` });
  }
  throw new Error(
    `BENCH_STORE must be memory, sqlite, postgres or redis; got ${JSON.stringify(BENCH_STORE)}`,
  );
}
const makeStore = await storeFactory();

export function makeMarketplace() {
  const store = makeStore();
  return core.createMarketplace({
    ...(store ? { store } : {}),
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

/** The variant's middleware for Express (undefined for bare). */
function expressMiddleware(variant, marketplace) {
  if (variant === "map") {
    const counts = new Map();
    return (req, _res, next) => {
      const c = req.headers["x-customer"];
      counts.set(c, (counts.get(c) ?? 0) + 1);
      next();
    };
  }
  if (variant === "mapfinish") {
    const counts = new Map();
    function onFinish() {
      if (this.statusCode < 400) {
        const c = this.req.headers["x-customer"];
        counts.set(c, (counts.get(c) ?? 0) + 1);
      }
    }
    return (_req, res, next) => {
      res.on("finish", onFinish);
      next();
    };
  }
  if (variant === "prom") {
    const requests = counter("express_requests_total");
    return (req, res, next) => {
      res.on("finish", () => requests.inc({ customer: req.headers["x-customer"], status: res.statusCode }));
      next();
    };
  }
  if (variant === "marketmeter")
    return adapters.express.meterUsage(marketplace, {
      getCustomer: (req) => identities.get(req.headers["x-customer"]),
      dimension: "api_calls",
    });
}

/** The variant's middleware for Koa (undefined for bare). */
function koaMiddleware(variant, marketplace) {
  if (variant === "map") {
    const counts = new Map();
    return (ctx, next) => {
      const c = ctx.req.headers["x-customer"];
      counts.set(c, (counts.get(c) ?? 0) + 1);
      return next();
    };
  }
  if (variant === "mapfinish") {
    const counts = new Map();
    return (ctx, next) => {
      ctx.res.on("finish", () => {
        if (ctx.res.statusCode < 400) {
          const c = ctx.req.headers["x-customer"];
          counts.set(c, (counts.get(c) ?? 0) + 1);
        }
      });
      return next();
    };
  }
  if (variant === "prom") {
    const requests = counter("koa_requests_total");
    return (ctx, next) => {
      ctx.res.on("finish", () =>
        requests.inc({ customer: ctx.req.headers["x-customer"], status: ctx.res.statusCode }),
      );
      return next();
    };
  }
  if (variant === "marketmeter")
    return adapters.koa.meterUsage(marketplace, {
      getCustomer: (ctx) => identities.get(ctx.req.headers["x-customer"]),
      dimension: "api_calls",
    });
}

/** The variant's middleware for Hono (undefined for bare). */
function honoMiddleware(variant, marketplace) {
  if (variant === "map") {
    const counts = new Map();
    return async (c, next) => {
      const k = c.req.header("x-customer");
      counts.set(k, (counts.get(k) ?? 0) + 1);
      await next();
    };
  }
  if (variant === "mapfinish") {
    const counts = new Map();
    return async (c, next) => {
      await next();
      if (c.res.status < 400) {
        const k = c.req.header("x-customer");
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
    };
  }
  if (variant === "prom") {
    const requests = counter("hono_requests_total");
    return async (c, next) => {
      await next();
      requests.inc({ customer: c.req.header("x-customer"), status: c.res.status });
    };
  }
  if (variant === "marketmeter")
    return adapters.hono.meterUsage(marketplace, {
      getCustomer: (c) => identities.get(c.req.header("x-customer")),
      dimension: "api_calls",
    });
}

const middlewareOf = { express: expressMiddleware, koa: koaMiddleware, hono: honoMiddleware };

// The apps: `use` is the one middleware in front of the hello-world route, or undefined for none.
function expressApp(use) {
  const app = express();
  app.set("etag", false);
  app.set("x-powered-by", false);
  if (use) app.use(use);
  app.get("/", (_req, res) => {
    res.end("hello");
  });
  return app;
}

function koaApp(use) {
  const app = new Koa();
  if (use) app.use(use);
  app.use((ctx) => {
    ctx.body = "hello";
  });
  return app;
}

function honoApp(use) {
  const app = new Hono();
  if (use) app.use(use);
  app.get("/", (c) => c.text("hello"));
  return app;
}

const listen = (server) =>
  new Promise((resolve, reject) => {
    server.once("error", reject);
    if (server.listening) resolve(server);
    else server.once("listening", () => resolve(server));
  });

function listenApp(framework, use) {
  let server;
  if (framework === "express") server = expressApp(use).listen(0, "127.0.0.1");
  else if (framework === "koa") server = koaApp(use).listen(0, "127.0.0.1");
  else server = serve({ fetch: honoApp(use).fetch, port: 0, hostname: "127.0.0.1" });
  // The crossover method leaves a variant's connections idle for several seconds between its rounds.
  server.keepAliveTimeout = 120_000;
  return listen(server);
}

const closer = (server, marketplaces) => async () => {
  server.closeAllConnections?.();
  await new Promise((r) => server.close(r));
  for (const m of marketplaces) await m?.close();
};

/** Starts one server; returns { url, close, marketplace }. */
export async function start(framework, variant) {
  const marketplace = variant === "marketmeter" ? makeMarketplace() : undefined;
  const server = await listenApp(framework, middlewareOf[framework](variant, marketplace));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    marketplace,
    close: closer(server, [marketplace]),
  };
}

/**
 * Starts one server whose only middleware hands each request to one of `variants`' middlewares (bare:
 * straight to the route), switched with `use(variant)`: the same app, the same framework code and the
 * same process for every variant, for the A/B method. Returns { url, use, close, marketplace }.
 */
export async function startSwitch(framework, variants) {
  const marketplace = variants.includes("marketmeter") ? makeMarketplace() : undefined;
  const pass = framework === "express" ? (_req, _res, next) => next() : (_c, next) => next();
  const mws = Object.fromEntries(variants.map((v) => [v, middlewareOf[framework](v, marketplace) ?? pass]));
  let current = pass;
  const dispatch =
    framework === "express" ? (req, res, next) => current(req, res, next) : (c, next) => current(c, next);
  const server = await listenApp(framework, dispatch);
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    marketplace,
    use(variant) {
      if (!(variant in mws)) throw new Error(`unknown variant ${variant}`);
      current = mws[variant];
    },
    close: closer(server, [marketplace]),
  };
}
