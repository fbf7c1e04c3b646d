import { describe, expect, it } from "vitest";
import { checkpointBackoffTicks } from "./pipeline.js";

describe("checkpoint back-off", () => {
  it("skips exponentially more timer ticks after each failure, up to about 30 s", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => checkpointBackoffTicks(n, 1000))).toEqual([0, 1, 3, 7, 15, 30]);
    expect(checkpointBackoffTicks(100, 1000)).toBe(30);
    // A long interval still retries on the next tick or the one after.
    expect([1, 2, 3].map((n) => checkpointBackoffTicks(n, 60_000))).toEqual([0, 1, 1]);
    expect(checkpointBackoffTicks(50, 10)).toBe(3000);
  });
});
