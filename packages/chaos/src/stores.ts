/**
 * The stores the chaos test runs against. A kit says how one run gets its own namespace, how an
 * instance opens the shared stores, and how the run cuts the instances off from the service. Adding a
 * store is one kit and one line in {@link STORE_KITS}.
 */
import type { DirectoryStore, UsageStore } from "@marketmeter/core";
import { postgresKit } from "./postgres-kit.js";
import { redisKit } from "./redis-kit.js";

/** Plain strings, so they travel to an instance process in its environment. */
export type StoreSettings = Record<string, string>;

/** One run's namespace in the service (a schema, a key prefix). */
export interface StoreRun {
  /** What every instance of this run opens its stores with. */
  settings: StoreSettings;
  /**
   * Cuts every instance's connections to the service (`pg_terminate_backend`, `CLIENT KILL`), as a
   * failover or a restart would; returns how many were cut.
   */
  disrupt(): Promise<number>;
  /**
   * Stops the service and starts it again on the same address with the same data, as an operator's
   * restart would (a private server only: never a shared one). Kits without it are not restarted.
   */
  restart?(): Promise<void>;
  /** Drops the namespace and closes the run's own connections. */
  cleanup(): Promise<void>;
}

export interface StoreKit {
  /** The environment variable with the service's URL (e.g. DATABASE_URL). */
  readonly env: string;
  /** Test process: a fresh namespace for one run; `runId` is lowercase letters and digits. */
  prepare(url: string, runId: string): Promise<StoreRun>;
  /** Instance process (and the final inspection): the usage store of a run. */
  openStore(settings: StoreSettings): UsageStore;
  /** Instance process: the directory store of a run. */
  openDirectory(settings: StoreSettings): DirectoryStore;
}

export const STORE_KITS = {
  postgres: postgresKit,
  redis: redisKit,
} satisfies Record<string, StoreKit>;

export type StoreName = keyof typeof STORE_KITS;

export function isStoreName(name: string): name is StoreName {
  return Object.hasOwn(STORE_KITS, name);
}
