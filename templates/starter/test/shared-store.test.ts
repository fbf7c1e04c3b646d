// Many instances: two app instances on one PostgreSQL (DATABASE_URL) meter to one emulator; AWS gets one
// record per buyer, dimension and hour, with the usage of both.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningApp, startApp } from "../src/app.js";
import { readConfig } from "../src/config.js";
import type { SharedStoreSettings } from "../src/stores.js";
import { defined } from "./defined.js";

process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const url = process.env.DATABASE_URL;
// CI starts PostgreSQL: there a missing DATABASE_URL is a failure, not a skip.
if (process.env.CI && !url)
  throw new Error("DATABASE_URL is not set: CI must start PostgreSQL for this test");

const schema = `starter_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
let first: RunningApp;
let second: RunningApp;
let dataDir: string;

describe.skipIf(!url)("{{name}} on a shared PostgreSQL store", () => {
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "{{name}}-shared-"));
    const store: SharedStoreSettings = { kind: "postgres", url: defined(url), schema };
    first = await startApp({
      port: 0,
      dataDir,
      store,
      emulator: { port: 0, now: "2026-07-15T10:30:00Z", frozen: true },
      log: () => {},
    });
    // The second instance joins the first one's emulator, as `MARKETMETER_EMULATOR_URL` does.
    second = await startApp({
      port: 0,
      dataDir,
      store,
      emulator: { url: defined(first.emulator).endpoint },
      log: () => {},
    });
  });

  afterAll(async () => {
    await second?.close();
    await first?.close();
    const { default: pg } = await import("pg");
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const control = async <T>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(defined(first.emulator).endpoint + path, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };

  it("sums both instances' usage into one record per hour", async () => {
    const sub = await control<{ license: { licenseArn: string } }>("/_emulator/buyers/subscribe", {
      productCode: "pca1234567890abcdefghijkl",
      customerAWSAccountId: "444455556666",
    });
    const { token } = await control<{ token: string }>("/_emulator/tokens", {
      licenseArn: sub.license.licenseArn,
    });
    // Registration and sign-up on the first instance; the key works on both (same data folder and store).
    const registered = await fetch(`${first.url}/marketplace/register`, {
      method: "POST",
      body: new URLSearchParams({ "x-amzn-marketplace-token": token }),
      redirect: "manual",
    });
    expect(registered.status).toBe(303);
    const registration = defined(
      new URL(defined(registered.headers.get("location")), first.url).searchParams.get("registration"),
    );
    const signedUp = await fetch(`${first.url}/signup`, {
      method: "POST",
      body: new URLSearchParams({ registration, name: "Ann", email: "ann@example.com" }),
      redirect: "manual",
    });
    expect(signedUp.status).toBe(303);
    const done = await fetch(new URL(defined(signedUp.headers.get("location")), first.url), {
      headers: { cookie: defined(signedUp.headers.get("set-cookie")).split(";")[0] ?? "" },
    });
    const apiKey = defined(/mm_[A-Za-z0-9_-]{32}/.exec(await done.text())?.[0]);

    const call = (app: RunningApp) =>
      fetch(`${app.url}/api/quotes?symbol=ACME`, { headers: { authorization: `Bearer ${apiKey}` } });
    for (let i = 0; i < 3; i++) expect((await call(first)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await call(second)).status).toBe(200);
    // The second instance saves its usage (its timer does this every few seconds in production).
    await second.marketplace.checkpoint();

    // "Close the hour" on the first instance sends the hour once, for both.
    const closed = await fetch(`${first.url}/demo/close-hour`, { method: "POST", redirect: "manual" });
    expect(closed.status).toBe(303);
    await second.marketplace.flush(); // the second instance finds nothing left to send
    const ledger =
      await control<{ customerAWSAccountId: string; dimension: string; quantity: number }[]>(
        "/_emulator/ledger",
      );
    expect(ledger.map((r) => `${r.customerAWSAccountId} ${r.dimension} ${r.quantity}`)).toEqual([
      "444455556666 api_calls 5",
    ]);
    const rejected = await control<unknown[]>("/_emulator/rejected");
    expect(rejected).toEqual([]);
  });
});

describe("{{name}} shared store settings", () => {
  it("DATABASE_URL and REDIS_URL choose the shared store; a wrong one names the variable", () => {
    expect(readConfig({ DATABASE_URL: "postgres://u:p@db:5432/app" }).store).toEqual({
      kind: "postgres",
      url: "postgres://u:p@db:5432/app",
    });
    expect(readConfig({ REDIS_URL: "redis://cache:6379/0" }).store).toEqual({
      kind: "redis",
      url: "redis://cache:6379/0",
    });
    expect(readConfig({}).store).toBeUndefined();
    expect(() => readConfig({ DATABASE_URL: "mysql://db/app" })).toThrow(
      /DATABASE_URL must be a PostgreSQL URL/,
    );
    expect(() => readConfig({ REDIS_URL: "http://cache" })).toThrow(/REDIS_URL must be a Redis URL/);
    expect(() => readConfig({ DATABASE_URL: "postgres://db/app", REDIS_URL: "redis://c" })).toThrow(
      /choose one/,
    );
    expect(() => readConfig({ MARKETMETER_EMULATOR_URL: "http://127.0.0.1:4566" })).toThrow(
      /also set DATABASE_URL or REDIS_URL/,
    );
    expect(
      readConfig({ DATABASE_URL: "postgres://db/app", MARKETMETER_EMULATOR_URL: "http://127.0.0.1:4566" })
        .emulator,
    ).toEqual({ url: "http://127.0.0.1:4566" });
  });
});
