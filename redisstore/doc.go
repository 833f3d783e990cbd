// Package redisstore keeps fanfare's shared state in Redis, for a drop
// served by several instances behind a load balancer: the rate limiter of
// the authorize endpoint ([Limiter]), the single-use store of admissions and
// the outbox of completions owed to Fanfare ([Store]). Every instance points
// at the same Redis — single node, Sentinel or Cluster, through any go-redis
// v9 client — and together they enforce what one instance would alone: at
// most N authorize calls per key in any rolling window, one checkout per
// admission, every completion delivered.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	store, err := redisstore.NewStore(rdb, redisstore.StoreOptions{})
//	// RequireAdmission(…, AdmissionOptions{Store: store, …})
//	limiter, err := redisstore.NewLimiter(rdb, redisstore.LimiterOptions{})
//	// RateLimitAuthorize(RateLimitOptions{Limiter: limiter})
//
// Every operation is one Lua script: one round trip, atomic, on Redis's own
// clock, and safe to send twice (go-redis retries a command whose reply was
// lost). Scripts run by EVALSHA and fall back to EVAL when Redis has
// forgotten them (after a restart or a failover).
//
// # Redis settings
//
// Redis 5 or later (scripts replicate their effects, so TIME may decide
// what they write); tested with Redis 7.0. Any go-redis v9 client works:
// redis.NewClient, redis.NewFailoverClient (Sentinel),
// redis.NewClusterClient, redis.NewUniversalClient.
//
// Run Redis with appendonly yes (appendfsync everysec loses at most a second
// of used marks and completions on a crash; always loses none) and
// maxmemory-policy noeviction: an evicted used mark would let an admission
// check out twice, an evicted completion would never reach Fanfare. With
// noeviction a full Redis refuses writes, and the middleware answers 503.
//
// # When Redis is slow or down
//
// Every call carries a deadline (StoreOptions.Timeout and
// LimiterOptions.Timeout, 1s by default). go-redis honours it while reading
// a reply only if the client sets ContextTimeoutEnabled: true; without it a
// read lasts the client's ReadTimeout (3s by default), retried MaxRetries
// times (3 by default). Set ContextTimeoutEnabled. A failed call is an
// error, never a success: RequireAdmission answers 503 and no admission is
// used twice; RateLimitAuthorize answers 503 unless told to fail open.
// Pending completions stay in Redis and are delivered once it is back.
//
// # Cluster
//
// A Store's keys all carry the hash tag {Prefix}, so they live in one slot:
// MarkUsed marks an admission used and records its completion atomically,
// and Claim takes the earliest due completions in one round trip (see
// [Store] for why one slot is enough). A Limiter's keys carry no common tag
// and spread over the Cluster.
//
// # Watching the outbox
//
// [Store.Stats] counts the pending completions and tells the Since of the
// oldest; export both as metrics and alert when the oldest grows older than
// a few minutes (Fanfare refusing or unreachable). In redis-cli:
// ZCARD {fanfare}:due counts them, and ZRANGE {fanfare}:due 0 -1 WITHSCORES
// lists them with their next attempt (unix milliseconds).
package redisstore
