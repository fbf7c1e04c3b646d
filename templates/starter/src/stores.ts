// A store every instance of the app shares, so that several processes, pods or tasks sum their usage in
// one place and each hour is sent once: PostgreSQL (DATABASE_URL) or Redis (REDIS_URL).
import type { createMarketplace } from "{{adapter}}";

type MarketplaceOptions = Parameters<typeof createMarketplace>[0];

/** Which shared store, and where. */
export type SharedStoreSettings =
  | {
      kind: "postgres";
      /** `postgres://user:password@host:5432/db` */
      url: string;
      /** @default "marketmeter" (the demo uses "marketmeter_demo") */
      schema?: string;
    }
  | {
      kind: "redis";
      /** `redis://host:6379/0` or `rediss://…`; with `cluster`, one node of the Cluster */
      url: string;
      /** The URL names a seed node of a Redis Cluster (`REDIS_URL=redis+cluster://…`). */
      cluster?: boolean;
      /** @default "marketmeter" (the demo uses "marketmeter-demo") */
      keyPrefix?: string;
    };

export interface OpenedStores {
  store: NonNullable<MarketplaceOptions["store"]>;
  directory: NonNullable<MarketplaceOptions["directory"]>;
}

/**
 * Opens the usage store and the buyer directory on the shared database, and checks the connection now,
 * so a wrong URL fails at start-up with a message naming the variable. `fresh` (the demo only) empties
 * the demo's schema or key prefix first.
 */
export async function openSharedStores(
  settings: SharedStoreSettings,
  { fresh }: { fresh: boolean },
): Promise<OpenedStores> {
  const where = redact(settings.url);
  if (settings.kind === "postgres") {
    const { postgresDirectoryStore, postgresStore } = await import("@marketmeter/postgres");
    const schema = settings.schema ?? (fresh ? "marketmeter_demo" : "marketmeter");
    if (fresh) await dropSchema(settings.url, schema);
    const store = postgresStore({ connectionString: settings.url, schema });
    await store.ready().catch((err: unknown) => {
      throw new Error(`DATABASE_URL (${where}): ${err instanceof Error ? err.message : String(err)}`);
    });
    const directory = postgresDirectoryStore({ connectionString: settings.url, schema });
    return { store, directory };
  }
  const { redisDirectoryStore, redisStore } = await import("@marketmeter/redis");
  const keyPrefix = settings.keyPrefix ?? (fresh ? "marketmeter-demo" : "marketmeter");
  const failed = (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    // The store names its own option; say which REDIS_URL to set instead.
    const fix = /is a node of a Redis Cluster/.test(message)
      ? message.replace(
          /: set cluster: true$/,
          `: use REDIS_URL=${where.replace(/^redis(s?):\/\//, "redis$1+cluster://")}`,
        )
      : message;
    return new Error(`REDIS_URL (${where}): ${fix}`);
  };
  const cluster = settings.cluster === true;
  if (fresh)
    await dropKeyPrefix(settings.url, keyPrefix, cluster).catch((err: unknown) =>
      Promise.reject(failed(err)),
    );
  const store = redisStore({ url: settings.url, keyPrefix, cluster });
  const directory = redisDirectoryStore({ url: settings.url, keyPrefix, cluster });
  try {
    await Promise.all([store.ready(), directory.ready()]);
  } catch (err) {
    // Each store owns a client that would keep reconnecting: close them so start-up ends.
    await Promise.allSettled([store.close(), directory.close()]);
    throw failed(err);
  }
  return { store, directory };
}

/** Deletes the keys of one store prefix (`{prefix}:*`, as the Redis stores name them), nothing else. */
async function dropKeyPrefix(url: string, keyPrefix: string, cluster: boolean): Promise<void> {
  const { Cluster, Redis } = await import("ioredis");
  const u = new URL(url);
  const options = { connectTimeout: 5000, maxRetriesPerRequest: 1 };
  // A Cluster keeps a store's keys in one slot, on one master: scan every master for them.
  const client = cluster
    ? new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], {
        lazyConnect: true,
        clusterRetryStrategy: () => null,
        redisOptions: {
          ...options,
          ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
          ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
          ...(u.protocol === "rediss:" ? { tls: {} } : {}),
        },
      })
    : new Redis(url, { lazyConnect: true, ...options });
  client.on("error", () => {}); // reported by the failing command below
  try {
    await client.connect();
    const pattern = `${`{${keyPrefix}}:`.replace(/[*?[\]\\]/g, "\\$&")}*`;
    const nodes = client instanceof Cluster ? client.nodes("master") : [client];
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 500);
        cursor = next;
        if (keys.length > 0) await node.unlink(...keys);
      } while (cursor !== "0");
    }
  } finally {
    client.disconnect();
  }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema.replaceAll('"', '""')}" CASCADE`);
  } catch (err) {
    throw new Error(`DATABASE_URL (${redact(url)}): ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.href;
  } catch {
    return "(not a URL)";
  }
}
