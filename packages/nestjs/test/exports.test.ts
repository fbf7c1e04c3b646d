// The public surface of @marketmeter/nestjs: the core's user-facing names plus the module's own, and
// nothing that only adapter or store authors need.
import "reflect-metadata";
import * as core from "@marketmeter/core";
import * as coreHttp from "@marketmeter/core/http";
import * as coreStore from "@marketmeter/core/store";
import { describe, expect, it } from "vitest";

describe("@marketmeter/nestjs public exports", () => {
  it("re-exports the core's main entry, so users install one package", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    for (const [key, value] of Object.entries(core)) expect(mod[key], key).toBe(value);
  });

  it("re-exports nothing of `@marketmeter/core/http` or `@marketmeter/core/store`", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    const inner = [...Object.keys(coreHttp), ...Object.keys(coreStore)].filter((k) => !(k in core));
    expect(inner.filter((k) => k in mod)).toEqual([]);
    expect("http" in mod).toBe(false);
  });
});
