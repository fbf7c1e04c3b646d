import { storeConformance } from "@marketmeter/core/store";
import fc from "fast-check";
import { describe, it } from "vitest";
import { postgresStore } from "../src/index.js";
import { dropSchema, freshSchema, hasDatabase, url } from "./helpers.js";

// Each conformance test gets its own schema; open() is a second pool, as a second instance would have.
describe.runIf(hasDatabase)("postgres", () => {
  storeConformance(
    {
      name: "postgres",
      durable: true,
      async create() {
        const schema = freshSchema();
        return {
          store: postgresStore({ connectionString: url, schema, maxConnections: 3 }),
          open: async () => postgresStore({ connectionString: url, schema, maxConnections: 3 }),
          cleanup: () => dropSchema(schema),
        };
      },
    },
    { describe, it, fc },
  );
});
