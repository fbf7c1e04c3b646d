process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { randomBytes } from "node:crypto";
import type { AddContext, DirectoryConformanceTarget } from "@marketmeter/core/store";
import { Redis } from "ioredis";
import { afterAll } from "vitest";
import type { RedisDirectoryStore } from "../src/index.js";

/**
 * The test Redis. A test that needs Redis fails under CI when REDIS_URL is missing (a missing service must
 * not pass as green); locally it is skipped with a note saying how to run it.
 */
export const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL) {
  if (process.env.CI) throw new Error("REDIS_URL is not set: CI must start Redis (scripts/services.sh)");
  console.warn(
    "@marketmeter/redis tests skipped: set REDIS_URL (e.g. `set -a; source /tmp/services.env; set +a`)",
  );
}
export const hasRedis = REDIS_URL !== undefined;
export const url = REDIS_URL ?? "redis://127.0.0.1:1/0";

const clients: Redis[] = [];
/** A client for the tests' own setup and checks; closed after the file. */
export function client(): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 2 });
  r.on("error", () => {});
  clients.push(r);
  return r;
}
afterAll(async () => {
  await Promise.all(clients.splice(0).map((r) => r.quit().catch(() => r.disconnect())));
});

/** A fresh key prefix, so each test (file) has its own keys. */
export function freshPrefix(tag = "t"): string {
  return `mm-${tag}-${randomBytes(6).toString("hex")}`;
}

/** Deletes every key of a prefix. */
export async function dropPrefix(prefix: string): Promise<void> {
  const r = client();
  let cursor = "0";
  do {
    const [next, keys] = await r.scan(cursor, "MATCH", `\\{${prefix}\\}:*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await r.del(...keys);
  } while (cursor !== "0");
}

export const HOUR = 3_600_000;
/** An hour start used by the tests. */
export const H0 = Date.UTC(2026, 6, 15, 8);
/** Add context at `now` with a grace of 5 minutes. */
export const ctxAt = (now: number): AddContext => ({
  now,
  openFrom: Math.floor((now - 300_000) / HOUR) * HOUR,
  carryTo: Math.floor(now / HOUR) * HOUR,
});

type DirectoryOptions = Parameters<DirectoryConformanceTarget["create"]>[0];
/**
 * The directory conformance target for Redis: `open(keyPrefix, options)` makes one app instance's directory
 * store on its own connection; `share` is a second instance, `reopen` a restart; `drop` deletes the keys.
 */
export function directoryTarget(
  name: string,
  open: (keyPrefix: string, o: DirectoryOptions) => RedisDirectoryStore,
  drop: (keyPrefix: string) => Promise<void>,
): DirectoryConformanceTarget {
  return {
    name,
    durable: true,
    create: (o) => {
      const keyPrefix = freshPrefix("dir");
      let store = open(keyPrefix, o);
      const shared: RedisDirectoryStore[] = [];
      return {
        store,
        share: () => {
          const other = open(keyPrefix, o);
          shared.push(other);
          return other;
        },
        reopen: async () => {
          await store.close();
          store = open(keyPrefix, o);
          return store;
        },
        cleanup: async () => {
          for (const other of shared) await other.close();
          await store.close();
          await drop(keyPrefix);
        },
      };
    },
  };
}
