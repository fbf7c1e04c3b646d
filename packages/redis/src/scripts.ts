/**
 * The Lua scripts. Each multi-key step is one script, and every key it touches starts with the store's
 * hash tag, so it runs atomically on one Cluster shard. KEYS[1] is always a key of the store (it routes
 * the call in a Cluster); the others are derived from ARGV[1], the `{prefix}:` base.
 *
 * KEYS[2] is the store's absent key, `{prefix}:absent`, a key that never exists. It keeps every script off a
 * slot that is being moved between Cluster masters (a reshard): the scripts read keys they do not declare,
 * and halfway through a move some of those are on each master, so a script there would see half the
 * store. Redis answers a command that names a missing key of a migrating slot with ASK, and the importing
 * master answers a command naming several keys of which some are missing with TRYAGAIN, so with that key
 * declared no script runs until the move is over: the call fails (after ioredis's retries), nothing is
 * written, and the caller retries later as after any store error. Outside a move it costs nothing.
 *
 * Numbers never go through Lua's number formatting on the way to Redis (it keeps only 14 digits): values
 * come in as strings from JavaScript, counters use HINCRBY.
 *
 * Grain hash fields: id identityKey, dim, hour, q quantity, al allocations (JSON), st state, at attempts,
 * na nextAttemptAt, lo leaseOwner, lu leaseUntil, lt leaseToken, un uncertain (0/1), mr meteringRecordId,
 * rs reason, le lastError, ca createdAt, ua updatedAt, cl closedAt, sa settledAt, v version (bumped by
 * every write: the compare-and-set check of `put`).
 * Indexes (sorted sets, score = hour, so members sort by hour then key): i:all, i:<state>, i:due
 * (closed + retrying, what claims scan); i:leased, i:backoff (score = when claimable again: parked out
 * of i:due); i:settled (score = when a terminal grain may be dropped).
 */
import type { Redis } from "ioredis";

const STATES = `local STATES = {'pending','closed','retrying','sent','rejected','expired','uncertain'}`;

// Drops terminal grains whose retention ran out (caller's clock), from the hash and every index.
const PRUNE = `
local function prune(base, now)
  local gone = redis.call('ZRANGEBYSCORE', base .. 'i:settled', '-inf', '(' .. now, 'LIMIT', 0, 500)
  for _, m in ipairs(gone) do
    redis.call('DEL', base .. 'g:' .. m)
    redis.call('ZREM', base .. 'i:all', m)
    redis.call('ZREM', base .. 'i:settled', m)
    for _, s in ipairs(STATES) do redis.call('ZREM', base .. 'i:' .. s, m) end
    redis.call('ZREM', base .. 'i:leased', m)
    redis.call('ZREM', base .. 'i:backoff', m)
  end
end`;

/**
 * put: compare-and-set of grains computed in JavaScript with the core's rules.
 * ARGV: base, writeId, payload, markerTtlMs, ckInstance ('' = none), ckSeq, ckTtlMs, retentionMs,
 *       expireMs, nChecks, (key, version ('' = absent))*, nWrites, (key, hour, state, dropAt ('' = keep),
 *       nFields, field, value, …)*
 * Returns {'ok'} | {'replay', payload} | {'duplicate'} | {'conflict'}.
 */
const PUT = `
${STATES}
local base = ARGV[1]
local marker = base .. 'w:' .. ARGV[2]
local seen = redis.call('GET', marker)
-- A resend of a write that was applied (reply lost on a dropped connection) answers as before.
if seen then return {'replay', seen} end
local ck = nil
if ARGV[5] ~= '' then
  ck = base .. 'ck:' .. ARGV[5]
  local last = redis.call('GET', ck)
  if last and tonumber(last) >= tonumber(ARGV[6]) then return {'duplicate'} end
end
local i = 10
local nChecks = tonumber(ARGV[i])
for c = 1, nChecks do
  local v = redis.call('HGET', base .. 'g:' .. ARGV[i + 1], 'v')
  if (v or '') ~= ARGV[i + 2] then return {'conflict'} end
  i = i + 2
end
i = i + 1
local nWrites = tonumber(ARGV[i])
for w = 1, nWrites do
  local m, hour, st, dropAt, nf = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5])
  local k = base .. 'g:' .. m
  local old = redis.call('HMGET', k, 'st', 'v')
  redis.call('DEL', k)
  redis.call('HSET', k, unpack(ARGV, i + 6, i + 5 + nf * 2))
  redis.call('HSET', k, 'v', (tonumber(old[2]) or 0) + 1)
  if old[1] and old[1] ~= st then redis.call('ZREM', base .. 'i:' .. old[1], m) end
  redis.call('ZADD', base .. 'i:' .. st, hour, m)
  redis.call('ZADD', base .. 'i:all', hour, m)
  -- Any write ends a lease or a backoff park; a due grain goes back where claims look first.
  redis.call('ZREM', base .. 'i:leased', m)
  redis.call('ZREM', base .. 'i:backoff', m)
  if st == 'closed' or st == 'retrying' then
    redis.call('ZADD', base .. 'i:due', hour, m)
  else
    redis.call('ZREM', base .. 'i:due', m)
  end
  if dropAt ~= '' then
    redis.call('ZADD', base .. 'i:settled', dropAt, m)
    -- A safety net for a store nobody prunes any more; pruning normally removes it first.
    redis.call('PEXPIRE', k, ARGV[9])
  end
  i = i + 5 + nf * 2
end
if ck then redis.call('SET', ck, ARGV[6], 'PX', ARGV[7]) end
redis.call('SET', marker, ARGV[3], 'PX', ARGV[4])
return {'ok'}
`;

/**
 * close: freezes pending grains of hours before ARGV[2] (optionally one identity), then prunes.
 * ARGV: base, hourBefore, identityKey ('' = all), now
 */
const CLOSE = `
${STATES}
${PRUNE}
local base, now = ARGV[1], ARGV[4]
local members = redis.call('ZRANGEBYSCORE', base .. 'i:pending', '-inf', '(' .. ARGV[2], 'WITHSCORES')
local n = 0
for j = 1, #members, 2 do
  local m, hour = members[j], members[j + 1]
  local k = base .. 'g:' .. m
  if ARGV[3] == '' or redis.call('HGET', k, 'id') == ARGV[3] then
    redis.call('HSET', k, 'st', 'closed', 'cl', now, 'na', now, 'ua', now)
    redis.call('HINCRBY', k, 'v', 1)
    redis.call('ZREM', base .. 'i:pending', m)
    redis.call('ZADD', base .. 'i:closed', hour, m)
    redis.call('ZADD', base .. 'i:due', hour, m)
    n = n + 1
  end
end
prune(base, now)
return n
`;

/**
 * claim: leases due grains, oldest hour first (isClaimable + applyClaim of the core, field by field).
 * Grains that cannot be claimed before a known time (leased, or retrying later) are parked in i:leased or
 * i:backoff, scored by that time, so claims do not scan them again and again; they come back to i:due
 * (in hour order) at the first claim after that time.
 * ARGV: base, owner, now, leaseUntil, limit, identityKey ('' = any), ignoreBackoff ('1'/'0')
 * Returns the claimed grains as HGETALL arrays.
 */
const CLAIM = `
local base, owner, now, leaseUntil = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local limit, who, ignore = tonumber(ARGV[5]), ARGV[6], ARGV[7] == '1'
local due, leased, backoff = base .. 'i:due', base .. 'i:leased', base .. 'i:backoff'
local function unpark(set, upTo)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', set, '-inf', upTo)) do
    redis.call('ZREM', set, m)
    local hour = redis.call('HGET', base .. 'g:' .. m, 'hour')
    if hour then redis.call('ZADD', due, hour, m) end
  end
end
local function park(set, at, m)
  redis.call('ZREM', due, m)
  redis.call('ZADD', set, at, m)
end
unpark(leased, ARGV[3])
unpark(backoff, ignore and '+inf' or ARGV[3])
local out = {}
-- Members examined and left in i:due (another buyer's, with an identity filter) precede the rest.
local kept = 0
while #out < limit do
  local members = redis.call('ZRANGE', due, kept, kept + 199)
  if #members == 0 then break end
  for _, m in ipairs(members) do
    local k = base .. 'g:' .. m
    local f = redis.call('HMGET', k, 'st', 'id', 'lu', 'na', 'lo', 'un')
    if f[1] ~= 'closed' and f[1] ~= 'retrying' then
      redis.call('ZREM', due, m)
    elseif f[3] and tonumber(f[3]) > now then
      park(leased, f[3], m)
    elseif not ignore and f[4] and tonumber(f[4]) > now then
      park(backoff, f[4], m)
    elseif who ~= '' and f[2] ~= who then
      kept = kept + 1
    else
      -- A lease that ran out without a settle or release: its holder may have sent the record.
      local un = '0'
      if f[6] == '1' or f[5] then un = '1' end
      redis.call('HSET', k, 'lo', owner, 'lu', leaseUntil, 'un', un, 'ua', ARGV[3])
      redis.call('HINCRBY', k, 'lt', 1)
      redis.call('HINCRBY', k, 'v', 1)
      park(leased, leaseUntil, m)
      out[#out + 1] = redis.call('HGETALL', k)
      if #out >= limit then break end
    end
  end
end
return out
`;

/**
 * token: one send token from a bucket shared by every instance, timed by the Redis server's clock.
 * KEYS[1] bucket. ARGV: ratePerSecond, burst. Returns 0 when a token was taken, else ms to wait.
 */
const TOKEN = `
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local h = redis.call('HMGET', KEYS[1], 'tokens', 's', 'us')
local tokens = burst
if h[1] then
  -- Elapsed microseconds from the two TIME parts (a single number would lose precision in storage).
  local elapsed = (tonumber(t[1]) - tonumber(h[2])) * 1000000 + (tonumber(t[2]) - tonumber(h[3]))
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(burst, tonumber(h[1]) + elapsed * rate / 1000000)
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
  if wait < 1 then wait = 1 end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 's', t[1], 'us', t[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 60000)
return wait
`;

// Removes a registration with its token-hash mapping and expiry entry.
const DROP_REG = `
local function drop(base, rid)
  local h = redis.call('HGET', base .. 'd:rh', rid)
  if h and redis.call('HGET', base .. 'd:rt', h) == rid then redis.call('HDEL', base .. 'd:rt', h) end
  redis.call('HDEL', base .. 'd:r', rid)
  redis.call('HDEL', base .. 'd:rh', rid)
  redis.call('ZREM', base .. 'd:rx', rid)
end`;

/**
 * regSave: saves a registration; another one with the same token hash is replaced.
 * ARGV: base, id, tokenHash, expiresAt, json
 */
const REG_SAVE = `
${DROP_REG}
local base, id, th = ARGV[1], ARGV[2], ARGV[3]
local other = redis.call('HGET', base .. 'd:rt', th)
if other and other ~= id then drop(base, other) end
drop(base, id)
redis.call('HSET', base .. 'd:r', id, ARGV[5])
redis.call('HSET', base .. 'd:rh', id, th)
redis.call('HSET', base .. 'd:rt', th, id)
redis.call('ZADD', base .. 'd:rx', ARGV[4], id)
return 1
`;

/** regCas: replaces a registration's JSON when it is still `expected`. ARGV: base, id, expected, json */
const REG_CAS = `
local base = ARGV[1]
if redis.call('HGET', base .. 'd:r', ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HSET', base .. 'd:r', ARGV[2], ARGV[4])
return 1
`;

/** regExpire: removes registrations with expiresAt <= now. ARGV: base, now */
const REG_EXPIRE = `
${DROP_REG}
local base = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', base .. 'd:rx', '-inf', ARGV[2])
for _, id in ipairs(ids) do drop(base, id) end
return #ids
`;

/** seen: adds a notification id to the bounded seen-set. ARGV: base, id, max. Returns 1 if new. */
const SEEN = `
local base = ARGV[1]
if redis.call('ZSCORE', base .. 'd:s', ARGV[2]) then return 0 end
local n = redis.call('INCR', base .. 'd:sn')
redis.call('ZADD', base .. 'd:s', n, ARGV[2])
local over = redis.call('ZCARD', base .. 'd:s') - tonumber(ARGV[3])
if over > 0 then redis.call('ZREMRANGEBYRANK', base .. 'd:s', 0, over - 1) end
return 1
`;

/**
 * customerSave: stores a customer record, compare-and-set on its version when one is given (a missing
 * record or one without a version counts as 0), and logs the change for customersChangedSince: d:cn
 * counts changes, d:cc holds each record id scored by its last change.
 * ARGV: base, id, version ('' = unconditional), json. Returns 1 when stored, 0 when refused.
 */
const CUSTOMER_SAVE = `
local base, id, version = ARGV[1], ARGV[2], ARGV[3]
if version ~= '' then
  local raw = redis.call('HGET', base .. 'd:c', id)
  local stored = 0
  if raw then stored = tonumber(cjson.decode(raw).version) or 0 end
  if stored ~= tonumber(version) - 1 then return 0 end
end
redis.call('HSET', base .. 'd:c', id, ARGV[4])
local n = redis.call('INCR', base .. 'd:cn')
redis.call('ZADD', base .. 'd:cc', n, id)
return 1
`;

/** customerDelete: removes a customer record and its change entry. ARGV: base, id */
const CUSTOMER_DELETE = `
redis.call('HDEL', ARGV[1] .. 'd:c', ARGV[2])
redis.call('ZREM', ARGV[1] .. 'd:cc', ARGV[2])
return 1
`;

/**
 * customersChanged: the records changed after a change number, with the last change number, read at one
 * point in time. ARGV: base, since ('' = none: only the current change number).
 * Returns {cursor, json, json, …}.
 */
const CUSTOMERS_CHANGED = `
local base = ARGV[1]
local out = {redis.call('GET', base .. 'd:cn') or '0'}
if ARGV[2] == '' then return out end
local ids = redis.call('ZRANGEBYSCORE', base .. 'd:cc', '(' .. ARGV[2], '+inf')
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', base .. 'd:c', id)
  if raw then out[#out + 1] = raw end
end
return out
`;

/** The client with the store's commands (EVALSHA, falling back to EVAL after a NOSCRIPT). */
export interface ScriptedRedis {
  mmPut(key: string, ...args: string[]): Promise<string[]>;
  mmClose(key: string, ...args: string[]): Promise<number>;
  mmClaim(key: string, ...args: string[]): Promise<string[][]>;
  mmToken(key: string, ...args: string[]): Promise<number>;
  mmRegSave(key: string, ...args: string[]): Promise<number>;
  mmRegCas(key: string, ...args: string[]): Promise<number>;
  mmRegExpire(key: string, ...args: string[]): Promise<number>;
  mmSeen(key: string, ...args: string[]): Promise<number>;
  mmCustomerSave(key: string, ...args: string[]): Promise<number>;
  mmCustomerDelete(key: string, ...args: string[]): Promise<number>;
  mmCustomersChanged(key: string, ...args: string[]): Promise<string[]>;
}

const COMMANDS: Record<keyof ScriptedRedis, string> = {
  mmPut: PUT,
  mmClose: CLOSE,
  mmClaim: CLAIM,
  mmToken: TOKEN,
  mmRegSave: REG_SAVE,
  mmRegCas: REG_CAS,
  mmRegExpire: REG_EXPIRE,
  mmSeen: SEEN,
  mmCustomerSave: CUSTOMER_SAVE,
  mmCustomerDelete: CUSTOMER_DELETE,
  mmCustomersChanged: CUSTOMERS_CHANGED,
};

type TwoKeys = (key: string, absent: string, ...args: string[]) => Promise<unknown>;

/** The absent key of the store a key belongs to: `{prefix}:absent` (see the top of this file). */
export function absentKeyOf(key: string): string {
  const end = key.indexOf("}:");
  if (!key.startsWith("{") || end < 0) throw new Error(`not a store key: ${key}`);
  return `${key.slice(0, end + 2)}absent`;
}

/**
 * Defines the scripts on a client once (defineCommand is per client; a shared app client is reused) and
 * returns the store's commands, each passing the store's absent key as KEYS[2].
 */
export function scripted(redis: Pick<Redis, "defineCommand">): ScriptedRedis {
  const r = redis as unknown as Record<string, TwoKeys | undefined> & Pick<Redis, "defineCommand">;
  const out: Record<string, (key: string, ...args: string[]) => Promise<unknown>> = {};
  for (const [name, lua] of Object.entries(COMMANDS)) {
    // Named apart from the one-key commands of earlier versions, which an app's shared client may hold.
    const defined = `${name}2`;
    if (typeof r[defined] !== "function") r.defineCommand(defined, { numberOfKeys: 2, lua });
    out[name] = (key, ...args) => (r[defined] as TwoKeys)(key, absentKeyOf(key), ...args);
  }
  return out as unknown as ScriptedRedis;
}
