/**
 * The chaos run: app instances as separate processes on one shared store, load from many buyers over
 * several hours of the emulator's clock, SIGKILLs aimed at checkpoints and sends, emulator faults and
 * store connections cut; then a clean drain and a comparison of the emulator's ledger with the store.
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { identityFromKey, type StoredGrain } from "@marketmeter/core";
import {
  type BilledRecord,
  DEMO,
  type DuplicateAttempt,
  demoConfig,
  type Emulator,
  startEmulator,
} from "@marketmeter/emulator";
import { DIMENSIONS } from "./app.js";
import type { Activity, FromInstance, InstanceConfig, ToInstance } from "./protocol.js";
import { STORE_KITS, type StoreName, type StoreRun } from "./stores.js";

const HOUR = 3_600_000;
const MINUTE = 60_000;
/** The first metered hour (UTC). */
export const H0 = Date.UTC(2026, 6, 15, 8);
// The built instance, whether this file runs from src (vitest) or from dist (`pnpm chaos`).
const INSTANCE_JS = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "instance.js");

export interface ChaosOptions {
  store: StoreName;
  /** The service's URL (e.g. DATABASE_URL). */
  url: string;
  seed: number;
  /** @default 40 */
  customers?: number;
  /** @default 4 */
  instances?: number;
  /** @default 3 */
  hours?: number;
  /** Load batches per hour; the clock moves between batches. @default 8 */
  batchesPerHour?: number;
  /** @default 30 */
  requestsPerBatch?: number;
  /**
   * Chance of a kill in a batch (aimed at a checkpoint, a send, or at a random moment). The first three
   * batches of each later hour, when the closed hour is being sent, always get two (none with 0). @default 0.6
   */
  killChance?: number;
  /** Times the store's connections are cut during the run. @default 2 */
  disruptions?: number;
  /** Times the store's service is restarted during the run, for kits that can. @default 1 */
  serviceRestarts?: number;
  /** Progress lines. @default none */
  log?: (line: string) => void;
}

/** Everything the checks and the figures need. */
export interface ChaosResult {
  seed: number;
  /** Where the instances' output and send logs are. */
  workDir: string;
  /** Per grain `licenseArn|dimension|hour`: what the emulator billed. */
  ledger: Map<string, number>;
  /** Per grain: what the store holds (the checkpointed usage). */
  stored: Map<string, number>;
  /** Per grain: what the app acknowledged (200) to the test. */
  acknowledged: Map<string, number>;
  /** Per grain: requests that failed without an answer (the instance may or may not have counted them). */
  unanswered: Map<string, number>;
  grains: StoredGrain[];
  duplicates: DuplicateAttempt[];
  /** Per grain: every instance that sent it and the quantity it sent. */
  sends: Map<string, Array<{ instance: string; quantity: number }>>;
  figures: Figures;
}

export interface Figures {
  requests: number;
  acknowledged: number;
  refused: number;
  unanswered: number;
  kills: Record<Activity | "random", number>;
  restarts: { sameId: number; newId: number };
  /** Instances that exited on their own (not killed, not asked to stop): "id: code/signal". */
  crashes: string[];
  disruptions: number;
  connectionsCut: number;
  /** The store's service stopped and started again mid-run. */
  serviceRestarts: number;
  batchCalls: number;
  throttled: number;
  internalErrors: number;
  unprocessedRecords: number;
  grains: number;
  records: number;
  /** Records in every BatchMeterUsage an instance started, retries and resends included. */
  recordsSent: number;
  /** DuplicateRecord answers (AWS answers a resend of the same record with its first result instead). */
  duplicates: number;
  duplicatesOtherQuantity: number;
  grainsSentByTwoOrMore: number;
  lostInMemory: number;
  /** Outcomes an instance could not write because its lease had run out or was taken over. */
  fenced: number;
  /** Calls abandoned at the instance's deadline (AWS may or may not have recorded them). */
  abandoned: number;
  drainRounds: number;
  seconds: number;
}

/** Small seeded PRNG (mulberry32): the same seed gives the same load and the same chaos schedule. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `CHAOS_SEED` (an integer from 0 to 2^32 - 1) when set, else a fresh random seed. */
export function seedFromEnv(value = process.env.CHAOS_SEED): number {
  if (value === undefined || value === "") return Math.floor(Math.random() * 2 ** 31);
  const seed = /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!(seed < 2 ** 32))
    throw new Error(`CHAOS_SEED must be an integer from 0 to 4294967295, not ${JSON.stringify(value)}`);
  return seed;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const addTo = (m: Map<string, number>, k: string, q: number) => m.set(k, (m.get(k) ?? 0) + q);
const hourIso = (ms: number) => new Date(Math.floor(ms / HOUR) * HOUR).toISOString();

/** The parent's handle on one instance process. */
class Instance {
  readonly proc: ChildProcess;
  port = 0;
  ready = false;
  /** The test asked it to stop (close) or killed it itself. */
  stopping = false;
  killedByTest = false;
  armed: Activity | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiters = new Map<string, (m: FromInstance | undefined) => void>();
  #started: (port: number) => void = () => {};
  readonly started: Promise<number>;

  constructor(
    readonly id: string,
    readonly slot: number,
    config: InstanceConfig,
    out: NodeJS.WritableStream,
  ) {
    this.started = new Promise((resolve) => {
      this.#started = resolve;
    });
    this.proc = fork(INSTANCE_JS, [], {
      env: { ...process.env, CHAOS_INSTANCE: JSON.stringify(config) },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    this.proc.stdout?.pipe(out, { end: false });
    this.proc.stderr?.pipe(out, { end: false });
    // Sending to a process that just died fails asynchronously; the exit is handled below.
    this.proc.on("error", () => {});
    this.proc.on("message", (raw) => {
      const m = raw as FromInstance;
      if (m.type === "ready") {
        this.port = m.port;
        this.#started(m.port);
      } else {
        const key = m.type === "closed" ? "closed" : `${m.type}:${m.seq}`;
        this.#waiters.get(key)?.(m);
        this.#waiters.delete(key);
      }
    });
    this.exited = new Promise((resolve) => {
      this.proc.once("exit", (code, signal) => {
        this.ready = false;
        for (const w of this.#waiters.values()) w(undefined);
        this.#waiters.clear();
        resolve({ code, signal });
      });
    });
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  send(m: ToInstance): void {
    if (this.alive && this.proc.connected) this.proc.send(m);
  }

  /** Sends and waits for the answer; undefined when the instance died first. */
  call(m: ToInstance, key: string): Promise<FromInstance | undefined> {
    if (!this.alive) return Promise.resolve(undefined);
    const answer = new Promise<FromInstance | undefined>((resolve) => this.#waiters.set(key, resolve));
    this.send(m);
    return answer;
  }

  kill(): void {
    this.killedByTest = true;
    this.proc.kill("SIGKILL");
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const t0 = performance.now();
  const {
    store,
    url,
    seed,
    customers = 40,
    instances: slots = 4,
    hours = 3,
    batchesPerHour = 8,
    requestsPerBatch = 30,
    killChance = 0.6,
    disruptions = 2,
    serviceRestarts = 1,
    log = () => {},
  } = options;
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const kit = STORE_KITS[store];
  const runId = `${seed.toString(36)}x${Date.now().toString(36)}`;
  const workDir = mkdtempSync(join(tmpdir(), "mm-chaos-"));
  const sendDir = join(workDir, "sends");
  mkdirSync(sendDir);
  const out = createWriteStream(join(workDir, "instances.log"));
  log(`chaos: store ${store}, seed ${seed} (CHAOS_SEED=${seed} reruns it), logs in ${workDir}`);

  const figures: Figures = {
    requests: 0,
    acknowledged: 0,
    refused: 0,
    unanswered: 0,
    kills: { checkpoint: 0, send: 0, random: 0 },
    restarts: { sameId: 0, newId: 0 },
    crashes: [],
    disruptions: 0,
    connectionsCut: 0,
    serviceRestarts: 0,
    batchCalls: 0,
    throttled: 0,
    internalErrors: 0,
    unprocessedRecords: 0,
    grains: 0,
    records: 0,
    recordsSent: 0,
    duplicates: 0,
    duplicatesOtherQuantity: 0,
    grainsSentByTwoOrMore: 0,
    lostInMemory: 0,
    fenced: 0,
    abandoned: 0,
    drainRounds: 0,
    seconds: 0,
  };
  const acknowledged = new Map<string, number>();
  const unanswered = new Map<string, number>();

  const config = demoConfig({ now: H0 + 6 * MINUTE, frozen: true });
  config.products = config.products?.map((p) =>
    p.productCode === DEMO.P_CA ? { ...p, dimensions: [...DIMENSIONS] } : p,
  );
  let run: StoreRun | undefined;
  let emu: Emulator | undefined;
  const all: Instance[] = [];
  try {
    run = await kit.prepare(url, runId);
    const storeRun = run;
    emu = await startEmulator({ port: 0, config, seed });
    const emulator = emu;
    let now = H0 + 6 * MINUTE;
    let seq = 0;
    const webhookSecret = randomBytes(24).toString("base64url");

    const spawn = async (id: string, slot: number): Promise<Instance> => {
      const inst = new Instance(
        id,
        slot,
        {
          instanceId: id,
          store,
          settings: storeRun.settings,
          endpoint: emulator.endpoint,
          productCode: DEMO.P_CA,
          now,
          sendLog: join(sendDir, `${id}.log`),
          webhookSecret,
        },
        out,
      );
      all.push(inst);
      const started = await Promise.race([inst.started, inst.exited.then(() => undefined)]);
      if (started === undefined) return inst;
      // The clock may have moved while it started.
      const s = ++seq;
      await inst.call({ type: "clock", now, seq: s }, `clock:${s}`);
      inst.ready = inst.alive;
      return inst;
    };
    const setClock = async (t: number) => {
      now = t;
      emulator.clock.set(t, { freeze: true });
      const s = ++seq;
      await Promise.all(
        all.filter((i) => i.alive).map((i) => i.call({ type: "clock", now: t, seq: s }, `clock:${s}`)),
      );
    };
    const stop = async (inst: Instance) => {
      inst.stopping = true;
      await inst.call({ type: "close" }, "closed");
      await inst.exited;
    };

    // Buyers subscribe in the emulator and register through the app's fulfillment URL, as on AWS.
    const tenants: Array<{ tenant: string; licenseArn: string }> = [];
    const registrar = await spawn("registrar", -1);
    if (!registrar.ready)
      throw new Error(`the registrar instance did not start; see ${workDir}/instances.log`);
    const app = `http://127.0.0.1:${registrar.port}`;
    emulator.setWebhooks({ eventBridge: [{ url: `${app}/marketplace/events`, secret: webhookSecret }] });
    const licenses: string[] = [];
    for (let i = 0; i < customers; i++) {
      const sub = await emulator.subscribe({
        productCode: DEMO.P_CA,
        customerAWSAccountId: String(300_000_000_000 + i),
      });
      if (sub.kind !== "license") throw new Error("expected a license subscription");
      licenses.push(sub.license.licenseArn);
    }
    // The app learns that each license is active from the lifecycle notifications.
    await emulator.notifier()?.idle?.();
    const undelivered = (emulator.notifier()?.deliveries() ?? []).filter((d) => d.status !== 200);
    if (undelivered.length)
      throw new Error(`lifecycle notifications failed: ${JSON.stringify(undelivered.slice(0, 3))}`);
    for (const [i, licenseArn] of licenses.entries()) {
      const setup = await emulator.setUpAccount({
        licenseArn,
        fulfillmentUrl: `${app}/marketplace/register`,
      });
      const registration = new URL(setup.location ?? "/", app).searchParams.get("registration");
      if (!registration) throw new Error(`registration ${i} answered ${setup.status}: ${setup.body}`);
      const tenant = `t${i}`;
      const linked = await fetch(`${app}/signup`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ registration, tenant }),
      });
      if (linked.status !== 200)
        throw new Error(`sign-up ${i} answered ${linked.status}: ${await linked.text()}`);
      tenants.push({ tenant, licenseArn });
    }
    emulator.setWebhooks({});
    await stop(registrar);

    // The fleet: each slot restarts after a SIGKILL while the chaos runs, with its id or a new one.
    const fleet: Instance[] = [];
    let chaos = true;
    const restarts = new Set<Promise<void>>();
    let generation = 0;
    const watch = (inst: Instance) => {
      void inst.exited.then(({ code, signal }) => {
        if (signal === "SIGKILL" && inst.killedByTest) figures.kills.random++;
        else if (signal === "SIGKILL" && inst.armed) figures.kills[inst.armed]++;
        else if (!inst.stopping) figures.crashes.push(`${inst.id}: exit ${code ?? signal}`);
        if (!chaos || inst.stopping) return;
        const same = rand() < 0.5;
        const id = same ? inst.id : `i${inst.slot}g${++generation}`;
        const delay = 100 + Math.floor(rand() * 400);
        const p = sleep(delay)
          .then(() => spawn(id, inst.slot))
          .then((next) => {
            if (same) figures.restarts.sameId++;
            else figures.restarts.newId++;
            fleet[inst.slot] = next;
            watch(next);
          });
        restarts.add(p);
        void p.finally(() => restarts.delete(p));
      });
    };
    for (let s = 0; s < slots; s++) {
      const inst = await spawn(`i${s}`, s);
      if (!inst.ready) throw new Error(`instance i${s} did not start; see ${workDir}/instances.log`);
      fleet[s] = inst;
      watch(inst);
    }

    emulator.setFaults({
      BatchMeterUsage: {
        throttle: { probability: 0.2 },
        internalError: { probability: 0.05 },
        unprocessed: { probability: 0.1 },
        // Longer than the instances' 2000 ms call deadline: the call is abandoned while the emulator
        // still records it, so the sender cannot know whether it landed. The first two calls always are:
        // a run makes few calls (25 records each), and this case must be in every run.
        latencyMs: { ms: 2_500, next: 2, probability: 0.1 },
      },
    });

    const batches = hours * batchesPerHour;
    const disruptAt = new Set<number>();
    while (disruptAt.size < Math.min(disruptions, batches)) disruptAt.add(Math.floor(rand() * batches));
    // Restarts land on other batches than the cuts, after the first (the fleet is up by then).
    const restartAt = new Set<number>();
    const restartable = storeRun.restart ? Math.min(serviceRestarts, batches - 1 - disruptAt.size) : 0;
    while (restartAt.size < restartable) {
      const i = 1 + Math.floor(rand() * (batches - 1));
      if (!disruptAt.has(i)) restartAt.add(i);
    }
    const restarting = new Set<Promise<void>>();
    const step = Math.floor((48 * MINUTE) / batchesPerHour);

    for (let h = 0; h < hours; h++) {
      await setClock(H0 + h * HOUR + 6 * MINUTE);
      log(`chaos: hour ${h + 1} of ${hours} (${hourIso(now)})`);
      for (let b = 0; b < batchesPerHour; b++) {
        const index = h * batchesPerHour + b;
        const targets = fleet.filter((i) => i?.ready);
        // Chaos first, so that it lands while this batch is in flight.
        // Closed hours are sent at the start of the next one: aim at sends then, at checkpoints otherwise.
        const sending = h > 0 && b < 3;
        for (let k = sending ? 2 : 1; k > 0 && targets.length > 0 && killChance > 0; k--) {
          if (!sending && rand() >= killChance) break;
          const victim = pick(targets);
          const r = rand();
          const kind = sending
            ? r < 0.7
              ? "send"
              : r < 0.85
                ? "checkpoint"
                : "random"
            : r < 0.6
              ? "checkpoint"
              : r < 0.75
                ? "send"
                : "random";
          if (kind === "random" || victim.armed) setTimeout(() => victim.kill(), Math.floor(rand() * 300));
          else {
            victim.armed = kind;
            const delayMs = Math.floor(rand() * (kind === "send" ? 800 : 4));
            victim.send({ type: "arm", activity: kind, delayMs });
          }
        }
        if (disruptAt.has(index)) {
          figures.disruptions++;
          void sleep(Math.floor(rand() * 200))
            .then(() => storeRun.disrupt())
            .then((n) => {
              figures.connectionsCut += n;
            });
        }
        if (restartAt.has(index) && storeRun.restart) {
          const restart = storeRun.restart.bind(storeRun);
          log(`chaos: restarting the ${store} service`);
          const p = sleep(Math.floor(rand() * 200))
            .then(restart)
            .then(() => {
              figures.serviceRestarts++;
            });
          // Awaited before the drain; until then a failure must not count as unhandled.
          p.catch(() => {});
          restarting.add(p);
        }
        const hour = hourIso(now);
        await Promise.all(
          Array.from({ length: requestsPerBatch }, async () => {
            const inst = pick(targets.length ? targets : fleet);
            const { tenant, licenseArn } = pick(tenants);
            const rows = rand() < 0.4 ? 1 + Math.floor(rand() * 5) : 0;
            const key = `${licenseArn}|${rows ? "report_rows" : "api_calls"}|${hour}`;
            figures.requests++;
            try {
              const res = await fetch(
                `http://127.0.0.1:${inst.port}${rows ? `/api/rows?n=${rows}` : "/api/calls"}`,
                {
                  headers: { "x-tenant": tenant },
                  signal: AbortSignal.timeout(10_000),
                },
              );
              const body = await res.arrayBuffer();
              if (res.status === 200) {
                figures.acknowledged++;
                addTo(acknowledged, key, rows || 1);
              } else if (figures.refused++ === 0)
                log(
                  `chaos: first refusal: ${res.status} ${Buffer.from(body).toString("utf8").slice(0, 300)}`,
                );
            } catch {
              figures.unanswered++;
              addTo(unanswered, key, rows || 1);
            }
          }),
        );
        // Time for the instances' background work (checkpoints, closing, sends) between batches.
        await sleep(120);
        if (b < batchesPerHour - 1) await setClock(now + step);
      }
    }

    // Final drain: no more chaos or faults; the survivors stop cleanly, then one clean instance sends
    // everything that is due, with the clock past every hour's grace period.
    chaos = false;
    // A failed service restart fails the run.
    await Promise.all([...restarting]);
    while (restarts.size) await Promise.all([...restarts]);
    emulator.setFaults({});
    await Promise.all(fleet.filter((i) => i.alive).map(stop));
    await setClock(H0 + hours * HOUR + 6 * MINUTE);
    const drain = await spawn("drain", slots);
    if (!drain.ready) throw new Error(`the drain instance did not start; see ${workDir}/instances.log`);
    // Usage that reached the store after its hour closed moved to the open hour: close that one too.
    await setClock(H0 + (hours + 1) * HOUR + 6 * MINUTE);
    const inspect = kit.openStore(storeRun.settings);
    let grains: StoredGrain[] = [];
    try {
      for (let round = 1; round <= 40; round++) {
        figures.drainRounds = round;
        const flushed = await drain.call({ type: "flush", seq: round }, `flushed:${round}`);
        if (flushed === undefined) throw new Error(`the drain instance died; see ${workDir}/instances.log`);
        grains = await inspect.list();
        if (grains.every((g) => g.state === "sent")) break;
        // Retries back off in business time: move it so they are due.
        await setClock(now + 2 * MINUTE);
      }
    } finally {
      await inspect.close();
    }
    await stop(drain);

    // What each side holds, per grain.
    const ledger = new Map<string, number>();
    const records: BilledRecord[] = emulator.ledger();
    for (const r of records) addTo(ledger, `${r.licenseArn}|${r.dimension}|${r.hour}`, r.quantity);
    const stored = new Map<string, number>();
    for (const g of grains)
      addTo(
        stored,
        `${identityFromKey(g.identityKey).licenseArn}|${g.dimension}|${hourIso(g.hour)}`,
        g.quantity,
      );
    const sends = new Map<string, Array<{ instance: string; quantity: number }>>();
    for (const file of existsSync(sendDir) ? readdirSync(sendDir) : [])
      for (const row of readFileSync(join(sendDir, file), "utf8").split("\n")) {
        const [instance, key, quantity] = row.split("\t");
        if (!instance || !key) continue;
        const list = sends.get(key) ?? [];
        list.push({ instance, quantity: Number(quantity) });
        sends.set(key, list);
      }
    const duplicates = emulator.duplicates();
    await new Promise((resolve) => out.end(resolve));
    const output = readFileSync(join(workDir, "instances.log"), "utf8");
    figures.fenced = output.match(/outcome not written/g)?.length ?? 0;
    figures.abandoned = output.match(/"error":"TimeoutError"/g)?.length ?? 0;

    for (const c of emulator.calls()) {
      if (c.operation !== "BatchMeterUsage") continue;
      figures.batchCalls++;
      if (c.errorType === "ThrottlingException") figures.throttled++;
      if (c.errorType === "InternalServiceErrorException") figures.internalErrors++;
      figures.unprocessedRecords += Number(/(\d+) Unprocessed/.exec(c.summary)?.[1] ?? 0);
    }
    figures.grains = grains.length;
    figures.records = records.length;
    figures.duplicatesOtherQuantity = duplicates.filter(
      (d) => d.attemptedQuantity !== d.billedQuantity,
    ).length;
    figures.duplicates = duplicates.length;
    figures.recordsSent = [...sends.values()].reduce((n, list) => n + list.length, 0);
    figures.grainsSentByTwoOrMore = [...sends.values()].filter(
      (list) => new Set(list.map((s) => s.instance)).size > 1,
    ).length;
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    figures.lostInMemory = total(acknowledged) - total(stored);
    figures.seconds = Math.round((performance.now() - t0) / 100) / 10;
    return {
      seed,
      workDir,
      ledger,
      stored,
      acknowledged,
      unanswered,
      grains,
      duplicates,
      sends,
      figures,
    };
  } finally {
    for (const i of all) if (i.alive) i.kill();
    await Promise.all(all.map((i) => i.exited));
    if (!out.writableEnded) out.end();
    await emu?.close();
    await run?.cleanup();
  }
}

/** What must hold after the drain; each entry is one violation, so an empty list is a pass. */
export function violations(r: ChaosResult): Record<string, string[]> {
  const ledgerVsStore: string[] = [];
  for (const key of new Set([...r.ledger.keys(), ...r.stored.keys()])) {
    const billed = r.ledger.get(key);
    const stored = r.stored.get(key) ?? 0;
    if (billed === undefined ? stored !== 0 : billed !== stored)
      ledgerVsStore.push(`${key}: ledger ${billed ?? "none"}, store ${stored}`);
  }
  const unsent = r.grains
    .filter((g) => g.state !== "sent")
    .map((g) => `${g.key}: ${g.state}${g.lastError ? ` (${g.lastError})` : ""}`);
  const duplicateOtherQuantity = r.duplicates
    .filter((d) => d.attemptedQuantity !== d.billedQuantity)
    .map(
      (d) =>
        `${d.licenseArn}|${d.dimension}|${d.hour}: billed ${d.billedQuantity}, sent ${d.attemptedQuantity}`,
    );
  const sentWithDifferentContent: string[] = [];
  for (const [key, list] of r.sends)
    if (new Set(list.map((s) => s.quantity)).size > 1)
      sentWithDifferentContent.push(`${key}: ${list.map((s) => `${s.instance}=${s.quantity}`).join(", ")}`);
  // Usage moves to a later hour when it reaches the store after its hour closed, so counts are compared
  // per buyer and dimension: the store never holds more than the app acknowledged plus the requests whose
  // answer was lost (a checkpoint counted twice would show here).
  const perBuyer = (m: Map<string, number>) => {
    const out = new Map<string, number>();
    for (const [k, q] of m) addTo(out, k.slice(0, k.lastIndexOf("|")), q);
    return out;
  };
  const stored = perBuyer(r.stored);
  const acknowledged = perBuyer(r.acknowledged);
  const unanswered = perBuyer(r.unanswered);
  const countedTwice: string[] = [];
  for (const [k, q] of stored) {
    const most = (acknowledged.get(k) ?? 0) + (unanswered.get(k) ?? 0);
    if (q > most)
      countedTwice.push(
        `${k}: store ${q}, acknowledged ${acknowledged.get(k) ?? 0} (+${unanswered.get(k) ?? 0} unanswered)`,
      );
  }
  // A store or AWS outage must never take an instance down (see instances.log for the cause).
  const crashed = r.figures.crashes;
  return { ledgerVsStore, unsent, duplicateOtherQuantity, sentWithDifferentContent, countedTwice, crashed };
}

/** The figures as a table, one line per figure. */
export function figuresTable(store: string, r: ChaosResult): string {
  const f = r.figures;
  const rows: Array<[string, string | number]> = [
    ["store", store],
    ["seed", r.seed],
    [
      "requests (acknowledged / refused / unanswered)",
      `${f.requests} (${f.acknowledged} / ${f.refused} / ${f.unanswered})`,
    ],
    [
      "kills mid-checkpoint / mid-send / random",
      `${f.kills.checkpoint} / ${f.kills.send} / ${f.kills.random}`,
    ],
    ["restarts (same id / new id)", `${f.restarts.sameId} / ${f.restarts.newId}`],
    ["crashes (exits nobody caused)", f.crashes.length],
    ["store disruptions (connections cut)", `${f.disruptions} (${f.connectionsCut})`],
    ["store service restarts", f.serviceRestarts],
    ["BatchMeterUsage calls", f.batchCalls],
    [
      "  throttled / 500 / unprocessed records",
      `${f.throttled} / ${f.internalErrors} / ${f.unprocessedRecords}`,
    ],
    ["grains in store", f.grains],
    ["ledger records", f.records],
    ["records sent, every attempt", f.recordsSent],
    ["DuplicateRecord (with another quantity)", `${f.duplicates} (${f.duplicatesOtherQuantity})`],
    ["grains sent by 2+ instances", f.grainsSentByTwoOrMore],
    ["outcomes fenced (lease lost) / calls abandoned", `${f.fenced} / ${f.abandoned}`],
    ["lost in memory (acknowledged - stored)", f.lostInMemory],
    ["drain rounds", f.drainRounds],
    ["seconds", f.seconds],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}
