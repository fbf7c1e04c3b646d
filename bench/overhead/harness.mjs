// The loopback-load harness every overhead benchmark shares. Five methods:
//
// sequential (`measure`): the classic one. Each variant in turn gets autocannon load; the variants are
//   interleaved over rounds, in an order that rotates each round, and each variant's req/s ratio to
//   bare is taken within its round; medians over rounds are reported.
// concurrent (`measureConcurrent`): the steady one. All variants are loaded at the same time, each in its
//   own process on the same CPU, and compared by CPU time per request within each round, over several
//   sessions of fresh processes.
// crossover (`measureCrossover`): the precise one for per-request work. Every process serves every
//   variant, and each round loads a different variant in each process, so differences between processes
//   cancel out as well as the machine's noise.
// paired (`measurePaired`): the ratios to bare. Like the crossover, but only two processes, and only one
//   variant against bare at a time, with the processes swapped: the noise and the process layout cancel,
//   and no more than two servers share the CPU, the closest a precise method gets to the sequential
//   setting (and a production server's) of a server with its core to itself. The concurrent and
//   crossover methods load five servers on one CPU at once, and their gaps to Map have come out larger;
//   the README's Contributing section gives what is known of why.
// A/B (`measureAB`): the verdict for a middleware's cost over another's. Two processes each run ONE app
//   that switches between the two middlewares; both are loaded at once, one on each, then swapped. The
//   methods above compare separate apps and subtract two ratios to bare; this one measures the
//   difference itself, with the app, the framework's JIT state and the process layout held the same.
//
// Why several: on a small shared virtual machine the throughput of one hello-world server moves by 10-30 %
// from one second to the next (another tenant, the hypervisor stealing the CPU), far more than the 3 %
// we want to resolve, and the sequential method's medians move by several percent from run to run.
// Measured side by side, in the same seconds on the same CPU, the variants see the same noise; what is
// left is how one process happens to be laid out and optimised (up to 5 % between two bare processes),
// which averaging over sessions of fresh processes brings down, and the crossover removes.
//
// All pin the servers to CPU 0 and the load generator to CPU 1 (taskset, when the machine has it and
// at least two CPUs; PIN=0 turns it off). The sequential and concurrent methods run every variant in its
// own process, so the framework's JIT state is what a real app would have and one variant's object
// shapes never slow another's; the crossover gives that up (the variants' apps share the framework's code
// in each process, like an app with several routers) to compare the variants in identical processes.
import { execFile, spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";

const loader = fileURLToPath(new URL("./load.mjs", import.meta.url));

const canPin =
  process.env.PIN !== "0" &&
  availableParallelism() >= 2 &&
  spawnSync("taskset", ["-c", "0", "true"], { stdio: "ignore" }).status === 0;

// A fixed young generation for every server process (see measureConcurrent).
const SERVER_FLAGS = [
  "--min-semi-space-size=16",
  "--max-semi-space-size=16",
  ...(process.env.SERVER_FLAGS ?? "").split(" ").filter(Boolean),
];

/** `[command, args]` that runs `argv` pinned to `cpu` when pinning is available. */
const pinned = (cpu, argv) => (canPin ? ["taskset", ["-c", String(cpu), ...argv]] : [argv[0], argv.slice(1)]);

/** The load's default buyers: requests rotate over them in the `x-customer` header. */
const CUSTOMERS = Array.from({ length: 10 }, (_, i) => `c${i}`);

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The mean of per-session (or per-cycle) ratios as `ratio`, with its standard error as `se`. */
function meanWithError(xs) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { ratio: mean, se: sd / Math.sqrt(xs.length) };
}

/**
 * Starts one server child per variant (`script ...args variant`, each calling `serveVariants`): every
 * variant gets its own process, so the JIT state of framework code is what a real app would have and
 * one variant's object shapes never slow another's. Returns the URLs and a way to ask a variant's
 * process for its CPU time.
 */
export async function startServers(script, args, variants) {
  const children = {};
  for (const v of variants) children[v] = await startChild(script, [...args, v]);
  return {
    urls: Object.fromEntries(variants.map((v) => [v, children[v].urls[v]])),
    cpu: (v) => children[v].cpu(),
    async close() {
      const stats = {};
      for (const v of variants) Object.assign(stats, await children[v].close());
      return stats;
    },
  };
}

async function startChild(script, args) {
  const [cmd, argv] = pinned(0, [process.execPath, ...SERVER_FLAGS, script, ...args]);
  const child = spawn(cmd, argv, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiting = new Map();
  let seq = 0;
  let ready;
  const readyP = new Promise((resolve, reject) => {
    ready = resolve;
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`server process ${script} exited with ${code}`)));
  });
  child.on("message", (m) => {
    if (m.ready) ready(m);
    else waiting.get(m.seq)?.(m);
  });
  const ask = (cmd, extra) =>
    new Promise((resolve) => {
      const id = ++seq;
      waiting.set(id, (m) => {
        waiting.delete(id);
        resolve(m);
      });
      child.send({ seq: id, cmd, ...extra });
    });
  const { urls } = await readyP;
  child.removeAllListeners("exit");
  return {
    urls,
    cpu: async () => (await ask("cpu")).cpu,
    /** A/B server children only: switch the app to `variant`. */
    use: (variant) => ask("use", { variant }),
    async close() {
      const { stats } = await ask("close");
      child.disconnect();
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      return stats;
    },
  };
}

function load(url, seconds, connections, header, customers) {
  const [cmd, argv] = pinned(1, [
    process.execPath,
    loader,
    url,
    String(seconds),
    String(connections),
    String(customers.length),
    header,
    customers.join(","),
  ]);
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { timeout: (seconds + 30) * 1000 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(JSON.parse(stdout.trim().split("\n").pop()));
    });
  });
}

/**
 * Sequential rounds with autocannon: each variant in turn gets as many requests as `connections` keep
 * in flight. Per variant: the median req/s and p99, and the median (with min and max) of the per-round
 * req/s ratios to `bare`.
 */
export async function measure({
  script,
  args = [],
  variants,
  rounds,
  seconds,
  connections = 10,
  header = "x-customer",
  customers = CUSTOMERS,
}) {
  const servers = await startServers(script, args, variants);
  const samples = Object.fromEntries(variants.map((v) => [v, []]));
  // Warm-up: JIT and connections, not measured.
  for (const v of variants) await load(servers.urls[v], 1, connections, header, customers);
  for (let round = 0; round < rounds; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]);
    const got = {};
    for (const v of order) {
      const r = await load(servers.urls[v], seconds, connections, header, customers);
      if (r.errors || r.non2xx) throw new Error(`${v}: ${r.errors} errors, ${r.non2xx} non-2xx responses`);
      got[v] = r;
    }
    for (const v of variants) samples[v].push({ ...got[v], ratio: got[v].rps / got.bare.rps });
  }
  const stats = await servers.close();
  const out = {};
  for (const v of variants) {
    const s = samples[v];
    const ratios = s.map((x) => x.ratio);
    out[v] = {
      rps: median(s.map((x) => x.rps)),
      p99: median(s.map((x) => x.p99)),
      ratio: median(ratios),
      ratioMin: Math.min(...ratios),
      ratioMax: Math.max(...ratios),
    };
  }
  return { results: out, stats, pinned: canPin };
}

/**
 * Server-child side: starts each variant with `start(variant)` (which returns `{ url, close, stats? }`),
 * reports the URLs, then answers CPU-time and close requests from the harness.
 */
export async function serveVariants(variants, start) {
  const servers = {};
  for (const v of variants) servers[v] = await start(v);
  process.on("message", async (m) => {
    if (m.cmd === "use") {
      for (const s of Object.values(servers)) s.use(m.variant);
      process.send({ seq: m.seq });
    } else if (m.cmd === "cpu") {
      const c = process.cpuUsage();
      process.send({ seq: m.seq, cpu: c.user + c.system });
    } else if (m.cmd === "close") {
      const stats = {};
      for (const [v, s] of Object.entries(servers)) {
        if (s.stats) stats[v] = s.stats();
        await s.close();
      }
      process.send({ seq: m.seq, stats }, () => process.exit(0));
    }
  });
  process.send({
    ready: true,
    urls: Object.fromEntries(Object.entries(servers).map(([v, s]) => [v, s.url])),
  });
}

/**
 * Moves this process (all its threads) onto `cpu`, so that a load generator running here does not
 * share the server's CPU. Returns whether it worked.
 */
export function pinSelf(cpu) {
  if (!canPin) return false;
  return (
    spawnSync("taskset", ["-a", "-p", "-c", String(cpu), String(process.pid)], { stdio: "ignore" }).status ===
    0
  );
}

/**
 * A minimal HTTP/1.1 load generator for the concurrent method: a few keep-alive connections per URL,
 * one request in flight on each, and responses counted by their status lines (the benchmark routes
 * answer "hello", so a status line cannot hide in a body). It costs the load CPU a few µs per request
 * (autocannon costs tens), so one core keeps several servers saturated.
 */
export class RawLoad {
  constructor(header, customers, connections) {
    this.header = header;
    this.customers = customers;
    this.connections = connections;
    this.pools = new Map();
  }

  async pool(url) {
    let p = this.pools.get(url);
    if (p) return p;
    const u = new URL(url);
    const reqs = this.customers.map((id) =>
      Buffer.from(`GET ${u.pathname} HTTP/1.1\r\nhost: ${u.host}\r\n${this.header}: ${id}\r\n\r\n`),
    );
    const { connect } = await import("node:net");
    p = { conns: [], count: 0, bad: 0, inflight: 0, active: false, seq: 0, drained: undefined };
    const MARK = Buffer.from("HTTP/1.1 ");
    for (let i = 0; i < this.connections; i++) {
      const s = connect(Number(u.port), u.hostname);
      s.setNoDelay(true);
      await new Promise((resolve, reject) => {
        s.once("connect", resolve);
        s.once("error", reject);
      });
      let carry = Buffer.alloc(0);
      s.on("data", (d) => {
        const buf = carry.length ? Buffer.concat([carry, d]) : d;
        let n = 0;
        let at = 0;
        for (;;) {
          const j = buf.indexOf(MARK, at);
          if (j < 0 || j + 12 > buf.length) break;
          if (buf[j + 9] !== 0x32) p.bad++; // not a 2xx status
          n++;
          at = j + 12;
        }
        carry = buf.subarray(Math.max(at, buf.length - 11));
        p.count += n;
        p.inflight -= n;
        if (p.active) {
          for (let k = 0; k < n; k++) s.write(reqs[p.seq++ % reqs.length]);
          p.inflight += n;
        } else if (p.inflight === 0) p.drained?.();
      });
      s.on("error", (err) => {
        p.error = err;
      });
      // A connection the server closed would leave its request in flight forever: fail instead.
      s.on("close", () => {
        if (this.closing) return;
        p.error ??= new Error(`${url}: the server closed a load connection`);
        p.inflight = 0;
        p.drained?.();
      });
      p.conns.push({ s, reqs });
    }
    this.pools.set(url, p);
    return p;
  }

  /**
   * Drives every URL at once for `ms` (each on its own connections), then lets the requests in flight
   * finish; returns each URL's responses and elapsed ms, in the same order.
   */
  async runAll(urls, ms) {
    const pools = [];
    for (const url of urls) pools.push(await this.pool(url));
    const t0 = performance.now();
    for (const p of pools) {
      p.count = 0;
      p.active = true;
      for (const { s, reqs } of p.conns) {
        s.write(reqs[p.seq++ % reqs.length]);
        p.inflight++;
      }
    }
    await new Promise((r) => setTimeout(r, ms));
    for (const p of pools) p.active = false;
    const out = [];
    for (const [i, p] of pools.entries()) {
      if (p.inflight > 0) await new Promise((r) => (p.drained = r));
      p.drained = undefined;
      if (p.error) throw p.error;
      if (p.bad) throw new Error(`${urls[i]}: ${p.bad} responses were not 2xx`);
      out.push({ count: p.count, ms: performance.now() - t0 });
    }
    return out;
  }

  close() {
    this.closing = true;
    for (const p of this.pools.values()) for (const { s } of p.conns) s.destroy();
  }
}

/**
 * Concurrent rounds: the steadiest comparison this machine allows. Every variant runs in its own
 * processes, all pinned to CPU 0, and all are loaded at the same time from this process (pinned to CPU 1)
 * with `connections` connections each, one request in flight per connection, for `seconds`. A process's
 * CPU time over the round divided by the responses it sent is its cost per request, and bare's cost
 * divided by a variant's is the share of bare's throughput the variant keeps on a CPU-bound server.
 * Because the variants share the same seconds on the same CPU, a slow patch of the machine (another
 * tenant, the hypervisor) slows them all alike and the ratio stays; time the hypervisor steals is not
 * charged to a process at all.
 *
 * What is left is the process itself: two bare processes started the same way differ by up to 5 %
 * (where V8 placed the code and the heap, when it optimised what). So the measurement runs in
 * `sessions`, each with fresh processes, and a variant's
 * result is the mean over sessions of each session's median ratio, with the standard error of that
 * mean. Every server process runs with a fixed young generation (`SERVER_FLAGS` adds more), so no
 * process settles on a different garbage-collection rhythm than its neighbours.
 */
export async function measureConcurrent({
  script,
  args = [],
  variants,
  sessions = 6,
  rounds = 8,
  seconds = 1.5,
  warmupSeconds = 3,
  connections = 4,
  header = "x-customer",
  customers = CUSTOMERS,
}) {
  if (!variants.includes("bare")) throw new Error('measureConcurrent needs a "bare" variant to compare with');
  const perSession = Object.fromEntries(variants.map((v) => [v, []]));
  const costs = Object.fromEntries(variants.map((v) => [v, []]));
  const stats = {};
  let pinnedHere = false;
  for (let session = 0; session < sessions; session++) {
    // Processes start in a rotating order, so no variant is always the first or the last to start.
    const order = variants.map((_, i) => variants[(i + session) % variants.length]);
    const servers = await startServers(script, args, order);
    pinnedHere = pinSelf(1);
    const load = new RawLoad(header, customers, connections);
    const urls = variants.map((v) => servers.urls[v]);
    const cpuAll = () => Promise.all(variants.map((v) => servers.cpu(v)));
    await load.runAll(urls, warmupSeconds * 1000); // warm-up: JIT, connections
    const ratios = Object.fromEntries(variants.map((v) => [v, []]));
    for (let round = 0; round < rounds; round++) {
      const c0 = await cpuAll();
      const got = await load.runAll(urls, seconds * 1000);
      const c1 = await cpuAll();
      const us = variants.map((_, i) => (c1[i] - c0[i]) / Math.max(1, got[i].count));
      const bare = us[variants.indexOf("bare")];
      for (const [i, v] of variants.entries()) {
        ratios[v].push(bare / us[i]);
        costs[v].push(us[i]);
      }
    }
    load.close();
    for (const [v, n] of Object.entries(await servers.close())) stats[v] = (stats[v] ?? 0) + n;
    for (const v of variants) perSession[v].push(median(ratios[v]));
  }
  const out = {};
  for (const v of variants) out[v] = { us: median(costs[v]), ...meanWithError(perSession[v]) };
  return { results: out, stats, pinned: pinnedHere };
}

/**
 * `n` server processes that each serve every variant (the crossover and paired methods), with this
 * process pinned to the load CPU and a load generator: `{ procs, load, pinned, round, close }`.
 * `round(urls)` loads `urls[i]` in process `i` for `seconds` (after `settleSeconds` unmeasured, while
 * the caches of the newly loaded variants warm up) and returns each process's CPU µs per request;
 * `close()` stops everything and returns the records each variant saw.
 */
async function startEveryVariant(n, o) {
  const procs = [];
  for (let i = 0; i < n; i++) procs.push(await startChild(o.script, [...o.args, o.variants.join(",")]));
  const pinned = pinSelf(1);
  const load = new RawLoad(o.header, o.customers, o.connections);
  return {
    procs,
    load,
    pinned,
    async round(urls) {
      await load.runAll(urls, o.settleSeconds * 1000);
      const c0 = await Promise.all(procs.map((p) => p.cpu()));
      const got = await load.runAll(urls, o.seconds * 1000);
      const c1 = await Promise.all(procs.map((p) => p.cpu()));
      return procs.map((_, i) => (c1[i] - c0[i]) / Math.max(1, got[i].count));
    },
    async close() {
      load.close();
      const stats = {};
      for (const p of procs)
        for (const [v, count] of Object.entries(await p.close())) stats[v] = (stats[v] ?? 0) + count;
      return stats;
    },
  };
}

/** Per variant: the median CPU µs/request and the mean (± standard error) of the per-cycle ratios. */
const summarize = (variants, costs, perCycle) =>
  Object.fromEntries(variants.map((v) => [v, { us: median(costs[v]), ...meanWithError(perCycle[v]) }]));

/**
 * Crossover rounds: the per-request cost of each variant with every other difference between processes
 * taken out. `k` server processes (one per variant) each serve every variant, each on its own port, and
 * all are loaded at the same time, pinned like the concurrent method. In round `r` process `i` is
 * loaded only on variant `(i + r) mod k`, so in every cycle of `k` rounds each variant runs once in each
 * process, always side by side with all the others. A variant's cost in a cycle is the geometric mean
 * of its CPU µs/request over the `k` processes, so a process that happens to be laid out slower (up to
 * 5 % between two identical processes) weighs on every variant alike and cancels out of the ratio to
 * bare; and the variants share the same seconds on the same CPU, so the machine's noise cancels too.
 * What is left is the work each variant does per request. Every process loads the code of every
 * variant, so what merely being loaded costs (a larger heap, more code) is not in these figures; the
 * concurrent method, with a process per variant, keeps it. Connections stay idle while another variant
 * of their process is loaded, so the servers need a keep-alive timeout longer than `k` rounds.
 * Result per variant: the mean over cycles of the cycle's ratio to bare, with its standard error.
 */
export async function measureCrossover({
  script,
  args = [],
  variants,
  cycles = 6,
  seconds = 1.5,
  settleSeconds = 0.3,
  warmupSeconds = 1.5,
  connections = 4,
  header = "x-customer",
  customers = CUSTOMERS,
}) {
  if (!variants.includes("bare")) throw new Error('measureCrossover needs a "bare" variant to compare with');
  const k = variants.length;
  const o = { script, args, variants, seconds, settleSeconds, connections, header, customers };
  const run = await startEveryVariant(k, o);
  const assign = (r) => run.procs.map((_, i) => variants[(i + r) % k]);
  const urlsOf = (r) => assign(r).map((v, i) => run.procs[i].urls[v]);
  // Warm-up: every process serves every variant for a while (JIT, connections).
  for (let r = 0; r < k; r++) await run.load.runAll(urlsOf(r), warmupSeconds * 1000);
  const costs = Object.fromEntries(variants.map((v) => [v, []]));
  const perCycle = Object.fromEntries(variants.map((v) => [v, []]));
  for (let cycle = 0; cycle < cycles; cycle++) {
    const sums = Object.fromEntries(variants.map((v) => [v, 0]));
    for (let r = 0; r < k; r++) {
      const us = await run.round(urlsOf(r));
      for (const [i, v] of assign(r).entries()) {
        sums[v] += Math.log(us[i]);
        costs[v].push(us[i]);
      }
    }
    for (const v of variants) perCycle[v].push(Math.exp((sums.bare - sums[v]) / k));
  }
  const stats = await run.close();
  return { results: summarize(variants, costs, perCycle), stats, pinned: run.pinned };
}

/**
 * Paired rounds: each variant against bare with as little else running as the comparison allows. Two
 * server processes each serve every variant, each on its own port, and only two are ever loaded at
 * once: bare in one process and the variant in the other, then the same with the processes swapped.
 * The pair's ratio is the geometric mean of the two rounds' ratios, so how each process happens to be
 * laid out cancels out (as in the crossover), and the machine's noise hits both sides of each round
 * alike (as in the concurrent method). Why it exists beside the crossover: there every variant is
 * loaded at once, five server processes on one CPU, each switch between them evicting the others'
 * caches, which is far from a server that has its core to itself (the sequential method's setting, and
 * a production server's). Two processes are the fewest that still cancel the machine's noise. Result
 * per variant: the mean over cycles of the pair ratio to bare, with its standard error.
 */
export async function measurePaired({
  script,
  args = [],
  variants,
  cycles = 8,
  seconds = 1.5,
  settleSeconds = 0.3,
  warmupSeconds = 1.5,
  connections = 4,
  header = "x-customer",
  customers = CUSTOMERS,
}) {
  if (!variants.includes("bare")) throw new Error('measurePaired needs a "bare" variant to compare with');
  const others = variants.filter((v) => v !== "bare");
  const o = { script, args, variants, seconds, settleSeconds, connections, header, customers };
  const run = await startEveryVariant(2, o);
  // Warm-up: both processes serve every variant for a while (JIT, connections).
  for (const v of variants)
    await run.load.runAll(
      run.procs.map((p) => p.urls[v]),
      warmupSeconds * 1000,
    );
  const costs = Object.fromEntries(variants.map((v) => [v, []]));
  const perCycle = Object.fromEntries(variants.map((v) => [v, []]));
  for (let cycle = 0; cycle < cycles; cycle++) {
    perCycle.bare.push(1);
    for (let j = 0; j < others.length; j++) {
      // The variants take their turn in a rotating order, and which process starts with bare alternates.
      const v = others[(j + cycle) % others.length];
      let logRatio = 0;
      for (let swap = 0; swap < 2; swap++) {
        const side = [0, 1].map((i) => ((i + swap + cycle) % 2 === 0 ? "bare" : v));
        const us = await run.round(side.map((s, i) => run.procs[i].urls[s]));
        const b = side.indexOf("bare");
        logRatio += Math.log(us[b]) - Math.log(us[1 - b]);
        costs.bare.push(us[b]);
        costs[v].push(us[1 - b]);
      }
      perCycle[v].push(Math.exp(logRatio / 2));
    }
  }
  const stats = await run.close();
  return { results: summarize(variants, costs, perCycle), stats, pinned: run.pinned };
}

/**
 * A/B rounds: what one variant's middleware costs per request over another's, with everything else held
 * the same. Two server processes each run ONE app (`script` with `startSwitch`) whose only middleware
 * hands each request to variant `a`'s or `b`'s middleware, switched over IPC between rounds; both
 * processes are loaded at once, one on `a` and the other on `b`, then swapped. So the two variants share
 * the app, the framework's code and its JIT state, the process layout (it cancels in the swap) and the
 * machine's noise (same seconds, same CPU): what is left is the difference in per-request work, which
 * the other methods, comparing separate apps, measure less precisely. It measures a difference between
 * middlewares, not a ratio to a bare app (the switching middleware is in both). Result: the mean over
 * swapped pairs of rounds of CPU(a) / CPU(b), with its standard error, and each side's median CPU µs
 * per request.
 */
export async function measureAB({
  script,
  args = [],
  a,
  b,
  rounds = 20,
  seconds = 1.5,
  settleSeconds = 0.3,
  warmupSeconds = 2,
  connections = 4,
  header = "x-customer",
  customers = CUSTOMERS,
}) {
  if (rounds < 2 || rounds % 2)
    throw new Error("measureAB needs an even number of rounds (pairs of swapped rounds)");
  // Each child gets `...args switch a,b` (serve.mjs: one switching app for the two variants).
  const o = { script, args: [...args, "switch"], variants: [a, b], seconds, settleSeconds, connections };
  const run = await startEveryVariant(2, { ...o, header, customers });
  const urls = run.procs.map((p) => Object.values(p.urls)[0]);
  const side = (r) => (r % 2 === 0 ? [a, b] : [b, a]);
  for (let r = 0; r < 2; r++) {
    await Promise.all(run.procs.map((p, i) => p.use(side(r)[i])));
    await run.load.runAll(urls, warmupSeconds * 1000);
  }
  const costs = { [a]: [], [b]: [] };
  const pairs = [];
  let logPair = 0;
  for (let r = 0; r < rounds; r++) {
    const s = side(r);
    await Promise.all(run.procs.map((p, i) => p.use(s[i])));
    const us = await run.round(urls);
    const ia = s.indexOf(a);
    costs[a].push(us[ia]);
    costs[b].push(us[1 - ia]);
    logPair += Math.log(us[ia]) - Math.log(us[1 - ia]);
    if (r % 2 === 1) {
      pairs.push(Math.exp(logPair / 2));
      logPair = 0;
    }
  }
  const stats = await run.close();
  return {
    usA: median(costs[a]),
    usB: median(costs[b]),
    ...meanWithError(pairs),
    records: stats,
    pinned: run.pinned,
  };
}

/** Formats rows as a Markdown table. */
export function table(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(" | ")} |`;
  return [line(head), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)].join("\n");
}
