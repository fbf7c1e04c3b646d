// The emulator's control API (`/_emulator/...`), as a test or a script drives it.
import { expect } from "vitest";

/** GET (no body) or POST (JSON body) to the emulator at `base()`; the answer must be 200. */
export function emulatorControl(base: () => string) {
  return async <T>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(base() + path, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };
}
