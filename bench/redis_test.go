package bench

// B4 of shared/BENCHMARKS.md: one limiter decision against a real
// redis-server on a unix socket — fanfare's redisstore.Limiter beside
// go-redis/redis_rate (GCRA) and ulule/limiter's Redis store (fixed
// window) — and the single-use store's acquire and release. Each row
// reports the Redis commands it sent per call (INFO commandstats before and
// after: 1 is one round trip) and, for the limiters, how many requests one
// rolling window admitted beyond the limit when requests arrive steadily at
// ten times the rate (0 for an exact limiter).

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	ulule "github.com/ulule/limiter/v3"
	ulredis "github.com/ulule/limiter/v3/drivers/store/redis"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/redisstore"
)

// startRedis starts a redis-server on a unix socket under a short temporary
// directory and returns a client; both go when b ends. It skips b when
// redis-server is not installed.
func startRedis(b *testing.B) *redis.Client {
	b.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		b.Skip("redis-server not found in PATH: install it to run B4")
	}
	dir, err := os.MkdirTemp("/tmp", "rb-")
	if err != nil {
		b.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	})
	client := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, PoolSize: 64})
	client.AddHook(&roundTrips)
	b.Cleanup(func() { _ = client.Close() })
	for deadline := time.Now().Add(10 * time.Second); client.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			b.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return client
}

// roundTripHook counts what a client sends: each command or pipeline is
// one round trip.
type roundTripHook struct{ n atomic.Int64 }

var roundTrips roundTripHook

func (h *roundTripHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTripHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTripHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// commandStats sums, over every command in INFO commandstats but INFO and
// CONFIG themselves, the calls and the microseconds Redis spent in the
// commands clients sent (EVALSHA's time includes its script's commands).
func commandStats(b *testing.B, client *redis.Client) (calls int64, usec float64) {
	b.Helper()
	stats, err := client.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(stats))
	for sc.Scan() {
		name, rest, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "cmdstat_"), ":")
		if !ok || name == "info" || strings.HasPrefix(name, "config") {
			continue
		}
		for _, field := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(field, "=")
			switch {
			case k == "calls":
				c, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				calls += c
			case k == "usec" && strings.HasPrefix(name, "eval"):
				u, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				usec += u
			}
		}
	}
	return calls, usec
}

// reportRedis reports round trips, commands Redis ran and Redis's time
// (µs) per call since the counts before.
func reportRedis(b *testing.B, client *redis.Client, calls int, tripsBefore, cmdsBefore int64, usecBefore float64) {
	b.Helper()
	trips := roundTrips.n.Load()
	cmds, usec := commandStats(b, client)
	b.ReportMetric(float64(trips-tripsBefore)/float64(calls), "round-trips/call")
	b.ReportMetric(float64(cmds-cmdsBefore)/float64(calls), "redis-cmds/call")
	b.ReportMetric((usec-usecBefore)/float64(calls), "redis-µs/call")
}

// b4Limiter is one library's decision: true when allowed.
type b4Limiter func(ctx context.Context, key string) (bool, error)

type b4Library struct {
	name string
	// build returns a limiter of requests per window with a fresh prefix.
	build func(b *testing.B, client *redis.Client, requests int, window time.Duration) b4Limiter
}

var b4Prefixes atomic.Int64

func b4Prefix(lib string) string { return fmt.Sprintf("b4:%s:%d", lib, b4Prefixes.Add(1)) }

var b4Libraries = []b4Library{
	{"fanfare", func(b *testing.B, client *redis.Client, requests int, window time.Duration) b4Limiter {
		l, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{
			Limit:  fanfare.Limit{Requests: requests, Window: window},
			Prefix: b4Prefix("fanfare"),
		})
		if err != nil {
			b.Fatal(err)
		}
		return func(ctx context.Context, key string) (bool, error) {
			d, err := l.Allow(ctx, key)
			return d.Allowed, err
		}
	}},
	{"redis_rate", func(b *testing.B, client *redis.Client, requests int, window time.Duration) b4Limiter {
		// redis_rate keys carry no prefix of their own: prefix the key.
		l, prefix := redis_rate.NewLimiter(client), b4Prefix("redis_rate")+":"
		limit := redis_rate.Limit{Rate: requests, Burst: requests, Period: window}
		return func(ctx context.Context, key string) (bool, error) {
			r, err := l.Allow(ctx, prefix+key, limit)
			if err != nil {
				return false, err
			}
			return r.Allowed > 0, nil
		}
	}},
	{"ulule", func(b *testing.B, client *redis.Client, requests int, window time.Duration) b4Limiter {
		store, err := ulredis.NewStoreWithOptions(client, ulule.StoreOptions{Prefix: b4Prefix("ulule")})
		if err != nil {
			b.Fatal(err)
		}
		l := ulule.New(store, ulule.Rate{Period: window, Limit: int64(requests)})
		return func(ctx context.Context, key string) (bool, error) {
			c, err := l.Get(ctx, key)
			return err == nil && !c.Reached, err
		}
	}},
}

func BenchmarkB4(b *testing.B) {
	client := startRedis(b)
	ctx := context.Background()
	const nKeys = 1000
	keys := makeKeys(nKeys)
	for _, lib := range b4Libraries {
		b.Run("limiter/"+lib.name, func(b *testing.B) {
			// Out of reach in a run: every decision timed is an allow.
			allow := lib.build(b, client, 60000, time.Hour)
			over := b4OverLimit(b, lib, client)
			if err := client.ConfigResetStat(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			cmds, usec := commandStats(b, client)
			trips := roundTrips.n.Load()
			var denied, failed, next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ok, err := allow(ctx, keys[next.Add(1)%nKeys])
					switch {
					case err != nil:
						failed.Add(1)
					case !ok:
						denied.Add(1)
					}
				}
			})
			b.StopTimer()
			if failed.Load() > 0 || denied.Load() > 0 {
				b.Fatalf("%d errors and %d denials, want none", failed.Load(), denied.Load())
			}
			reportRedis(b, client, b.N, trips, cmds, usec)
			b.ReportMetric(float64(over), "over-limit")
		})
	}
	b.Run("store/fanfare-acquire-release", func(b *testing.B) {
		s, err := redisstore.NewStore(client, redisstore.StoreOptions{Prefix: b4Prefix("store")})
		if err != nil {
			b.Fatal(err)
		}
		if err := client.ConfigResetStat(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		cmds, usec := commandStats(b, client)
		trips := roundTrips.n.Load()
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1)
				key, owner := "queue:q_1:"+strconv.FormatInt(i, 10), strconv.FormatInt(i, 36)
				if err := s.Acquire(ctx, key, owner, time.Minute); err != nil {
					b.Errorf("Acquire: %v", err)
					return
				}
				if err := s.Release(ctx, key, owner); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		reportRedis(b, client, 2*b.N, trips, cmds, usec)
	})
}

// b4OverLimit runs two arrival patterns against a limit of 10 per window,
// each on its own key, and returns the most requests either let through
// within one rolling window, less the limit:
//   - steady: a request every window/100 for three windows, ten times the
//     rate (a bucket with a burst of 10 lets about 20 through a window);
//   - boundary: one request, then 20 just before the window it opened ends
//     and 20 just after (a fixed window lets about 19 through in 10ms).
//
// Times are taken by the client before each call, so windows are shortened
// by a margin for the trip to Redis. An exact limiter scores 0.
func b4OverLimit(b *testing.B, lib b4Library, client *redis.Client) int {
	b.Helper()
	const (
		requests = 10
		window   = 200 * time.Millisecond
		margin   = 2 * time.Millisecond
	)
	var steady, boundary []time.Duration
	for i := range 300 {
		steady = append(steady, time.Duration(i)*window/100)
	}
	boundary = append(boundary, 0)
	for range 2 * requests {
		boundary = append(boundary, window-5*time.Millisecond)
	}
	for range 2 * requests {
		boundary = append(boundary, window+5*time.Millisecond)
	}
	allow := lib.build(b, client, requests, window)
	ctx := context.Background()
	most := 0
	for p, offsets := range [][]time.Duration{steady, boundary} {
		key := fmt.Sprint("hot", p)
		var admitted []time.Time
		start := time.Now()
		for _, off := range offsets {
			time.Sleep(time.Until(start.Add(off)))
			at := time.Now()
			ok, err := allow(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				admitted = append(admitted, at)
			}
		}
		for i := range admitted {
			n := 0
			for j := i; j < len(admitted) && admitted[j].Sub(admitted[i]) < window-margin; j++ {
				n++
			}
			most = max(most, n)
		}
	}
	return most - requests
}
