import { storeConformance } from "@marketmeter/core/store";
import { describe, it } from "vitest";
import { redisStore } from "../src/index.js";
import { dropPrefix, freshPrefix, hasRedis, url } from "./helpers.js";

// Each conformance test gets its own key prefix; open() is a second client, as a second instance would have.
describe.runIf(hasRedis)("redis", () => {
  storeConformance(
    {
      name: "redis",
      durable: true,
      async create() {
        const keyPrefix = freshPrefix("conf");
        return {
          store: redisStore({ url, keyPrefix }),
          open: async () => redisStore({ url, keyPrefix }),
          cleanup: () => dropPrefix(keyPrefix),
        };
      },
    },
    { describe, it },
  );
});
