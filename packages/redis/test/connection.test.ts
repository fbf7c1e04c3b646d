import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { isMarketplaceError } from "@marketmeter/core";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { evictionPolicy } from "../src/connection.js";
import { redisDirectoryStore, redisStore } from "../src/index.js";
import { hasRedis, url } from "./helpers.js";

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

/** A minimal RESP server whose INFO reports `policy`, like a Redis configured to evict keys. */
function respServer(policy: string, sockets: Set<Socket>) {
  return listen((sock) => {
    sockets.add(sock);
    let buf = "";
    sock.on("error", () => {});
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      // Commands arrive as RESP arrays of bulk strings; answer each complete one.
      for (;;) {
        const m = /^\*(\d+)\r\n/.exec(buf);
        if (!m) return;
        let at = m[0].length;
        const args: string[] = [];
        for (let i = 0; i < Number(m[1]); i++) {
          const l = /^\$(\d+)\r\n/.exec(buf.slice(at));
          if (!l || buf.length < at + l[0].length + Number(l[1]) + 2) return;
          args.push(buf.slice(at + l[0].length, at + l[0].length + Number(l[1])));
          at += l[0].length + Number(l[1]) + 2;
        }
        buf = buf.slice(at);
        if (args[0]?.toUpperCase() === "INFO") {
          const body = `# Memory\r\nmaxmemory_policy:${policy}\r\nloading:0\r\n`;
          sock.write(`$${body.length}\r\n${body}\r\n`);
        } else sock.write("+OK\r\n");
      }
    });
  });
}

describe("options", () => {
  it("validates options with coded errors", () => {
    const client = new Redis({ lazyConnect: true });
    const bad: Array<[unknown, RegExp]> = [
      [{}, /needs client or url/],
      [{ url, client }, /client or url, not both/],
      [{ url: "http://localhost:6379" }, /redis:\/\/ or rediss:\/\//],
      [{ url: "redis://localhost:6379/zero" }, /database number/],
      [{ url: "not a url" }, /not a valid URL/],
      [{ url: "redis://%:secret@localhost:6379" }, /malformed percent-escape in the user name/],
      [{ url: "redis://default:s%zzcret@localhost:6379" }, /malformed percent-escape in the password/],
      [{ url, keyPrefix: "{billing}" }, /keyPrefix/],
      [{ url: "redis://localhost:6379/3", cluster: true }, /only database 0/],
      [{ url, cluster: "yes" }, /cluster must be a boolean/],
      [{ client, cluster: true }, /pass your ioredis Cluster itself/],
      [{ url, keyPrefix: "" }, /keyPrefix/],
      [{ url, nope: 1 }, /unknown option "nope"/],
      [{ url, connectTimeoutMs: 0 }, /connectTimeoutMs/],
      [{ url, commandTimeoutMs: 1.5 }, /commandTimeoutMs/],
      [{ url, retainSettledMs: -1 }, /retainSettledMs/],
      [{ url, evictionCheck: "ignore" }, /evictionCheck/],
      [{ url, onWarning: "log" }, /onWarning/],
      [{ client: { get: () => 1 } }, /ioredis Redis or Cluster/],
      [{ client, connectTimeoutMs: 5 }, /set them on your client/],
      [null, /must be an object/],
    ];
    for (const [options, message] of bad) {
      let caught: unknown;
      try {
        redisStore(options as never);
      } catch (e) {
        caught = e;
      }
      expect(isMarketplaceError(caught, "INVALID_CONFIG"), `${String(caught)} for ${message}`).toBe(true);
      expect(String(caught)).toMatch(message);
    }
    expect(() => redisDirectoryStore({ url, maxSeenEvents: 0 })).toThrow(/maxSeenEvents/);
    client.disconnect();
  });

  it("property: any URL is accepted or refused with INVALID_CONFIG, never echoing the password", () => {
    const input = fc.record({
      scheme: fc.constantFrom("redis", "rediss", "postgres", "http", ""),
      sep: fc.constantFrom("://", ":/", "", "//"),
      // Percent signs often: a malformed escape once crashed ioredis's parser with a bare URIError.
      user: fc.oneof(fc.string({ maxLength: 12 }), fc.stringMatching(/^[%0-9a-fA-Fz]{0,6}$/)),
      password: fc.stringMatching(/^[A-Za-z0-9]{10,16}$/),
      rest: fc.string({ maxLength: 20 }),
    });
    fc.assert(
      fc.property(input, ({ scheme, sep, user, password, rest }) => {
        const s = `${scheme}${sep}${user}:${password}@${rest}`;
        let store: ReturnType<typeof redisStore> | undefined;
        try {
          store = redisStore({ url: s });
        } catch (e) {
          expect(isMarketplaceError(e, "INVALID_CONFIG"), String(e)).toBe(true);
          expect((e as Error).message).not.toContain(password);
          return;
        }
        expect(s).toMatch(/^rediss?:/);
        void store.close();
      }),
    );
  });

  it("property: key prefixes are accepted exactly when they are plain names without braces", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 70 }), fc.stringMatching(/^[a-z{}:]{0,8}$/)),
        (keyPrefix) => {
          const ok = /^[A-Za-z0-9._:-]{1,64}$/.test(keyPrefix);
          const client = new Redis({ lazyConnect: true });
          const make = () => redisStore({ client, keyPrefix });
          if (ok) expect(make).not.toThrow();
          else expect(make).toThrow(/keyPrefix/);
          client.disconnect();
        },
      ),
    );
  });
});

describe("the eviction check reads INFO", () => {
  it("property: the policy is read from its own line wherever it is, and only from there", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z-]{1,20}$/),
        fc.array(fc.stringMatching(/^[a-z_]{1,12}:[a-z0-9]{0,8}$/), { maxLength: 6 }),
        fc.nat(6),
        (policy, lines, at) => {
          const others = lines.filter((l) => !l.startsWith("maxmemory_policy:"));
          const info = [...others.slice(0, at), `maxmemory_policy:${policy}`, ...others.slice(at)].join(
            "\r\n",
          );
          expect(evictionPolicy(`# Memory\r\n${info}\r\n`)).toBe(policy);
          expect(evictionPolicy(others.join("\r\n"))).toBeUndefined();
        },
      ),
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
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  it("nothing listening on the port", async () => {
    const port = await closedPort();
    const s = redisStore({ url: `redis://:${SECRET}@127.0.0.1:${port}/0`, connectTimeoutMs: 500 });
    const err = await failure(s.ready());
    expect(isMarketplaceError(err, "STORE_ERROR"), String(err)).toBe(true);
    const msg = String((err as Error).message);
    expect(msg).toMatch(/check the host and port in url \(127\.0\.0\.1:\d+\/0\)/);
    expect(msg).not.toContain(SECRET);
    // A later call tries again (and fails the same way) instead of hanging on the first failure.
    await expect(s.add([], { now: 0, openFrom: 0, carryTo: 0 })).rejects.toThrow(/check the host and port/);
    await s.close();
  });

  it("a server that never answers: the timeouts end the wait", async () => {
    const { server, port } = await listen((sock) => {
      sockets.add(sock);
    });
    servers.push(server);
    const s = redisDirectoryStore({
      url: `redis://:${SECRET}@127.0.0.1:${port}/0`,
      connectTimeoutMs: 200,
      commandTimeoutMs: 200,
    });
    const err = await failure(s.ready());
    expect(isMarketplaceError(err, "STORE_ERROR"), String(err)).toBe(true);
    expect(String((err as Error).message)).toMatch(/check the host and port in url/);
    expect(String((err as Error).message)).not.toContain(SECRET);
    await s.close();
  });

  it("a server that may evict keys is refused (or warned about, when asked)", async () => {
    const { server, port } = await respServer("allkeys-lru", sockets);
    servers.push(server);
    const refused = redisStore({ url: `redis://127.0.0.1:${port}/0` });
    const err = await failure(refused.ready());
    expect(isMarketplaceError(err, "STORE_ERROR"), String(err)).toBe(true);
    expect(String(err)).toMatch(/maxmemory-policy is "allkeys-lru".*noeviction/);
    await refused.close();
    const warnings: string[] = [];
    const warned = redisStore({
      url: `redis://127.0.0.1:${port}/0`,
      evictionCheck: "warn",
      onWarning: (m) => warnings.push(m),
    });
    await warned.ready();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/allkeys-lru/);
    await warned.close();
  });

  it.runIf(hasRedis)("a user that does not exist", async () => {
    const u = new URL(url);
    u.username = "no_such_user_mm";
    u.password = SECRET;
    const s = redisStore({ url: u.toString() });
    await expect(s.ready()).rejects.toSatisfy(
      (e) =>
        isMarketplaceError(e, "STORE_ERROR") &&
        /check the user and password in url/.test(String(e)) &&
        !String(e).includes(SECRET),
    );
    await s.close();
  });

  it.runIf(hasRedis)("a database number the server does not have", async () => {
    const u = new URL(url);
    u.pathname = "/99999";
    const s = redisStore({ url: u.toString() });
    await expect(s.ready()).rejects.toThrow(/check the database number in url/);
    await s.close();
  });

  it.runIf(hasRedis)("the right settings pass the start-up check", async () => {
    const s = redisStore({ url });
    await expect(s.ready()).resolves.toBeUndefined();
    await s.close();
  });
});
