// Package limitertest is the conformance suite for [fanfare.Limiter]
// implementations: the in-memory limiter runs it, and so must any other
// (Redis, say). It drives the limiter's clock by hand and checks every
// decision against a reference sliding log, so an implementation passes
// only if it is exact: never more than Limit.Requests in any rolling window,
// no request refused that the window has room for, and Retry-After exact.
//
// Times are whole milliseconds, so an implementation may keep its state in
// milliseconds.
package limitertest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// NewLimiter returns a limiter that enforces limit, reads the time from
// clock, and holds no state yet (a Redis limiter: a fresh key prefix). It is
// called once per subtest.
type NewLimiter func(t *testing.T, limit fanfare.Limit, clock func() time.Time) fanfare.Limiter

// Run runs the conformance suite against the limiters newLimiter returns.
func Run(t *testing.T, newLimiter NewLimiter) {
	t.Helper()
	s := suite{newLimiter: newLimiter}
	t.Run("Limit", s.testLimit)
	t.Run("FreshKeyBurst", s.testFreshKeyBurst)
	t.Run("RetryAfterIsExact", s.testRetryAfterIsExact)
	t.Run("WindowSlides", s.testWindowSlides)
	t.Run("MatchesSlidingLog", s.testMatchesSlidingLog)
	t.Run("KeysAreIsolated", s.testKeysAreIsolated)
	t.Run("IdleKeyStartsFresh", s.testIdleKeyStartsFresh)
	t.Run("ClockStepsBack", s.testClockStepsBack)
	t.Run("ConcurrentOneKey", s.testConcurrentOneKey)
	t.Run("ConcurrentManyKeys", s.testConcurrentManyKeys)
}

type suite struct{ newLimiter NewLimiter }

// start is where every test's clock starts: a whole millisecond.
var start = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func (s suite) setup(t *testing.T, limit fanfare.Limit) (fanfare.Limiter, *fanfaretest.Clock) {
	t.Helper()
	c := fanfaretest.NewClock(start)
	l := s.newLimiter(t, limit, c.Now)
	require.NotNil(t, l, "newLimiter returned nil")
	return l, c
}

func allow(t *testing.T, l fanfare.Limiter, key string) fanfare.Decision {
	t.Helper()
	d, err := l.Allow(t.Context(), key)
	require.NoError(t, err, "Allow(%q)", key)
	return d
}

var tenPerMinute = fanfare.Limit{Requests: 10, Window: time.Minute}

func (s suite) testLimit(t *testing.T) {
	for _, want := range []fanfare.Limit{tenPerMinute, {Requests: 1, Window: time.Second}, {Requests: 500, Window: 24 * time.Hour}} {
		l, _ := s.setup(t, want)
		assert.Equal(t, want, l.Limit())
	}
}

func (s suite) testFreshKeyBurst(t *testing.T) {
	l, _ := s.setup(t, tenPerMinute)
	for i := range 10 {
		got := allow(t, l, "burst")
		want := fanfare.Decision{Allowed: true, Limit: 10, Remaining: 9 - i, ResetAfter: time.Minute}
		require.Equal(t, want, got, "request %d of a burst of 10", i+1)
	}
	for i := range 3 {
		got := allow(t, l, "burst")
		want := fanfare.Decision{Limit: 10, RetryAfter: time.Minute, ResetAfter: time.Minute}
		require.Equal(t, want, got, "request %d over the limit", i+1)
	}
}

func (s suite) testRetryAfterIsExact(t *testing.T) {
	l, c := s.setup(t, tenPerMinute)
	for range 10 {
		require.True(t, allow(t, l, "k").Allowed)
	}
	for _, step := range []struct {
		advance   time.Duration
		wantAfter time.Duration
	}{
		{17*time.Second + 250*time.Millisecond, 42*time.Second + 750*time.Millisecond},
		{42 * time.Second, 750 * time.Millisecond},
		{749 * time.Millisecond, time.Millisecond},
	} {
		c.Advance(step.advance)
		got := allow(t, l, "k")
		assert.False(t, got.Allowed, "at %v", c.Now().Sub(start))
		assert.Equal(t, step.wantAfter, got.RetryAfter, "RetryAfter at %v", c.Now().Sub(start))
		assert.Equal(t, step.wantAfter, got.ResetAfter, "ResetAfter at %v", c.Now().Sub(start))
	}
	c.Advance(time.Millisecond) // exactly one window after the burst
	got := allow(t, l, "k")
	assert.Equal(t, fanfare.Decision{Allowed: true, Limit: 10, Remaining: 9, ResetAfter: time.Minute}, got,
		"one window after a burst of 10, the 10 leave together and one comes in")
}

// testWindowSlides is the fixed-window exploit: a burst at the end of one
// minute and another at the start of the next. A fixed window (or a token
// bucket with a burst of 10) lets both through: 20 in two milliseconds.
func (s suite) testWindowSlides(t *testing.T) {
	l, c := s.setup(t, tenPerMinute)
	c.Advance(59*time.Second + 999*time.Millisecond)
	for range 10 {
		require.True(t, allow(t, l, "k").Allowed)
	}
	c.Advance(time.Millisecond)
	for i := range 10 {
		got := allow(t, l, "k")
		require.False(t, got.Allowed, "request %d of the second burst, 1ms later", i+1)
		require.Equal(t, time.Minute-time.Millisecond, got.RetryAfter)
	}
	c.Advance(time.Minute - 2*time.Millisecond)
	require.False(t, allow(t, l, "k").Allowed, "1ms before the first burst leaves the window")
	c.Advance(time.Millisecond)
	for i := range 10 {
		require.True(t, allow(t, l, "k").Allowed, "request %d once the first burst left", i+1)
	}
	require.False(t, allow(t, l, "k").Allowed)
}

// testMatchesSlidingLog sweeps arrival patterns, compares every decision
// with a reference sliding log, and checks every rolling window of the
// requests allowed.
func (s suite) testMatchesSlidingLog(t *testing.T) {
	limits := []fanfare.Limit{
		tenPerMinute,
		{Requests: 1, Window: time.Second},
		{Requests: 3, Window: 250 * time.Millisecond},
		{Requests: 7, Window: 10 * time.Second},
	}
	for _, limit := range limits {
		for _, p := range patterns {
			t.Run(fmt.Sprintf("%dper%v/%s", limit.Requests, limit.Window, p.name), func(t *testing.T) {
				l, c := s.setup(t, limit)
				m := model{limit: limit}
				var allowed []time.Time
				for i, gap := range p.gaps(limit) {
					c.Advance(gap)
					now := c.Now()
					want := m.allow(now)
					got := allow(t, l, "pattern")
					require.Equal(t, want, got, "request %d at %v", i, now.Sub(start))
					if got.Allowed {
						allowed = append(allowed, now)
					}
				}
				require.NotEmpty(t, allowed)
				// N+1 allowed requests in a row must span a whole window.
				for i := limit.Requests; i < len(allowed); i++ {
					span := allowed[i].Sub(allowed[i-limit.Requests])
					require.GreaterOrEqual(t, span, limit.Window,
						"%d requests allowed within %v (from %v)", limit.Requests+1, span, allowed[i-limit.Requests].Sub(start))
				}
			})
		}
	}
}

// pattern generates the gaps between requests, in whole milliseconds.
type pattern struct {
	name string
	gaps func(fanfare.Limit) []time.Duration
}

var patterns = []pattern{
	{"BoundaryBursts", func(l fanfare.Limit) []time.Duration {
		var g []time.Duration
		for range 5 {
			g = append(g, l.Window-time.Millisecond)
			g = append(g, make([]time.Duration, 2*l.Requests-1)...)
			g = append(g, time.Millisecond)
			g = append(g, make([]time.Duration, 2*l.Requests-1)...)
		}
		return g
	}},
	{"AtTheRate", func(l fanfare.Limit) []time.Duration {
		return repeat(l.Window/time.Duration(l.Requests)/time.Millisecond*time.Millisecond, 4*l.Requests+3)
	}},
	{"TwiceTheRate", func(l fanfare.Limit) []time.Duration {
		return repeat(max(l.Window/time.Duration(2*l.Requests)/time.Millisecond*time.Millisecond, time.Millisecond), 8*l.Requests+5)
	}},
	{"Random", func(l fanfare.Limit) []time.Duration {
		rnd := rand.New(rand.NewPCG(1, uint64(l.Requests)))
		mean := l.Window.Milliseconds() / int64(l.Requests)
		g := make([]time.Duration, 400)
		for i := range g {
			g[i] = time.Duration(rnd.Int64N(2*mean+1)) * time.Millisecond
		}
		return g
	}},
	{"RandomBursts", func(l fanfare.Limit) []time.Duration {
		rnd := rand.New(rand.NewPCG(2, uint64(l.Requests)))
		var g []time.Duration
		for range 40 {
			g = append(g, time.Duration(rnd.Int64N(l.Window.Milliseconds()+1))*time.Millisecond)
			g = append(g, make([]time.Duration, rnd.IntN(2*l.Requests))...)
		}
		return g
	}},
}

func repeat(d time.Duration, n int) []time.Duration {
	g := make([]time.Duration, n)
	for i := range g {
		g[i] = d
	}
	return g
}

// model is the reference: the exact sliding log of one key. A request at
// time t counts while now < t+Window.
type model struct {
	limit fanfare.Limit
	log   []time.Time
}

func (m *model) allow(now time.Time) fanfare.Decision {
	var counted []time.Time
	for _, at := range m.log {
		if now.Sub(at) < m.limit.Window {
			counted = append(counted, at)
		}
	}
	m.log = counted
	d := fanfare.Decision{Limit: m.limit.Requests}
	if len(m.log) < m.limit.Requests {
		m.log = append(m.log, now)
		d.Allowed = true
		d.Remaining = m.limit.Requests - len(m.log)
	}
	d.ResetAfter = m.log[0].Add(m.limit.Window).Sub(now)
	if !d.Allowed {
		d.RetryAfter = d.ResetAfter
	}
	return d
}

func (s suite) testKeysAreIsolated(t *testing.T) {
	l, _ := s.setup(t, fanfare.Limit{Requests: 2, Window: time.Minute})
	keys := []string{"a", "A", "a ", "ab", "id:a", "ip:a", "", "ü", "a\x00", string(make([]byte, 300))}
	for _, k := range keys {
		for i := range 2 {
			require.True(t, allow(t, l, k).Allowed, "request %d of key %q", i+1, k)
		}
	}
	for _, k := range keys {
		require.False(t, allow(t, l, k).Allowed, "third request of key %q", k)
	}
}

func (s suite) testIdleKeyStartsFresh(t *testing.T) {
	l, c := s.setup(t, tenPerMinute)
	for range 12 {
		allow(t, l, "idle")
	}
	c.Advance(time.Minute)
	assert.Equal(t, fanfare.Decision{Allowed: true, Limit: 10, Remaining: 9, ResetAfter: time.Minute}, allow(t, l, "idle"))
	c.Advance(10 * 24 * time.Hour)
	assert.Equal(t, fanfare.Decision{Allowed: true, Limit: 10, Remaining: 9, ResetAfter: time.Minute}, allow(t, l, "idle"))
}

// testClockStepsBack: a clock stepped back (an NTP correction, say) must not
// make a full window look empty.
func (s suite) testClockStepsBack(t *testing.T) {
	l, c := s.setup(t, tenPerMinute)
	c.Advance(time.Hour)
	for range 10 {
		require.True(t, allow(t, l, "k").Allowed)
	}
	for _, back := range []time.Duration{time.Second, 30 * time.Second, time.Minute, time.Hour, 24 * time.Hour} {
		c.Advance(-back)
		got := allow(t, l, "k")
		assert.False(t, got.Allowed, "after the clock stepped back %v", back)
		assert.GreaterOrEqual(t, got.RetryAfter, time.Minute, "RetryAfter after the clock stepped back %v", back)
		c.Advance(back)
	}
}

func (s suite) testConcurrentOneKey(t *testing.T) {
	l, _ := s.setup(t, tenPerMinute)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				d, err := l.Allow(t.Context(), "hot")
				if assert.NoError(t, err) && d.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(10), admitted.Load(), "80 concurrent requests for one key at one instant")
}

func (s suite) testConcurrentManyKeys(t *testing.T) {
	l, _ := s.setup(t, tenPerMinute)
	const keys = 64
	var admitted [keys]atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range keys * 3 {
				k := (i + g*7) % keys
				for range 5 {
					d, err := l.Allow(t.Context(), fmt.Sprintf("user-%d", k))
					if assert.NoError(t, err) && d.Allowed {
						admitted[k].Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	for k := range admitted {
		assert.Equal(t, int64(10), admitted[k].Load(), "admitted for key %d", k)
	}
}
