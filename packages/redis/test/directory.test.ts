import { directoryStoreConformance } from "@marketmeter/core/store";
import { describe, it } from "vitest";
import { redisDirectoryStore } from "../src/index.js";
import { dropPrefix, freshPrefix, hasRedis, url } from "./helpers.js";

describe.runIf(hasRedis)("redis directory", () => {
  directoryStoreConformance(
    {
      name: "redis",
      durable: true,
      create: (o) => {
        const keyPrefix = freshPrefix("dir");
        let store = redisDirectoryStore({ url, keyPrefix, ...o });
        return {
          store,
          reopen: async () => {
            await store.close();
            store = redisDirectoryStore({ url, keyPrefix, ...o });
            return store;
          },
          cleanup: async () => {
            await store.close();
            await dropPrefix(keyPrefix);
          },
        };
      },
    },
    { describe, it },
  );
});
