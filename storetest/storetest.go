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
// holds and used marks. A store that keeps time elsewhere (Redis expires
// keys by its own clock) may ignore it: expiry checks then poll, for a few
// seconds at most, until the store's own clock has caught up.
package storetest

import (
	"context"
	"fmt"
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
const (
	long       = time.Hour
	short      = 1500 * time.Millisecond
	expiryWait = 5 * time.Second
)

// Run runs the conformance suite against the stores newStore returns.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := fanfaretest.NewClock(time.Now())
			s := newStore(t, clock.Now)
			if s == nil {
				t.Fatal("newStore returned nil")
			}
			tc.run(t, &fixture{s: s, clock: clock, ctx: context.Background(), prefix: uniquePrefix()})
		})
	}
}

type fixture struct {
	s      fanfare.Store
	clock  *fanfaretest.Clock
	ctx    context.Context
	prefix string // keeps keys of parallel runs against one shared backend apart
}

func (f *fixture) key(name string) string { return f.prefix + name }

func (f *fixture) acquire(t *testing.T, key, owner string, ttl time.Duration, want fanfare.AcquireResult) {
	t.Helper()
	got, err := f.s.Acquire(f.ctx, key, owner, ttl)
	if err != nil {
		t.Fatalf("Acquire(%q, %q): error %v", key, owner, err)
	}
	if got != want {
		t.Fatalf("Acquire(%q, %q) = %v, want %v", key, owner, got, want)
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
		got, err := f.s.Acquire(f.ctx, key, owner, long)
		if err != nil {
			t.Fatalf("Acquire(%q) after expiry: error %v", key, err)
		}
		if got == fanfare.Acquired {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Acquire(%q) %v after its TTL of %v passed = %v, want %v", key, expiryWait, ttl, got, fanfare.Acquired)
		}
		time.Sleep(20 * time.Millisecond) // only stores that ignore the manual clock get here
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"free key is acquired", func(t *testing.T, f *fixture) {
		f.acquire(t, f.key("a"), "o1", long, fanfare.Acquired)
	}},
	{"held key is in use for every owner", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, fanfare.Acquired)
		f.acquire(t, k, "o2", long, fanfare.InUse)
		f.acquire(t, k, "o1", long, fanfare.InUse)
	}},
	{"release frees the key", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, fanfare.Acquired)
		f.release(t, k, "o1")
		f.acquire(t, k, "o2", long, fanfare.Acquired)
	}},
	{"release by another owner keeps the hold", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, fanfare.Acquired)
		f.release(t, k, "o2")
		f.acquire(t, k, "o3", long, fanfare.InUse)
	}},
	{"release of an absent key is no error", func(t *testing.T, f *fixture) {
		f.release(t, f.key("absent"), "o1")
		f.acquire(t, f.key("absent"), "o1", long, fanfare.Acquired)
	}},
	{"used key is refused as used", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, fanfare.Acquired)
		f.markUsed(t, k, long)
		f.acquire(t, k, "o2", long, fanfare.Used)
		f.acquire(t, k, "o1", long, fanfare.Used)
	}},
	{"mark used without a hold", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.markUsed(t, k, long)
		f.acquire(t, k, "o1", long, fanfare.Used)
	}},
	{"release after mark used keeps it used", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", long, fanfare.Acquired)
		f.markUsed(t, k, long)
		f.release(t, k, "o1")
		f.acquire(t, k, "o2", long, fanfare.Used)
	}},
	{"hold lasts until its TTL", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", time.Minute, fanfare.Acquired)
		f.clock.Advance(30 * time.Second)
		f.acquire(t, k, "o2", long, fanfare.InUse)
	}},
	{"hold expires after its TTL", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", short, fanfare.Acquired)
		f.eventuallyAcquired(t, k, "o2", short)
	}},
	{"expired hold cannot be released by its old owner", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.acquire(t, k, "o1", short, fanfare.Acquired)
		f.eventuallyAcquired(t, k, "o2", short)
		f.release(t, k, "o1")
		f.acquire(t, k, "o3", long, fanfare.InUse)
	}},
	{"used mark expires after its TTL", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.markUsed(t, k, short)
		f.acquire(t, k, "o1", long, fanfare.Used)
		f.eventuallyAcquired(t, k, "o1", short)
	}},
	{"a shorter mark keeps the longer expiry", func(t *testing.T, f *fixture) {
		k := f.key("a")
		f.markUsed(t, k, long)
		f.markUsed(t, k, short)
		f.clock.Advance(short + time.Second)
		f.acquire(t, k, "o1", long, fanfare.Used)
	}},
	{"is used reports only live used marks and changes nothing", func(t *testing.T, f *fixture) {
		held, used, absent := f.key("held"), f.key("used"), f.key("absent")
		f.acquire(t, held, "o1", long, fanfare.Acquired)
		f.markUsed(t, used, short)
		f.isUsed(t, absent, false)
		f.isUsed(t, held, false)
		f.isUsed(t, used, true)
		f.acquire(t, absent, "o2", long, fanfare.Acquired) // the look did not create it
		f.acquire(t, held, "o3", long, fanfare.InUse)      // nor free the hold
		f.eventuallyAcquired(t, used, "o4", short)
		f.isUsed(t, used, false)
	}},
	{"keys are independent", func(t *testing.T, f *fixture) {
		a, b, c := f.key("queue:3:q_1:c_1"), f.key("queue:3:q_1:c_2"), f.key("draw:3:q_1:c_1")
		f.acquire(t, a, "o1", long, fanfare.Acquired)
		f.markUsed(t, b, long)
		f.acquire(t, c, "o2", long, fanfare.Acquired)
		f.release(t, a, "o1")
		f.acquire(t, a, "o3", long, fanfare.Acquired)
		f.acquire(t, b, "o4", long, fanfare.Used)
	}},
	{"odd keys and owners", func(t *testing.T, f *fixture) {
		for i, k := range []string{"", " ", "ключ:💳", "a\x00b", string(make([]byte, 512))} {
			k := f.key(k)
			owner := fmt.Sprintf("owner %d: with spaces", i)
			f.acquire(t, k, owner, long, fanfare.Acquired)
			f.acquire(t, k, "x", long, fanfare.InUse)
			f.release(t, k, owner)
			f.acquire(t, k, "x", long, fanfare.Acquired)
		}
	}},
	{"concurrent acquires: exactly one wins", func(t *testing.T, f *fixture) {
		const n = 64
		k := f.key("a")
		var won, inUse atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got, err := f.s.Acquire(f.ctx, k, fmt.Sprint("o", i), long)
				switch {
				case err != nil:
					t.Errorf("Acquire: error %v", err)
				case got == fanfare.Acquired:
					won.Add(1)
				case got == fanfare.InUse:
					inUse.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if won.Load() != 1 || inUse.Load() != n-1 {
			t.Fatalf("got %d acquired and %d in use, want 1 and %d", won.Load(), inUse.Load(), n-1)
		}
	}},
	{"concurrent mark used and acquire never both win", func(t *testing.T, f *fixture) {
		for i := range 50 {
			k := f.key(fmt.Sprint("race", i))
			var wg sync.WaitGroup
			var got fanfare.AcquireResult
			wg.Add(2)
			go func() {
				defer wg.Done()
				if err := f.s.MarkUsed(f.ctx, k, long, nil); err != nil {
					t.Errorf("MarkUsed: error %v", err)
				}
			}()
			go func() {
				defer wg.Done()
				var err error
				if got, err = f.s.Acquire(f.ctx, k, "o", long); err != nil {
					t.Errorf("Acquire: error %v", err)
				}
			}()
			wg.Wait()
			if got != fanfare.Acquired && got != fanfare.Used {
				t.Fatalf("Acquire racing MarkUsed = %v, want acquired or used", got)
			}
			f.acquire(t, k, "o2", long, fanfare.Used)
		}
	}},
}

var runs atomic.Int64

// uniquePrefix keeps the keys of one subtest apart from every other's, so a
// shared backend (one Redis) needs no flushing between subtests.
func uniquePrefix() string {
	return fmt.Sprintf("storetest:%d:%d:", time.Now().UnixNano(), runs.Add(1))
}
