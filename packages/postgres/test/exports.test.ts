// The public surface of @marketmeter/postgres: additions and removals show up in review as a snapshot change.
import { describe, expect, it } from "vitest";

describe("@marketmeter/postgres public exports", () => {
  it("exports exactly these names", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    expect(
      Object.keys(mod)
        .sort()
        .map((k) => `${k}: ${typeof mod[k]}`),
    ).toMatchInlineSnapshot(`
      [
        "postgresDirectoryStore: function",
        "postgresMigrations: function",
        "postgresStore: function",
      ]
    `);
  });
});
