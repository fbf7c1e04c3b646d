// The public surface of @marketmeter/redis: additions and removals show up in review as a snapshot change.
import { describe, expect, it } from "vitest";

describe("@marketmeter/redis public exports", () => {
  it("exports exactly these names", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    expect(
      Object.keys(mod)
        .sort()
        .map((k) => `${k}: ${typeof mod[k]}`),
    ).toEqual(["redisDirectoryStore: function", "redisStore: function"]);
  });
});
