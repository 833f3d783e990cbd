package bench

// B3 of shared/BENCHMARKS.md: one limiter decision for a key already known,
// in parallel, with 1, 10 000 and 1 000 000 distinct keys pre-filled for
// every library, and the whole RateLimitAuthorize middleware around a no-op
// handler beside the peers' middleware. Every decision timed must be an
// allow: each library gets limits no request in the run can reach, and a
// denial fails the benchmark.
//
// Every row also reports its library's "over-limit": how many requests over
// a limit of 10 per window the library admitted in one rolling window, under
// the probe of overLimit (see there).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/httprate"
	sethlimiter "github.com/sethvargo/go-limiter"
	"github.com/sethvargo/go-limiter/httplimit"
	"github.com/sethvargo/go-limiter/memorystore"
	ulule "github.com/ulule/limiter/v3"
	ululehttp "github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	ulmemory "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"

	fanfare "github.com/waitify-io/fanfare-go"
)

// peerWindow is long enough that no peer's window turns over during a run
// (httprate drops every key when it does), and peerLimit is out of reach.
const (
	peerWindow = 24 * time.Hour
	peerLimit  = 1 << 30
)

// fanfareLimit returns a limit no key reaches in a run while every key stays
// known. The memory limiter keeps a sliding log of Requests stamps per key
// (exactness costs memory in proportion to the limit, and a record larger
// than a few cache lines costs misses: 10 000 records of 128 stamps take
// 10MB, and a decision then waits on memory), so rather than an unreachable
// limit over a long window it gets one sized to the run. In real time, a key
// must be visited at most Requests times a window (else it is denied, which
// fails the run) and should be visited at least once a window (else it goes
// idle, is swept, and comes back as a new key):
//   - 1 key: 65535 per millisecond, beyond any rate this machine reaches;
//   - 10 000 keys, decisions alone: 32 per 10ms. At 13M decisions/s (this
//     machine's best) each key is visited 1300 times a second, 13 a
//     window; keys start to go idle below 1M decisions/s (a loaded machine);
//   - 10 000 keys, the whole middleware (mwLimit): 32 per 50ms: 12 visits a
//     window at 2.5M requests/s, idle below 200 000;
//   - 1 000 000 keys: near the realistic size, 16 per 2 minutes; the limiter is
//     filled afresh (outside the timer) before a run that could take a key
//     past 16 visits.
//
// Past the first window each decision drops one stamp and adds one: the
// steady state of a busy limiter.
func fanfareLimit(keys int) fanfare.Limit {
	switch {
	case keys <= 1:
		return fanfare.Limit{Requests: 65535, Window: time.Millisecond}
	case keys <= 10_000:
		return fanfare.Limit{Requests: 32, Window: 10 * time.Millisecond}
	default:
		return fanfare.Limit{Requests: 16, Window: 2 * time.Minute}
	}
}

var mwLimit = fanfare.Limit{Requests: 32, Window: 50 * time.Millisecond}

// decider is one library's decision for one key: true when allowed. Each
// goroutine gets its own worker.
type decider interface {
	worker() func(ctx context.Context, key string) bool
}

type fanfareDecider struct{ l fanfare.Limiter }

func (d fanfareDecider) worker() func(context.Context, string) bool { return d.allow }

func (d fanfareDecider) allow(ctx context.Context, key string) bool {
	dec, err := d.l.Allow(ctx, key)
	return err == nil && dec.Allowed
}

// httprate has no decision without a response: OnLimit writes its headers
// too, so each worker gets a writer whose header map is reused.
type httprateDecider struct{ l *httprate.RateLimiter }

func (d httprateDecider) worker() func(context.Context, string) bool {
	w := discardWriter{h: http.Header{}}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	return func(_ context.Context, key string) bool { return !d.l.OnLimit(w, r, key) }
}

type ululeDecider struct{ l *ulule.Limiter }

func (d ululeDecider) worker() func(context.Context, string) bool { return d.allow }

func (d ululeDecider) allow(ctx context.Context, key string) bool {
	c, err := d.l.Get(ctx, key)
	return err == nil && !c.Reached
}

type sethvargoDecider struct{ s sethlimiter.Store }

func (d sethvargoDecider) worker() func(context.Context, string) bool { return d.allow }

func (d sethvargoDecider) allow(ctx context.Context, key string) bool {
	_, _, _, ok, err := d.s.Take(ctx, key)
	return err == nil && ok
}

// xrateDecider is the common hand-rolled limiter: a mutex-guarded map of
// golang.org/x/time/rate token buckets.
type xrateDecider struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func (d *xrateDecider) worker() func(context.Context, string) bool { return d.allow }

func (d *xrateDecider) allow(_ context.Context, key string) bool {
	d.mu.Lock()
	l, ok := d.m[key]
	if !ok {
		l = rate.NewLimiter(rate.Limit(peerLimit), peerLimit)
		d.m[key] = l
	}
	d.mu.Unlock()
	return l.Allow()
}

type library struct {
	name string
	// build returns a fresh decider for n keys and a func releasing it.
	build func(tb testing.TB, n int) (decider, func())
}

var libraries = []library{
	{"fanfare", func(tb testing.TB, n int) (decider, func()) {
		l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Limit: fanfareLimit(n), MaxKeys: 2 * n})
		return fanfareDecider{l}, func() {}
	}},
	{"httprate", func(tb testing.TB, n int) (decider, func()) {
		return httprateDecider{httprate.NewRateLimiter(peerLimit, peerWindow)}, func() {}
	}},
	{"ulule", func(tb testing.TB, n int) (decider, func()) {
		l := ulule.New(ulmemory.NewStore(), ulule.Rate{Period: peerWindow, Limit: peerLimit})
		return ululeDecider{l}, func() {}
	}},
	{"sethvargo", func(tb testing.TB, n int) (decider, func()) {
		s, err := memorystore.New(&memorystore.Config{Tokens: peerLimit, Interval: peerWindow})
		if err != nil {
			tb.Fatal(err)
		}
		return sethvargoDecider{s}, func() { _ = s.Close(context.Background()) }
	}},
	{"xrate", func(tb testing.TB, n int) (decider, func()) {
		return &xrateDecider{m: make(map[string]*rate.Limiter)}, func() {}
	}},
}

var keyCounts = []int{1, 10_000, 1_000_000}

func makeKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "ip:10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
	}
	return keys
}

// visitOrder returns the keys in a fixed random order. Libraries are filled
// in key order, so their entries tend to sit in memory in that order; walking
// the keys in the same order would let the prefetcher hide the cache misses a
// server meets, whose clients come in no such order.
func visitOrder(keys []string) []string {
	order := slices.Clone(keys)
	rnd := rand.New(rand.NewPCG(3, 5))
	rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// The over-limit probe. Each library gets a limit of 10 per window and one
// fresh key, and this schedule of requests (offsets from a start b):
//
//   - one request at b+δ, which starts a window for libraries whose windows
//     start at a key's first request;
//   - bursts of 20 at W-δ and W+δ, and again at 2W-δ and 2W+δ, around the
//     boundaries of windows aligned to b (b is a multiple of W on the wall
//     clock, where httprate aligns its windows);
//   - from W+2δ to 3W, one request every W/40.
//
// where W is the window and δ = W/20. It counts the most requests admitted
// in any rolling window of W, minus 10: 0 for an exact limiter, up to about
// 10 for a fixed window (quiet, then a burst on either side of a boundary) or
// a token bucket (a full bucket, then the refill). Libraries that take a
// clock (fanfare's Clock, x/time/rate's AllowN) run 10 per minute on a
// simulated clock; the others (httprate, ulule, sethvargo read time.Now) run
// 10 per 200ms in real time, each request's time read as it returns.
const (
	probeLimit      = 10
	probeWindow     = time.Minute
	probeRealWindow = 200 * time.Millisecond
)

func probeSchedule(w time.Duration) []time.Duration {
	delta := w / 20
	at := []time.Duration{delta}
	burst := func(t time.Duration) {
		for range 2 * probeLimit {
			at = append(at, t)
		}
	}
	burst(w - delta)
	burst(w + delta)
	burst(2*w - delta)
	burst(2*w + delta)
	for t := w + 2*delta; t < 3*w; t += w / (4 * probeLimit) {
		at = append(at, t)
	}
	slices.Sort(at)
	return at
}

// probe runs the schedule through allow, which decides one request at
// offset t from the start and returns the offset it was decided at, and
// returns the admitted count over the limit.
func probe(w time.Duration, allow func(t time.Duration) (bool, time.Duration)) int {
	var admitted []time.Duration
	for _, t := range probeSchedule(w) {
		if ok, at := allow(t); ok {
			admitted = append(admitted, at)
		}
	}
	most := 0
	for i, j := 0, 0; j < len(admitted); j++ {
		for admitted[j]-admitted[i] >= w {
			i++
		}
		most = max(most, j-i+1)
	}
	return most - probeLimit
}

// probeStart is where simulated clocks start.
var probeStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// simulated runs the probe on a clock set to each request's time.
func simulated(allow func(now time.Time) bool) int {
	return probe(probeWindow, func(t time.Duration) (bool, time.Duration) {
		return allow(probeStart.Add(t)), t
	})
}

// realTime runs the probe in real time, from the next multiple of the
// window on the wall clock.
func realTime(allow func() bool) int {
	b := time.Now().Truncate(probeRealWindow).Add(probeRealWindow)
	return probe(probeRealWindow, func(t time.Duration) (bool, time.Duration) {
		time.Sleep(time.Until(b.Add(t)))
		ok := allow()
		return ok, time.Since(b)
	})
}

// overLimit is each library's probe result, run once per process.
var overLimit = map[string]func() int{
	"fanfare": sync.OnceValue(func() int {
		now := probeStart
		l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{
			Limit: fanfare.Limit{Requests: probeLimit, Window: probeWindow},
			Clock: func() time.Time { return now },
		})
		return simulated(func(t time.Time) bool {
			now = t
			d, err := l.Allow(context.Background(), "k")
			return err == nil && d.Allowed
		})
	}),
	"xrate": sync.OnceValue(func() int {
		l := rate.NewLimiter(rate.Every(probeWindow/probeLimit), probeLimit)
		return simulated(func(t time.Time) bool { return l.AllowN(t, 1) })
	}),
	"httprate": sync.OnceValue(func() int {
		l := httprate.NewRateLimiter(probeLimit, probeRealWindow)
		w := discardWriter{h: http.Header{}}
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		return realTime(func() bool { return !l.OnLimit(w, r, "k") })
	}),
	"ulule": sync.OnceValue(func() int {
		l := ulule.New(ulmemory.NewStore(), ulule.Rate{Period: probeRealWindow, Limit: probeLimit})
		return realTime(func() bool {
			c, err := l.Get(context.Background(), "k")
			return err == nil && !c.Reached
		})
	}),
	"sethvargo": sync.OnceValue(func() int {
		s, err := memorystore.New(&memorystore.Config{Tokens: probeLimit, Interval: probeRealWindow})
		if err != nil {
			panic(err)
		}
		defer func() { _ = s.Close(context.Background()) }()
		return realTime(func() bool {
			_, _, _, ok, err := s.Take(context.Background(), "k")
			return err == nil && ok
		})
	}),
}

// reportOverLimit adds the library's over-limit to the row.
func reportOverLimit(b *testing.B, lib string) {
	if f, ok := overLimit[lib]; ok {
		b.ReportMetric(float64(f()), "over-limit")
	}
}

func BenchmarkB3(b *testing.B) {
	for _, n := range keyCounts {
		keys := makeKeys(n)
		visits := visitOrder(keys)
		for _, lib := range libraries {
			var d decider
			var release func()
			var filled time.Time
			visited := 0 // the most visits of one key since the fill
			b.Run(fmt.Sprintf("keys=%d/%s", n, lib.name), func(b *testing.B) {
				ctx := context.Background()
				limit := fanfareLimit(n)
				// Filled once for every run of this benchmark (the framework
				// calls it again with a growing b.N), and touched again when
				// fanfare's short window might have let keys go idle. Under
				// a long window, filled afresh before a run could take a key
				// past its limit.
				if d != nil && limit.Window >= time.Minute && visited+b.N/n+3 > limit.Requests {
					release()
					d = nil
				}
				if d == nil {
					d, release = lib.build(b, n)
					filled, visited = time.Time{}, 0
				}
				visited += b.N/n + 2
				fill := func() {
					visited++
					allow := d.worker()
					for _, k := range keys {
						if !allow(ctx, k) {
							b.Fatalf("%s denied key %q while filling", lib.name, k)
						}
					}
					filled = time.Now()
				}
				if time.Since(filled) > limit.Window/2 {
					fill()
				}
				// Finish the collection the fill started, so that marking a
				// big heap does not share the timed run's cores; if that
				// outlasted half a short window, touch the keys again so that
				// none goes idle at the start of the run.
				runtime.GC()
				if time.Since(filled) > limit.Window/2 {
					fill()
				}
				b.ReportAllocs()
				b.ResetTimer()
				var start atomic.Uint64
				var denied atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					allow := d.worker()
					i := int(start.Add(1)*7919) % n
					for pb.Next() {
						if !allow(ctx, visits[i]) {
							denied.Add(1)
						}
						if i++; i == n {
							i = 0
						}
					}
				})
				b.StopTimer()
				if got := denied.Load(); got > 0 {
					b.Fatalf("%s denied %d decisions that should have been allowed", lib.name, got)
				}
				filled = time.Now() // every key was visited
				reportOverLimit(b, lib.name)
			})
			if release != nil {
				release()
			}
			d = nil
			runtime.GC()
		}
	}
	b.Run("middleware", benchmarkMiddleware)
}

// benchmarkMiddleware runs whole middlewares around a no-op handler, with
// 10 000 client IPs (the default key of each).
func benchmarkMiddleware(b *testing.B) {
	const n = 10_000
	reqs := make([]*http.Request, n)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil)
		r.RemoteAddr = "10.1." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + ":51234"
		reqs[i] = r
	}
	noop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })

	ululeMW := ululehttp.NewMiddleware(ulule.New(ulmemory.NewStore(), ulule.Rate{Period: peerWindow, Limit: peerLimit}))
	sethStore, err := memorystore.New(&memorystore.Config{Tokens: peerLimit, Interval: peerWindow})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sethStore.Close(context.Background()) }()
	sethMW, err := httplimit.NewMiddleware(sethStore, httplimit.IPKeyFunc())
	if err != nil {
		b.Fatal(err)
	}

	for _, mw := range []struct {
		name    string
		handler http.Handler
		window  time.Duration
	}{
		{"baseline", noop, 0},
		{"fanfare", fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{Limit: mwLimit})(noop), mwLimit.Window},
		{"httprate", httprate.LimitBy(peerLimit, peerWindow, httprateKeyByPeer)(noop), 0},
		{"ulule", ululeMW.Handler(noop), 0},
		{"sethvargo", sethMW.Handle(noop), 0},
	} {
		var filled time.Time
		b.Run(mw.name, func(b *testing.B) {
			fill := func() {
				w := &discardWriter{h: http.Header{}}
				for _, r := range reqs {
					mw.handler.ServeHTTP(w, r)
				}
				filled = time.Now()
			}
			if time.Since(filled) > mw.window/2 {
				fill()
			}
			runtime.GC()
			if time.Since(filled) > mw.window/2 {
				fill() // the collection outlasted half a short window
			}
			b.ReportAllocs()
			b.ResetTimer()
			var start atomic.Uint64
			var refused atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				w := &statusWriter{discardWriter: discardWriter{h: http.Header{}}}
				i := int(start.Add(1)*7919) % n
				for pb.Next() {
					w.status = 0
					mw.handler.ServeHTTP(w, reqs[i])
					if w.status != http.StatusOK {
						refused.Add(1)
					}
					if i++; i == n {
						i = 0
					}
				}
			})
			b.StopTimer()
			if got := refused.Load(); got > 0 {
				b.Fatalf("%s refused %d requests that should have passed", mw.name, got)
			}
			filled = time.Now()
			reportOverLimit(b, mw.name)
		})
	}
}

// httprateKeyByPeer is what httprate recommends in place of its deprecated
// LimitByIP: the peer address, IPv6 bucketed by /64 — fanfare's default for
// a client without a trusted proxy.
func httprateKeyByPeer(r *http.Request) (string, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return "", err
	}
	return httprate.CanonicalizeIP(host), nil
}

type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w discardWriter) WriteHeader(int)             {}

type statusWriter struct {
	discardWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code }
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

// BenchmarkB3IdleKeys fills the memory limiter with 1 000 000 keys under the
// guide's policy (10 per minute) and a cap of as many, reports the heap each
// key takes, lets them all go idle and reports the share of 1 000 000 new
// keys admitted: each one needs the room of an idle key reclaimed.
func BenchmarkB3IdleKeys(b *testing.B) {
	const n = 1_000_000
	keys := makeKeys(n)
	for range b.N {
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Clock: clock, MaxKeys: n})
		ctx := context.Background()
		for _, k := range keys {
			if d, err := l.Allow(ctx, k); err != nil || !d.Allowed {
				b.Fatalf("first request of %q refused: %v", k, err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/key")

		// A minute on, the keys are idle, and the limiter is at its cap:
		// a new key is admitted only in the room of a reclaimed one.
		now = now.Add(time.Minute)
		admitted := 0
		for _, k := range keys {
			if _, err := l.Allow(ctx, "new-"+k); err == nil {
				admitted++
			}
		}
		b.ReportMetric(100*float64(admitted)/n, "%reclaimed")
		runtime.KeepAlive(l)
	}
}
