// Redis for the chaos test: a private redis-server per run (so that it can be restarted mid-run without
// touching anyone else's), one key prefix per run, and instances whose connections carry the run's client
// name, so that the connection cuts (CLIENT KILL) hit only this run's instances.
import { redisDirectoryStore, redisStore } from "@marketmeter/redis";
import { Redis } from "ioredis";
import { startPrivateRedis } from "./redis-server.js";
import type { StoreKit, StoreSettings } from "./stores.js";

function setting(settings: StoreSettings, name: string): string {
  const v = settings[name];
  if (v === undefined) throw new Error(`redis chaos settings lack "${name}"`);
  return v;
}

/** A store on its own named client, which its close() also ends. */
function onNamedClient<T extends { close(): Promise<void> }>(
  s: StoreSettings,
  make: (client: Redis) => T,
): T {
  const client = new Redis(setting(s, "url"), {
    connectionName: setting(s, "name"),
    maxRetriesPerRequest: 1,
  });
  client.on("error", () => {});
  const store = make(client);
  const close = store.close.bind(store);
  return Object.assign(store, {
    async close() {
      await close();
      client.disconnect();
    },
  });
}

export const redisKit: StoreKit = {
  // REDIS_URL switches the Redis run on (CI sets it); the run itself uses its private redis-server.
  env: "REDIS_URL",
  async prepare(_url, runId) {
    const keyPrefix = `mm-chaos-${runId}`;
    const server = await startPrivateRedis();
    const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
    admin.on("error", () => {});
    return {
      settings: { url: server.url, keyPrefix, name: keyPrefix },
      async disrupt() {
        const list = String(await admin.client("LIST"));
        const ids = list
          .split("\n")
          .filter((l) => l.includes(` name=${keyPrefix} `))
          .map((l) => /\bid=(\d+)/.exec(l)?.[1])
          .filter((id): id is string => id !== undefined);
        for (const id of ids) await admin.client("KILL", "ID", id);
        return ids.length;
      },
      restart: () => server.restart(),
      async cleanup() {
        admin.disconnect();
        await server.stop();
      },
    };
  },
  openStore: (s) => onNamedClient(s, (client) => redisStore({ client, keyPrefix: setting(s, "keyPrefix") })),
  openDirectory: (s) =>
    onNamedClient(s, (client) => redisDirectoryStore({ client, keyPrefix: setting(s, "keyPrefix") })),
};
