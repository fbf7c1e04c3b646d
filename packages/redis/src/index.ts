// Public API of @marketmeter/redis.

export type { RedisClientLike, RedisConnectionOptions } from "./connection.js";
export type { RedisDirectoryStore, RedisDirectoryStoreOptions } from "./directory.js";
export { redisDirectoryStore } from "./directory.js";
export type {
  CheckpointMark,
  RedisAddContext,
  RedisAddResult,
  RedisStore,
  RedisStoreOptions,
  SendTokenOptions,
} from "./store.js";
export { redisStore } from "./store.js";
