// Middleware cost in isolation, in this process, without sockets: each variant's middleware runs on
// minimal request/response objects (Express, Koa: an EventEmitter response whose "finish" is emitted;
// Hono: the whole app through app.request()). Steadier than loopback load on a busy machine.
import { EventEmitter } from "node:events";
import { VARIANTS, middlewares } from "./servers.mjs";

function nsPerRequest(fn, n) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - t) / n;
}

async function nsPerRequestAsync(fn, n) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  return Number(process.hrtime.bigint() - t) / n;
}

const next = () => {};
const asyncNext = () => Promise.resolve();

/** Median ns per request of each variant, per framework, interleaved over `rounds`. */
export async function measureInProcess(frameworks, rounds = 5) {
  const mws = middlewares();
  const out = {};
  for (const f of frameworks) {
    const samples = Object.fromEntries(VARIANTS.map((v) => [v, []]));
    for (let r = 0; r < rounds; r++) {
      for (const v of VARIANTS) {
        const mw = mws[f][v];
        if (f === "express")
          samples[v].push(
            nsPerRequest((i) => {
              const req = { headers: { "x-customer": `c${i % 10}` } };
              const res = new EventEmitter();
              res.statusCode = 200;
              res.req = req; // as Node's ServerResponse has it
              mw(req, res, next);
              res.emit("finish");
            }, 200_000),
          );
        else if (f === "koa")
          samples[v].push(
            await nsPerRequestAsync((i) => {
              const req = { headers: { "x-customer": `c${i % 10}` } };
              const res = new EventEmitter();
              res.statusCode = 200;
              const ctx = { req, res, state: {} };
              const p = mw(ctx, asyncNext);
              res.emit("finish");
              return p;
            }, 100_000),
          );
        else {
          const headers = Array.from({ length: 10 }, (_, i) => ({ "x-customer": `c${i}` }));
          samples[v].push(
            await nsPerRequestAsync((i) => mw.request("/", { headers: headers[i % 10] }), 30_000),
          );
        }
      }
    }
    out[f] = Object.fromEntries(VARIANTS.map((v) => [v, median(samples[v])]));
  }
  return out;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
