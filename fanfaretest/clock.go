package fanfaretest

import (
	"sync"
	"time"
)

// Clock is a manual clock for tests: time stands still until Advance or Set
// moves it. Pass its Now method wherever a `Clock func() time.Time` option
// is taken (Options.Clock here, and the clocks of the fanfare middleware), so
// expiry can be tested without sleeping. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// defaultClockStart is where NewClock(time.Time{}) starts: a fixed, round
// date well after any real token a test could meet, so JWT times are positive.
var defaultClockStart = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

// NewClock returns a clock that reads t until moved. A zero t starts the
// clock at 2030-01-01T00:00:00Z.
func NewClock(t time.Time) *Clock {
	if t.IsZero() {
		t = defaultClockStart
	}
	return &Clock{now: t}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (backward if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
