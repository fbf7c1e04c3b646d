import { describe, expect, it } from "vitest";
import { callTimeoutMs, withDeadline } from "./index.js";

describe("withDeadline", () => {
  it("settles at the deadline even when the call ignores its signal, and aborts that signal", async () => {
    let seen: AbortSignal | undefined;
    const call = withDeadline("Op", 20, (signal) => {
      seen = signal;
      return new Promise<never>(() => {});
    });
    await expect(call).rejects.toMatchObject({ name: "TimeoutError", message: expect.stringMatching(/Op/) });
    expect(seen?.aborted).toBe(true);
  });

  it("aborts when the outer signal aborts (shutdown), before or during the call", async () => {
    const stop = new AbortController();
    const during = withDeadline("Op", 60_000, () => new Promise<never>(() => {}), stop.signal);
    stop.abort();
    await expect(during).rejects.toMatchObject({ name: "AbortError" });
    let called = false;
    await expect(
      withDeadline(
        "Op",
        60_000,
        async () => {
          called = true;
        },
        stop.signal,
      ),
    ).rejects.toMatchObject({ name: "AbortError" });
    expect(called).toBe(false);
  });

  it("passes answers and errors of the call through", async () => {
    await expect(withDeadline("Op", 60_000, async () => 7)).resolves.toBe(7);
    await expect(
      withDeadline("Op", 60_000, async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
  });

  it("the call deadline is attempts × (request + connection time)", () => {
    expect(callTimeoutMs()).toBe(15_000);
    expect(callTimeoutMs({ requestTimeoutMs: 2000, maxAttempts: 3 })).toBe(12_000);
    expect(callTimeoutMs({ requestTimeoutMs: 30_000, maxAttempts: 2 })).toBe(70_000);
  });
});
