import { directoryStoreConformance } from "@marketmeter/core/store";
import { describe, it } from "vitest";
import { postgresDirectoryStore } from "../src/index.js";
import { dropSchema, freshSchema, hasDatabase, url } from "./helpers.js";

describe.runIf(hasDatabase)("postgres directory", () => {
  directoryStoreConformance(
    {
      name: "postgres",
      durable: true,
      create: (o) => {
        const schema = freshSchema();
        let store = postgresDirectoryStore({ connectionString: url, schema, maxConnections: 3, ...o });
        const shared: Array<{ close(): Promise<void> }> = [];
        return {
          store,
          share: () => {
            const other = postgresDirectoryStore({ connectionString: url, schema, maxConnections: 2, ...o });
            shared.push(other);
            return other;
          },
          reopen: async () => {
            await store.close();
            store = postgresDirectoryStore({ connectionString: url, schema, maxConnections: 3, ...o });
            return store;
          },
          cleanup: async () => {
            for (const other of shared) await other.close();
            await store.close();
            await dropSchema(schema);
          },
        };
      },
    },
    { describe, it },
  );
});
