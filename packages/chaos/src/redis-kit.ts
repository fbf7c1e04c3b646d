// Redis for the chaos test: one key prefix per run, and instances whose connections carry the run's
// client name, so that the disruption (CLIENT KILL) never touches anyone else's clients on a shared server.
import { redisDirectoryStore, redisStore } from "@marketmeter/redis";
import { Redis } from "ioredis";
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
  env: "REDIS_URL",
  async prepare(url, runId) {
    const keyPrefix = `mm-chaos-${runId}`;
    const admin = new Redis(url, { maxRetriesPerRequest: 1 });
    admin.on("error", () => {});
    return {
      settings: { url, keyPrefix, name: keyPrefix },
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
      async cleanup() {
        let cursor = "0";
        do {
          const [next, keys] = await admin.scan(cursor, "MATCH", `{${keyPrefix}}:*`, "COUNT", 500);
          cursor = next;
          if (keys.length) await admin.del(...keys);
        } while (cursor !== "0");
        await admin.quit();
      },
    };
  },
  openStore: (s) => onNamedClient(s, (client) => redisStore({ client, keyPrefix: setting(s, "keyPrefix") })),
  openDirectory: (s) =>
    onNamedClient(s, (client) => redisDirectoryStore({ client, keyPrefix: setting(s, "keyPrefix") })),
};
