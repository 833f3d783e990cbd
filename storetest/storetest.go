// Package storetest is the conformance suite of [fanfare.Store]: every
// store — the in-memory one, the Redis one, yours — must pass it.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clock func() time.Time) fanfare.Store {
//			return mystore.New(..., clock)
//		})
//	}
//
// The suite hands each store a manual clock and moves it forward to expire
// holds, used marks, leases and retry delays. A store that keeps time
// elsewhere (Redis expires keys by its own clock) may ignore it: the suite
// notices (a probe hold outlives a manual hour) and then really waits, a
// second or two at most per case, or polls until the store's own clock has
// caught up.
//
// Besides holds and used marks the suite covers Renew, MarkUsed with a
// completion, and the [fanfare.Outbox]: Claim order and limit, leases and
// their take-over, Retry, Done and Stats.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// NewStore returns a fresh, empty store that tells time by clock. Each
// subtest gets its own; clean it up with t.Cleanup.
type NewStore func(t *testing.T, clock func() time.Time) fanfare.Store

// Durations of the suite. Short is the TTL of what must expire; the
// real-time wait for it is bounded by expiryWait.
// brief is the TTL, lease or delay of what a case waits out for real on a
// store with its own clock, so it stays well under a second.
const (
	long       = time.Hour
	short      = 1500 * time.Millisecond
	brief      = 400 * time.Millisecond
	expiryWait = 5 * time.Second
)

// Run runs the conformance suite against the stores newStore returns.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	realTime := ownClock(t, newStore)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := fanfaretest.NewClock(time.Now())
			s := newStore(t, clock.Now)
			if s == nil {
				t.Fatal("newStore returned nil")
			}
			tc.run(t, &fixture{s: s, clock: clock, ctx: context.Background(), prefix: uniquePrefix(), realTime: realTime})
		})
	}
}

// ownClock reports whether the stores newStore returns keep their own time:
// a hold of an hour still held once the manual clock has moved past it.
func ownClock(t *testing.T, newStore NewStore) bool {
	t.Helper()
	clock := fanfaretest.NewClock(time.Now())
	s := newStore(t, clock.Now)
	if s == nil {
		t.Fatal("newStore returned nil")
	}
	ctx, key := context.Background(), uniquePrefix()+"probe"
	if err := s.Acquire(ctx, key, "probe", long); err != nil {
		t.Fatalf("probe: Acquire of a fresh key = %v, want nil", err)
	}
	clock.Advance(long + time.Millisecond)
	switch got := outcomeOf(s.Acquire(ctx, key, "probe2", long)); got {
	case acquired:
		return false
	case inUse:
		return true
	default:
		t.Fatalf("probe: Acquire after the manual clock passed the TTL = %s, want acquired or in use", got)
		return false
	}
}

// outcome is what an Acquire answered, as the suite names it.
type outcome string

// The outcomes of Acquire; a store failure is named by its error.
const (
	acquired outcome = "acquired" // nil
	inUse    outcome = "in use"   // ErrAdmissionInUse, possibly wrapped
	used     outcome = "used"     // ErrAdmissionUsed, possibly wrapped
)

// outcomeOf names the error Acquire returned. An error matching both
// sentinels is ambiguous, so it is named as the failure it is.
func outcomeOf(err error) outcome {
	isInUse, isUsed := errors.Is(err, fanfare.ErrAdmissionInUse), errors.Is(err, fanfare.ErrAdmissionUsed)
	switch {
	case err == nil:
		return acquired
	case isInUse && !isUsed:
		return inUse
	case isUsed && !isInUse:
		return used
	}
	return outcome("error: " + err.Error())
}

type fixture struct {
	s        fanfare.Store
	clock    *fanfaretest.Clock
	ctx      context.Context
	prefix   string // keeps keys of parallel runs against one shared backend apart
	realTime bool   // the store ignores clock: waits are real
}

// pass lets d go by: on the manual clock, and for real if the store keeps
// its own time.
func (f *fixture) pass(d time.Duration) {
	f.clock.Advance(d)
	if f.realTime {
		time.Sleep(d)
	}
}

func (f *fixture) renew(t *testing.T, key, owner string, ttl time.Duration, want error) {
	t.Helper()
	err := f.s.Renew(f.ctx, key, owner, ttl)
	if !errors.Is(err, want) || (want == nil && err != nil) {
		t.Fatalf("Renew(%q, %q) = %v, want %v", key, owner, err, want)
	}
}

func (f *fixture) markUsedWith(t *testing.T, key string, ttl time.Duration, c fanfare.Completion) {
	t.Helper()
	if err := f.s.MarkUsed(f.ctx, key, ttl, &c); err != nil {
		t.Fatalf("MarkUsed(%q, %+v): error %v", key, c, err)
	}
}

// completion returns the completion of admission key.
func (f *fixture) completion(key string) fanfare.Completion {
	return fanfare.Completion{ID: key, Distribution: fanfare.Queue("q_" + key), ConsumerID: "c_" + key}
}

func (f *fixture) claim(t *testing.T, owner string, n int, lease time.Duration) []fanfare.Completion {
	t.Helper()
	got, err := f.s.Claim(f.ctx, owner, n, lease)
	if err != nil {
		t.Fatalf("Claim(%q, %d): error %v", owner, n, err)
	}
	return got
}

// claimIDs claims and checks the IDs claimed, in order.
func (f *fixture) claimIDs(t *testing.T, owner string, n int, lease time.Duration, want ...string) []fanfare.Completion {
	t.Helper()
	got := f.claim(t, owner, n, lease)
	if !slices.Equal(ids(got), want) {
		t.Fatalf("Claim(%q, %d) = %q, want %q", owner, n, ids(got), want)
	}
	return got
}

// eventuallyClaimed claims until id comes back (a lease or delay ending on
// the store's own clock), for expiryWait at most.
func (f *fixture) eventuallyClaimed(t *testing.T, owner, id string) fanfare.Completion {
	t.Helper()
	deadline := time.Now().Add(expiryWait)
	for {
		got := f.claim(t, owner, 10, long)
		for _, c := range got {
			if c.ID == id {
				if len(got) != 1 {
					t.Fatalf("Claim = %q, want only %q", ids(got), id)
				}
				return c
			}
		}
		if len(got) != 0 {
			t.Fatalf("Claim = %q, want %q or nothing", ids(got), id)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not claimable again within %v", id, expiryWait)
		}
		time.Sleep(20 * time.Millisecond) // only stores that ignore the manual clock get here
	}
}

func (f *fixture) retry(t *testing.T, id, owner string, delay time.Duration, want error) {
	t.Helper()
	err := f.s.Retry(f.ctx, id, owner, delay)
	if !errors.Is(err, want) || (want == nil && err != nil) {
		t.Fatalf("Retry(%q, %q) = %v, want %v", id, owner, err, want)
	}
}

func (f *fixture) done(t *testing.T, id string) {
	t.Helper()
	if err := f.s.Done(f.ctx, id); err != nil {
		t.Fatalf("Done(%q): error %v", id, err)
	}
}

func (f *fixture) stats(t *testing.T, wantPending int, wantOldest time.Time) {
	t.Helper()
	got, err := f.s.Stats(f.ctx)
	if err != nil {
		t.Fatalf("Stats: error %v", err)
	}
	if got.Pending != wantPending || !got.Oldest.Equal(wantOldest) {
		t.Fatalf("Stats = %d pending, oldest %v; want %d, %v", got.Pending, got.Oldest, wantPending, wantOldest)
	}
}

func ids(cs []fanfare.Completion) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// sameCompletion compares everything but Since, which the store may set.
func sameCompletion(t *testing.T, got, want fanfare.Completion) {
	t.Helper()
	got.Since, want.Since = time.Time{}, time.Time{}
	if got != want {
		t.Fatalf("completion = %+v, want %+v", got, want)
	}
}

func (f *fixture) key(name string) string { return f.prefix + name }

func (f *fixture) acquire(t *testing.T, key, owner string, ttl time.Duration, want outcome) {
	t.Helper()
	if got := outcomeOf(f.s.Acquire(f.ctx, key, owner, ttl)); got != want {
		t.Fatalf("Acquire(%q, %q) = %s, want %s", key, owner, got, want)
	}
}

func (f *fixture) release(t *testing.T, key, owner string) {
	t.Helper()
	if err := f.s.Release(f.ctx, key, owner); err != nil {
		t.Fatalf("Release(%q, %q): error %v", key, owner, err)
	}
}

func (f *fixture) markUsed(t *testing.T, key string, ttl time.Duration) {
	t.Helper()
	if err := f.s.MarkUsed(f.ctx, key, ttl, nil); err != nil {
		t.Fatalf("MarkUsed(%q): error %v", key, err)
	}
}

func (f *fixture) isUsed(t *testing.T, key string, want bool) {
	t.Helper()
	got, err := f.s.IsUsed(f.ctx, key)
	if err != nil {
		t.Fatalf("IsUsed(%q): error %v", key, err)
	}
	if got != want {
		t.Fatalf("IsUsed(%q) = %v, want %v", key, got, want)
	}
}

// eventuallyAcquired moves the manual clock past ttl, then polls until the
// store's own clock agrees that the key expired.
func (f *fixture) eventuallyAcquired(t *testing.T, key, owner string, ttl time.Duration) {
	t.Helper()
	f.clock.Advance(ttl + time.Millisecond)
	deadline := time.Now().Add(expiryWait)
	for {
		got := outcomeOf(f.s.Acquire(f.ctx, key, owner, long))
		switch {
		case got == acquired:
			return
		case got != inUse && got != used:
			t.Fatalf("Acquire(%q) after expiry = %s", key, got)
		case time.Now().After(deadline):
			t.Fatalf("Acquire(%q) %v after its TTL of %v passed = %s, want %s", key, expiryWait, ttl, got, acquired)
		}
		time.Sleep(20 * time.Millisecond) // only stores that ignore the manual clock get here
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, f *fixture)
}

// raceMarkUsedAcquire runs MarkUsed (with c) and Acquire of key at once:
// Acquire must see the key free or used, never both win, and the key ends
// up used.
func (f *fixture) raceMarkUsedAcquire(t *testing.T, key string, c *fanfare.Completion) {
	t.Helper()
	var wg sync.WaitGroup
	var got outcome
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := f.s.MarkUsed(f.ctx, key, long, c); err != nil {
			t.Errorf("MarkUsed: error %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		got = outcomeOf(f.s.Acquire(f.ctx, key, "o", long))
	}()
	wg.Wait()
	if got != acquired && got != used {
		t.Fatalf("Acquire racing MarkUsed = %s, want acquired or used", got)
	}
	f.acquire(t, key, "o2", long, used)
}

var cases = slices.Concat(holdCases, renewCases, completionCases, outboxCases)

var holdCases = []testCase{
	{"free key is acquired", func(t *testing.T, f *fixture) {
		f.acquire(t, f.key("a"), "o1", long, acquired)
	}},
	{"held key is in use for every other owner", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, acquired)
		f.acquire(t, k, "o2", long, inUse)
		f.acquire(t, k, "", long, inUse)
	}},
	{"acquire again by the holder is acquired and changes nothing", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", short, acquired)
		f.acquire(t, k, "o1", long, acquired) // a retried call: not a refusal, not a renewal
		f.acquire(t, k, "o2", long, inUse)
		f.eventuallyAcquired(t, k, "o2", short)
	}},
	{"release frees the key", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, acquired)
		f.release(t, k, "o1")
		f.acquire(t, k, "o2", long, acquired)
	}},
	{"release by another owner keeps the hold", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, acquired)
		f.release(t, k, "o2")
		f.acquire(t, k, "o3", long, inUse)
	}},
	{"release of an absent key is no error", func(t *testing.T, f *fixture) {
		f.release(t, f.key("absent"), "o1")
		f.acquire(t, f.key("absent"), "o1", long, acquired)
	}},
	{"used key is refused as used", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, acquired)
		f.markUsed(t, k, long)
		f.acquire(t, k, "o2", long, used)
		f.acquire(t, k, "o1", long, used)
	}},
	{"the largest durations saturate: a hold, a mark and a lease of forever last", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", math.MaxInt64, acquired)
		f.acquire(t, k, "o2", long, inUse)
		f.renew(t, k, "o1", math.MaxInt64, nil)
		f.markUsedWith(t, k, math.MaxInt64, f.completion(k))
		f.isUsed(t, k, true)
		f.acquire(t, k, "o2", long, used)
		f.claimIDs(t, "w1", 10, math.MaxInt64, k)
		f.claimIDs(t, "w2", 10, long) // still leased to w1
		f.retry(t, k, "w1", math.MaxInt64, nil)
		f.claimIDs(t, "w2", 10, long) // not due before forever
	}},
	{"mark used without a hold", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.markUsed(t, k, long)
		f.acquire(t, k, "o1", long, used)
	}},
	{"release after mark used keeps it used", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, acquired)
		f.markUsed(t, k, long)
		f.release(t, k, "o1")
		f.acquire(t, k, "o2", long, used)
	}},
	{"hold lasts until its TTL", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", time.Minute, acquired)
		f.clock.Advance(30 * time.Second)
		f.acquire(t, k, "o2", long, inUse)
	}},
	{"hold expires after its TTL", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", short, acquired)
		f.eventuallyAcquired(t, k, "o2", short)
	}},
	{"expired hold cannot be released by its old owner", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", short, acquired)
		f.eventuallyAcquired(t, k, "o2", short)
		f.release(t, k, "o1")
		f.acquire(t, k, "o3", long, inUse)
	}},
	{"used mark expires after its TTL", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.markUsed(t, k, short)
		f.acquire(t, k, "o1", long, used)
		f.eventuallyAcquired(t, k, "o1", short)
	}},
	{"a shorter mark keeps the longer expiry", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.markUsed(t, k, long)
		f.markUsed(t, k, short)
		f.clock.Advance(short + time.Second)
		f.acquire(t, k, "o1", long, used)
	}},
	{"is used reports only live used marks and changes nothing", func(t *testing.T, f *fixture) {
		held, marked, absent := f.key("held"), f.key("used"), f.key("absent")
		f.acquire(t, held, "o1", long, acquired)
		f.markUsed(t, marked, short)
		f.isUsed(t, absent, false)
		f.isUsed(t, held, false)
		f.isUsed(t, marked, true)
		f.acquire(t, absent, "o2", long, acquired) // the look did not create it
		f.acquire(t, held, "o3", long, inUse)      // nor free the hold
		f.eventuallyAcquired(t, marked, "o4", short)
		f.isUsed(t, marked, false)
	}},
	{"keys are independent", func(t *testing.T, f *fixture) {
		a, b, c := f.key("queue:3:q_1:c_1"), f.key("queue:3:q_1:c_2"), f.key("draw:3:q_1:c_1")
		f.acquire(t, a, "o1", long, acquired)
		f.markUsed(t, b, long)
		f.acquire(t, c, "o2", long, acquired)
		f.release(t, a, "o1")
		f.acquire(t, a, "o3", long, acquired)
		f.acquire(t, b, "o4", long, used)
	}},
	{"odd keys and owners", func(t *testing.T, f *fixture) {
		for i, k := range []string{"", " ", "ключ:💳", "a\x00b", "{tag}", "}{", string(make([]byte, 512))} {
			k := f.key(k)
			owner := fmt.Sprintf("owner %d: with spaces", i)
			f.acquire(t, k, owner, long, acquired)
			f.acquire(t, k, "x", long, inUse)
			f.release(t, k, owner)
			f.acquire(t, k, "x", long, acquired)
		}
	}},
	{"concurrent acquires: exactly one wins", func(t *testing.T, f *fixture) {
		const n = 64
		k := f.key("a")
		var won, refused atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				switch got := outcomeOf(f.s.Acquire(f.ctx, k, fmt.Sprint("o", i), long)); got {
				case acquired:
					won.Add(1)
				case inUse:
					refused.Add(1)
				default:
					t.Errorf("Acquire = %s, want acquired or in use", got)
				}
			}()
		}
		close(start)
		wg.Wait()
		if won.Load() != 1 || refused.Load() != n-1 {
			t.Fatalf("got %d acquired and %d in use, want 1 and %d", won.Load(), refused.Load(), n-1)
		}
	}},
	{"concurrent mark used and acquire never both win", func(t *testing.T, f *fixture) {
		for i := range 50 {
			f.raceMarkUsedAcquire(t, f.key(fmt.Sprint("race", i)), nil)
		}
	}},
}

var renewCases = []testCase{
	{"renew extends a live hold", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", brief, acquired)
		f.renew(t, k, "o1", long, nil)
		f.pass(brief + 100*time.Millisecond)
		f.acquire(t, k, "o2", long, inUse)
		f.renew(t, k, "o1", long, nil) // still the owner's, past its first TTL
		f.release(t, k, "o1")
		f.acquire(t, k, "o2", long, acquired)
	}},
	{"a renewed hold expires after its new TTL", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, acquired)
		f.renew(t, k, "o1", short, nil)
		f.eventuallyAcquired(t, k, "o2", short)
	}},
	{"renew by another owner is lost and changes nothing", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, acquired)
		f.renew(t, k, "o2", long, fanfare.ErrHoldLost)
		f.acquire(t, k, "o2", long, inUse)
		f.renew(t, k, "o1", long, nil)
		f.release(t, k, "o2")
		f.acquire(t, k, "o3", long, inUse)
	}},
	{"renew of an expired hold is lost and does not revive it", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", brief, acquired)
		f.pass(brief + 100*time.Millisecond)
		f.renew(t, k, "o1", long, fanfare.ErrHoldLost)
		f.acquire(t, k, "o2", long, acquired)
		f.renew(t, k, "o1", long, fanfare.ErrHoldLost)
	}},
	{"renew of a released hold is lost", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, acquired)
		f.release(t, k, "o1")
		f.renew(t, k, "o1", long, fanfare.ErrHoldLost)
		f.acquire(t, k, "o2", long, acquired)
	}},
	{"renew of an absent key is lost and creates nothing", func(t *testing.T, f *fixture) {
		k := f.key("absent")
		f.renew(t, k, "o1", long, fanfare.ErrHoldLost)
		f.isUsed(t, k, false)
		f.acquire(t, k, "o2", long, acquired)
	}},
	{"renew of a used key is lost and keeps it used", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, acquired)
		f.markUsed(t, k, long)
		f.renew(t, k, "o1", long, fanfare.ErrHoldLost)
		f.renew(t, k, "", long, fanfare.ErrHoldLost)
		f.acquire(t, k, "o1", long, used)
		f.isUsed(t, k, true)
	}},
}

var completionCases = []testCase{
	{"a completion is claimable at once", func(t *testing.T, f *fixture) {
		k := f.key("a")
		want := f.completion(k)
		before := time.Now()
		f.acquire(t, k, "o1", long, acquired)
		f.markUsedWith(t, k, long, want)
		f.acquire(t, k, "o2", long, used)
		got := f.claimIDs(t, "w1", 10, long, k)[0]
		sameCompletion(t, got, want)
		switch {
		case !f.realTime && !got.Since.Equal(f.clock.Now()):
			t.Errorf("Since = %v, want the store's clock %v", got.Since, f.clock.Now())
		case f.realTime && (got.Since.Before(before.Add(-time.Minute)) || got.Since.After(time.Now().Add(time.Minute))):
			t.Errorf("Since = %v, want about %v", got.Since, before)
		}
	}},
	{"a completion keeps its Since and Attempts", func(t *testing.T, f *fixture) {
		k := f.key("a")
		want := f.completion(k)
		want.Since = time.Date(2029, 5, 6, 7, 8, 9, 123456789, time.UTC)
		want.Attempts = 2
		f.markUsedWith(t, k, long, want)
		got := f.claimIDs(t, "w1", 10, long, k)[0]
		sameCompletion(t, got, want)
		if !got.Since.Equal(want.Since) {
			t.Errorf("Since = %v, want %v", got.Since, want.Since)
		}
	}},
	{"marking twice keeps one pending, the first", func(t *testing.T, f *fixture) {
		k := f.key("a")
		first, second := f.completion(k), f.completion(k)
		second.ConsumerID = "c_other"
		f.markUsedWith(t, k, long, first)
		f.markUsedWith(t, k, long, second)
		f.markUsed(t, k, long)
		got := f.claimIDs(t, "w1", 10, long, k)
		sameCompletion(t, got[0], first)
		// Marking again while it is leased neither frees nor doubles it.
		f.markUsedWith(t, k, long, second)
		f.claimIDs(t, "w2", 10, long)
		st, err := f.s.Stats(f.ctx)
		if err != nil || st.Pending != 1 {
			t.Fatalf("Stats = %+v, %v; want 1 pending", st, err)
		}
	}},
	{"mark used without a completion enqueues nothing", func(t *testing.T, f *fixture) {
		f.markUsed(t, f.key("a"), long)
		f.claimIDs(t, "w1", 10, long)
		f.stats(t, 0, time.Time{})
	}},
	{"concurrent mark used with a completion and acquire never both win", func(t *testing.T, f *fixture) {
		const n = 50
		for i := range n {
			k := f.key(fmt.Sprint("race", i))
			c := f.completion(k)
			f.raceMarkUsedAcquire(t, k, &c)
		}
		if got := f.claim(t, "w", 2*n, long); len(got) != n {
			t.Fatalf("claimed %d completions, want %d: every used mark has its completion", len(got), n)
		}
	}},
}

var outboxCases = []testCase{
	{"claim returns due completions earliest first, at most n", func(t *testing.T, f *fixture) {
		// Keys whose order differs from their due order.
		k1, k2, k3 := f.key("c"), f.key("a"), f.key("b")
		for _, k := range []string{k1, k2, k3} {
			f.markUsedWith(t, k, long, f.completion(k))
			f.pass(5 * time.Millisecond)
		}
		f.claimIDs(t, "w1", 2, long, k1, k2)
		f.claimIDs(t, "w1", 2, long, k3)
		f.claimIDs(t, "w1", 2, long)
		f.claimIDs(t, "w2", 0, long)
	}},
	{"claim of nothing, or of zero, claims nothing", func(t *testing.T, f *fixture) {
		f.claimIDs(t, "w1", 10, long)
		k := f.key("a")
		f.markUsedWith(t, k, long, f.completion(k))
		f.claimIDs(t, "w1", 0, long)
		f.claimIDs(t, "w1", -1, long)
		f.claimIDs(t, "w1", 1, long, k)
	}},
	{"a claimed completion is taken over once its lease ends", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.markUsedWith(t, k, long, f.completion(k))
		f.claimIDs(t, "w1", 10, brief, k)
		f.claimIDs(t, "w2", 10, long)
		f.pass(brief + 100*time.Millisecond)
		got := f.eventuallyClaimed(t, "w2", k)
		sameCompletion(t, got, f.completion(k))
		f.claimIDs(t, "w1", 10, long) // w2 holds it now
		f.retry(t, k, "w1", 0, fanfare.ErrHoldLost)
		f.retry(t, k, "w2", long, nil)
	}},
	{"retry by the owner makes it due after the delay, one attempt more", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.markUsedWith(t, k, long, f.completion(k))
		f.claimIDs(t, "w1", 10, long, k)
		f.retry(t, k, "w1", brief, nil)
		f.claimIDs(t, "w2", 10, long)
		f.retry(t, k, "w1", brief, fanfare.ErrHoldLost) // its lease ended with the first
		f.pass(brief + 100*time.Millisecond)
		got := f.eventuallyClaimed(t, "w2", k)
		want := f.completion(k)
		want.Attempts = 1
		sameCompletion(t, got, want)
		f.retry(t, k, "w2", 0, nil)
		want.Attempts = 2
		sameCompletion(t, f.eventuallyClaimed(t, "w3", k), want)
		f.stats(t, 1, got.Since)
	}},
	{"retry by a non-owner is lost and changes nothing", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.markUsedWith(t, k, long, f.completion(k))
		f.retry(t, k, "w1", 0, fanfare.ErrHoldLost) // not claimed yet
		f.claimIDs(t, "w1", 10, long, k)
		f.retry(t, k, "w2", 0, fanfare.ErrHoldLost)
		f.retry(t, k, "", 0, fanfare.ErrHoldLost)
		f.claimIDs(t, "w3", 10, long) // still w1's
		f.retry(t, k, "w1", 0, nil)
		want := f.completion(k)
		want.Attempts = 1
		sameCompletion(t, f.eventuallyClaimed(t, "w3", k), want)
	}},
	{"retry after the lease ended is lost and changes nothing", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.markUsedWith(t, k, long, f.completion(k))
		f.claimIDs(t, "w1", 10, brief, k)
		f.pass(brief + 100*time.Millisecond)
		f.retry(t, k, "w1", long, fanfare.ErrHoldLost)
		// Due now, not after the long delay, and no attempt counted.
		sameCompletion(t, f.eventuallyClaimed(t, "w2", k), f.completion(k))
	}},
	{"retry of an absent completion is lost", func(t *testing.T, f *fixture) {
		f.retry(t, f.key("absent"), "w1", 0, fanfare.ErrHoldLost)
		f.stats(t, 0, time.Time{})
	}},
	{"done removes it and keeps the key used", func(t *testing.T, f *fixture) {
		k, other := f.key("a"), f.key("b")
		f.markUsedWith(t, k, long, f.completion(k))
		f.pass(5 * time.Millisecond)
		f.markUsedWith(t, other, long, f.completion(other))
		f.claimIDs(t, "w1", 1, long, k)
		f.done(t, k)
		f.done(t, k)
		f.done(t, f.key("absent"))
		f.retry(t, k, "w1", 0, fanfare.ErrHoldLost)
		f.claimIDs(t, "w1", 10, long, other)
		f.done(t, other) // done needs no lease
		f.claimIDs(t, "w1", 10, long)
		f.stats(t, 0, time.Time{})
		f.acquire(t, k, "o1", long, used)
	}},
	{"stats counts pending and reports the oldest since", func(t *testing.T, f *fixture) {
		f.stats(t, 0, time.Time{})
		t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		keys := []string{f.key("a"), f.key("b"), f.key("c")}
		for i, since := range []time.Time{t0.Add(2 * time.Second), t0, t0.Add(time.Second)} {
			c := f.completion(keys[i])
			c.Since = since
			f.markUsedWith(t, keys[i], long, c)
		}
		f.stats(t, 3, t0)
		if got := f.claim(t, "w1", 3, long); len(got) != 3 { // leased completions are still pending
			t.Fatalf("Claim = %q, want all 3", ids(got))
		}
		f.stats(t, 3, t0)
		f.done(t, keys[1])
		f.stats(t, 2, t0.Add(time.Second))
		f.retry(t, keys[2], "w1", long, nil)
		f.stats(t, 2, t0.Add(time.Second))
	}},
	{"concurrent claims never hand one completion to two workers", func(t *testing.T, f *fixture) {
		const n = 40
		for i := range n {
			k := f.key(fmt.Sprint("k", i))
			f.markUsedWith(t, k, long, f.completion(k))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := f.s.Claim(f.ctx, fmt.Sprint("w", w), 3, long)
					if err != nil {
						t.Errorf("Claim: error %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, c := range got {
						seen[c.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("claimed %d distinct completions, want %d", len(seen), n)
		}
		for id, times := range seen {
			if times != 1 {
				t.Fatalf("%q claimed %d times, want once", id, times)
			}
		}
	}},
}

var runs atomic.Int64

// uniquePrefix keeps the keys of one subtest apart from every other's, so a
// shared backend (one Redis) needs no flushing between subtests.
func uniquePrefix() string {
	return fmt.Sprintf("storetest:%d:%d:", time.Now().UnixNano(), runs.Add(1))
}
