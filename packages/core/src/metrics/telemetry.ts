/**
 * Telemetry of a marketplace instance: OpenTelemetry instruments and the store-reachability alert. It
 * sees the pipeline only through its edges (the store and the sender it wraps) and the instance's
 * counters, so `record()` is never touched: usage is counted when a checkpoint saves it.
 */
import {
  type BatchObservableResult,
  type Counter,
  createNoopMeter,
  type Histogram,
  type Meter,
  metrics,
  type ObservableGauge,
} from "@opentelemetry/api";
import { isMarketplaceError, MarketplaceError } from "../errors/index.js";
import { classifyError, type Emit, type UsageSender } from "../reporter/index.js";
import type { Clock, Logger } from "../runtime/index.js";
import { GRAIN_STATES, type GrainState, type UsageStore } from "../stores/index.js";
import { acceptanceDeadline, WINDOW_MS } from "../usage/index.js";
import { type CallOutcome, INSTRUMENTS, type InstrumentSpec } from "./instruments.js";
import type { ResolvedMetricsOptions } from "./options.js";

export interface TelemetryOptions {
  metrics: ResolvedMetricsOptions;
  clock: Clock;
  logger: Logger;
  emit: Emit;
  /** Emit `storeUnreachable` once the store has failed, with no successful write, for this long. */
  storeUnreachableMs: number;
  /** Usage waiting in memory, and when a checkpoint last saved some (epoch ms, 0 = never). */
  memory(): { inMemoryGrains: number; lastCheckpointAt: number };
}

/** What the observable gauges read from the store, cached for `refreshIntervalMs`. */
interface Snapshot {
  counts: Record<GrainState, number>;
  /** Hour of the oldest pending, closed or retrying grain. */
  oldestUnsentHour: number | undefined;
}

const UNSENT: readonly GrainState[] = ["pending", "closed", "retrying"];
/**
 * Only these prove the store usable: a full disk still answers reads (a scrape's counts()), while usage
 * can be neither saved nor sent.
 */
const WRITES = new Set(["add", "closeGrains", "claim", "settle", "release"]);
/** A scrape waits this long for the store at most: a hanging store must not hang every other metric. */
const READ_WAIT_MS = 2000;
/** Seconds: AWS calls take tens of milliseconds to the 15 s call deadline. */
const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30];

export class Telemetry {
  readonly #o: TelemetryOptions;
  readonly #meter: Meter;
  readonly #usage: Counter;
  readonly #calls: Counter;
  readonly #duration: Histogram;
  readonly #storeErrors: Counter;
  readonly #gauges: ObservableGauge[];
  readonly #observe: (r: BatchObservableResult) => Promise<void>;
  #store: UsageStore | undefined;
  #snapshot: Snapshot | undefined;
  /** When the store was last read for the snapshot (business clock). */
  #triedAt: number | undefined;
  #refreshing: Promise<Snapshot | undefined> | undefined;
  /** Last time no usage waited in memory, as seen by a collection. */
  #lastClean: number;
  /** First failure of the current outage (no success since). */
  #downSince: number | undefined;
  #alerted = false;

  constructor(o: TelemetryOptions) {
    this.#o = o;
    this.#lastClean = o.clock();
    const m = o.metrics;
    this.#meter = m.enabled
      ? (m.meterProvider ?? metrics.getMeterProvider()).getMeter("@marketmeter/core")
      : createNoopMeter();
    const opts = (s: InstrumentSpec) => ({ unit: s.unit, description: s.description });
    this.#usage = this.#meter.createCounter(INSTRUMENTS.usageRecorded.name, opts(INSTRUMENTS.usageRecorded));
    this.#calls = this.#meter.createCounter(INSTRUMENTS.sendCalls.name, opts(INSTRUMENTS.sendCalls));
    this.#duration = this.#meter.createHistogram(INSTRUMENTS.sendDuration.name, {
      ...opts(INSTRUMENTS.sendDuration),
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.#storeErrors = this.#meter.createCounter(
      INSTRUMENTS.storeErrors.name,
      opts(INSTRUMENTS.storeErrors),
    );
    const grains = this.#meter.createObservableGauge(INSTRUMENTS.grains.name, opts(INSTRUMENTS.grains));
    const age = this.#meter.createObservableGauge(
      INSTRUMENTS.oldestUnsentAge.name,
      opts(INSTRUMENTS.oldestUnsentAge),
    );
    const left = this.#meter.createObservableGauge(
      INSTRUMENTS.oldestUnsentTimeLeft.name,
      opts(INSTRUMENTS.oldestUnsentTimeLeft),
    );
    const lag = this.#meter.createObservableGauge(
      INSTRUMENTS.checkpointLag.name,
      opts(INSTRUMENTS.checkpointLag),
    );
    this.#gauges = [grains, age, left, lag];
    this.#observe = async (r) => {
      const now = this.#o.clock();
      r.observe(lag, this.#lagMs(now) / 1000);
      const snap = (await atMost(this.#read(now), READ_WAIT_MS)) ?? this.#snapshot;
      if (!snap) return;
      for (const state of GRAIN_STATES) r.observe(grains, snap.counts[state] ?? 0, { state });
      // Nothing unsent, nothing at risk: age 0 and a full window left (a gauge keeps its last value otherwise).
      const oldest = snap.oldestUnsentHour;
      r.observe(age, oldest === undefined ? 0 : (now - oldest) / 1000);
      r.observe(left, (oldest === undefined ? WINDOW_MS : acceptanceDeadline(oldest) - now) / 1000);
    };
    this.#meter.addBatchObservableCallback(this.#observe, this.#gauges);
  }

  /** Stops reading the store for gauges (the instance is closing). */
  close(): void {
    this.#meter.removeBatchObservableCallback(this.#observe, this.#gauges);
    this.#store = undefined;
  }

  #lagMs(now: number): number {
    const { inMemoryGrains, lastCheckpointAt } = this.#o.memory();
    if (inMemoryGrains === 0) {
      this.#lastClean = now;
      return 0;
    }
    return Math.max(0, now - Math.max(lastCheckpointAt, this.#lastClean));
  }

  /**
   * The cached snapshot, refreshed (one query at a time) once the last try is older than the refresh
   * interval. A failed refresh keeps the last numbers and waits a full interval too: an outage must not
   * turn every scrape into a store query (it shows in `marketmeter.store.errors`).
   */
  #read(now: number): Promise<Snapshot | undefined> {
    const tried = this.#triedAt;
    if (tried !== undefined && now - tried < this.#o.metrics.refreshIntervalMs && now >= tried)
      return Promise.resolve(this.#snapshot);
    if (this.#refreshing) return this.#refreshing;
    const store = this.#store;
    if (!store) return Promise.resolve(this.#snapshot);
    this.#triedAt = now;
    const run = (async () => {
      try {
        const [counts, oldest] = await Promise.all([
          store.counts(),
          store.list({ states: UNSENT, limit: 1 }),
        ]);
        this.#snapshot = { counts, oldestUnsentHour: oldest[0]?.hour };
      } catch {
        // Counted by the watched store; the last numbers stay.
      } finally {
        this.#refreshing = undefined;
      }
      return this.#snapshot;
    })();
    this.#refreshing = run;
    return run;
  }

  /**
   * The store as the pipeline uses it: every failure is counted and feeds the reachability alert, and
   * usage is counted when a checkpoint has saved it (the add is atomic: a failed add is retried whole).
   */
  watchStore(store: UsageStore): UsageStore {
    const guard = <T>(operation: string, run: () => Promise<T>): Promise<T> =>
      run().then(
        (v) => {
          if (WRITES.has(operation)) this.#reachable();
          return v;
        },
        (err: unknown) => {
          this.#failed(operation, err);
          throw err;
        },
      );
    const watched: UsageStore = {
      kind: store.kind,
      durable: store.durable,
      add: (deltas, ctx) =>
        guard("add", () => store.add(deltas, ctx)).then((result) => {
          // A retried checkpoint the store had already applied added nothing.
          if (result.duplicate) return result;
          const sums = new Map<string, number>();
          for (const d of deltas)
            if (d.quantity > 0) sums.set(d.dimension, (sums.get(d.dimension) ?? 0) + d.quantity);
          for (const [dimension, q] of sums) this.#usage.add(q, { dimension });
          return result;
        }),
      closeGrains: (filter) => guard("closeGrains", () => store.closeGrains(filter)),
      claim: (options) => guard("claim", () => store.claim(options)),
      settle: (outcomes, ctx) => guard("settle", () => store.settle(outcomes, ctx)),
      release: (leases, owner) => guard("release", () => store.release(leases, owner)),
      get: (key) => guard("get", () => store.get(key)),
      list: (query) => guard("list", () => store.list(query)),
      counts: () => guard("counts", () => store.counts()),
      close: () => guard("close", () => store.close()),
    };
    // Optional methods stay optional: the reporter paces globally only when the store has a bucket.
    const take = store.takeSendToken;
    if (take)
      watched.takeSendToken = (bucket, o) => guard("takeSendToken", () => take.call(store, bucket, o));
    this.#store = watched;
    return watched;
  }

  #reachable(): void {
    if (this.#downSince === undefined) return;
    const since = this.#downSince;
    this.#downSince = undefined;
    if (!this.#alerted) return;
    this.#alerted = false;
    const downMs = this.#o.clock() - since;
    this.#o.logger.info(
      { since: new Date(since).toISOString(), downMs },
      "marketmeter: the store accepts writes again",
    );
    this.#o.emit("storeRecovered", { since: new Date(since), downMs });
  }

  #failed(operation: string, err: unknown): void {
    this.#storeErrors.add(1, { operation });
    const now = this.#o.clock();
    this.#downSince ??= now;
    const downMs = now - this.#downSince;
    if (this.#alerted || downMs < this.#o.storeUnreachableMs) return;
    this.#alerted = true;
    const error = isMarketplaceError(err)
      ? err
      : new MarketplaceError(
          "STORE_ERROR",
          `the store has failed with no successful write for ${Math.round(downMs / 1000)} s: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
    this.#o.logger.error(
      { since: new Date(this.#downSince).toISOString(), downMs, operation, error: error.message },
      "marketmeter: the store is unreachable; usage is kept in memory and nothing is sent until it answers",
    );
    this.#o.emit("storeUnreachable", { since: new Date(this.#downSince), downMs, error });
  }

  /** The sender with each real BatchMeterUsage call timed and counted by outcome. */
  watchSender(sender: UsageSender): UsageSender {
    // A dry run makes no call: nothing to time or count.
    if (sender.dryRun) return sender;
    return {
      dryRun: false,
      // The reporter reads it to tell our own earlier write from another quantity (MeterUsage).
      ...(sender.identicalResendSucceeds === undefined
        ? {}
        : { identicalResendSucceeds: sender.identicalResendSucceeds }),
      send: async (input, signal) => {
        const start = performance.now();
        let outcome: CallOutcome = "success";
        try {
          return await sender.send(input, signal);
        } catch (err) {
          outcome = outcomeOf(err);
          throw err;
        } finally {
          this.#calls.add(1, { outcome });
          this.#duration.record((performance.now() - start) / 1000, { outcome });
        }
      },
    };
  }
}

/** `p`'s value, or undefined once `ms` have passed (`p` itself goes on). */
async function atMost<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What the reporter does next with a failed call, in the words of the `outcome` attribute. */
function outcomeOf(err: unknown): CallOutcome {
  const kind = classifyError(err);
  if (kind === "throttle") return "throttled";
  if (kind === "invalid" || kind === "product" || kind === "timestamp") return "rejected";
  return "retried";
}
