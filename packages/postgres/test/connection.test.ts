import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { isMarketplaceError } from "@marketmeter/core";
import fc from "fast-check";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { postgresDirectoryStore, postgresStore } from "../src/index.js";
import { hasDatabase, url } from "./helpers.js";

const SECRET = "s3cret-Passw0rd";

async function listen(onConnection: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as { port: number }).port };
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const { server, port } = await listen(() => {});
  await new Promise((r) => server.close(r));
  return port;
}

describe("options", () => {
  it("validates options with coded errors", () => {
    const bad: Array<[unknown, RegExp]> = [
      [{}, /needs pool or connectionString/],
      [{ connectionString: url, pool: new pg.Pool() }, /pool or connectionString, not both/],
      [{ connectionString: "mysql://x/y" }, /postgres:\/\//],
      [{ connectionString: "postgres://%:secret@localhost/db" }, /malformed percent-escape in the user name/],
      [
        { connectionString: "postgres://app:s%zzcret@localhost/db" },
        /malformed percent-escape in the password/,
      ],
      [{ connectionString: url, schema: "Bad-Name" }, /schema must be/],
      [{ connectionString: url, nope: 1 }, /unknown option "nope"/],
      [{ connectionString: url, connectTimeoutMs: 0 }, /connectTimeoutMs/],
      [{ connectionString: url, maxConnections: 1.5 }, /maxConnections/],
      [{ connectionString: url, retainSettledMs: -1 }, /retainSettledMs/],
      [{ connectionString: url, migrate: "yes" }, /migrate must be a boolean/],
      [{ pool: { query: 1 } }, /pg-compatible Pool/],
      [{ pool: new pg.Pool(), connectTimeoutMs: 5 }, /set them on your pool/],
      [null, /must be an object/],
    ];
    for (const [options, message] of bad) {
      let caught: unknown;
      try {
        postgresStore(options as never);
      } catch (e) {
        caught = e;
      }
      expect(isMarketplaceError(caught, "INVALID_CONFIG"), `${String(caught)} for ${message}`).toBe(true);
      expect(String(caught)).toMatch(message);
    }
    expect(() => postgresDirectoryStore({ connectionString: url, maxSeenEvents: 0 })).toThrow(
      /maxSeenEvents/,
    );
  });

  it("property: any connection string is accepted or refused with INVALID_CONFIG, never echoing the password", () => {
    const input = fc.record({
      scheme: fc.constantFrom("postgres", "postgresql", "mysql", "http", ""),
      sep: fc.constantFrom("://", ":/", "", "//"),
      // Percent signs often: a malformed escape must be refused here, not at the first connection.
      user: fc.oneof(fc.string({ maxLength: 12 }), fc.stringMatching(/^[%0-9a-fA-Fz]{0,6}$/)),
      password: fc.stringMatching(/^[A-Za-z0-9]{10,16}$/),
      rest: fc.string({ maxLength: 20 }),
    });
    fc.assert(
      fc.property(input, ({ scheme, sep, user, password, rest }) => {
        const s = `${scheme}${sep}${user}:${password}@${rest}`;
        let store: ReturnType<typeof postgresStore> | undefined;
        try {
          store = postgresStore({ connectionString: s });
        } catch (e) {
          expect(isMarketplaceError(e, "INVALID_CONFIG"), String(e)).toBe(true);
          expect((e as Error).message).not.toContain(password);
          return;
        }
        expect(s).toMatch(/^postgres(ql)?:/);
        void store.close();
      }),
    );
  });

  it("property: schema names are accepted exactly when they are plain lowercase identifiers", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (schema) => {
        const ok = /^[a-z_][a-z0-9_]{0,62}$/.test(schema) && !schema.startsWith("pg_");
        const make = () =>
          postgresStore({
            pool: {
              query: async () => ({ rows: [], rowCount: 0 }),
              connect: async () => {
                throw new Error("unused");
              },
            },
            schema,
          });
        if (ok) expect(make).not.toThrow();
        else expect(make).toThrow(/schema must be/);
      }),
    );
  });
});

describe("wrong connection settings fail at start-up, naming the setting, without the password", () => {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it("nothing listening on the port", async () => {
    const port = await closedPort();
    const s = postgresStore({ connectionString: `postgres://app:${SECRET}@127.0.0.1:${port}/app` });
    const err = await s.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isMarketplaceError(err, "STORE_ERROR"), String(err)).toBe(true);
    const msg = String((err as Error).message);
    expect(msg).toMatch(/check the host and port in connectionString \(127\.0\.0\.1:\d+\/app\)/);
    expect(msg).not.toContain(SECRET);
    await s.close();
  });

  it("a server that never answers: the connect timeout ends the wait", async () => {
    const { server, port } = await listen((sock) => {
      sockets.add(sock);
    });
    servers.push(server);
    const s = postgresStore({
      connectionString: `postgres://app:${SECRET}@127.0.0.1:${port}/app`,
      connectTimeoutMs: 200,
    });
    const err = await s.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isMarketplaceError(err, "STORE_ERROR"), String(err)).toBe(true);
    expect(String((err as Error).message)).toMatch(/timeout.*check the host and port in connectionString/s);
    expect(String((err as Error).message)).not.toContain(SECRET);
    await s.close();
  });

  it.runIf(hasDatabase)("a database that does not exist", async () => {
    const u = new URL(url);
    u.password = SECRET;
    u.pathname = "/no_such_database_mm";
    const s = postgresDirectoryStore({ connectionString: u.toString() });
    const err = await s.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isMarketplaceError(err, "STORE_ERROR"), String(err)).toBe(true);
    expect(String((err as Error).message)).toMatch(/check the database name in connectionString/);
    expect(String((err as Error).message)).not.toContain(SECRET);
    await s.close();
  });

  it("a connection string that is not a postgres URL fails at construction, naming the setting", () => {
    for (const bad of ["http://db:5432/app", "not a url", `postgres://app:${SECRET}@[::1/app`])
      expect(() => postgresStore({ connectionString: bad })).toThrow(/connectionString/);
  });

  it.runIf(hasDatabase)("a role that does not exist", async () => {
    const u = new URL(url);
    u.username = "no_such_role_mm";
    u.password = SECRET;
    const s = postgresStore({ connectionString: u.toString() });
    await expect(s.ready()).rejects.toSatisfy(
      (e) =>
        isMarketplaceError(e, "STORE_ERROR") &&
        /check the user and password in connectionString/.test(String(e)) &&
        !String(e).includes(SECRET),
    );
    await s.close();
  });
});
