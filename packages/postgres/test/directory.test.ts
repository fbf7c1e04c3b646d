import { directoryStoreConformance, sampleCustomer } from "@marketmeter/core/store";
import { describe, expect, it } from "vitest";
import { postgresDirectoryStore } from "../src/index.js";
import { adminPool, dropSchema, freshSchema, hasDatabase, url } from "./helpers.js";

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

  it("a change committed after a read began is still returned by the next read (transaction horizon)", async () => {
    const schema = freshSchema();
    const store = postgresDirectoryStore({ connectionString: url, schema, maxConnections: 2 });
    const client = await adminPool().connect();
    try {
      const start = await store.customersChangedSince(undefined);
      // A write whose transaction is still open while another instance reads the changes.
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO "${schema}".customers (id, tenant_id, data, updated_at, change_xid)
           VALUES ($1, NULL, $2::jsonb, 0, txid_current())`,
        ["cus_1", JSON.stringify(sampleCustomer({ version: 1 }))],
      );
      const during = await store.customersChangedSince(start.cursor);
      expect(during.records).toEqual([]);
      await client.query("COMMIT");
      const after = await store.customersChangedSince(during.cursor);
      expect(after.records.map((r) => r.id)).toEqual(["cus_1"]);
    } finally {
      client.release();
      await store.close();
      await dropSchema(schema);
    }
  });
});
