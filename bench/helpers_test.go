package bench

import (
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitify-io/fanfare-go/internal/wire"
)

// rounds is how many times B1, B2, B5 and B6 run each row, interleaved
// (row a, row b, …, row a, row b, …): other jobs on a shared machine then
// slow every row alike rather than whichever row they happen to overlap.
// The framework names the repeats "row#01", "row#02"; cmd/benchtable folds
// them into one row and shows the median.
const rounds = 3

// newAdmissionPayload is a queue admission for consumer, valid for an hour
// from now, shaped as the emulator mints them.
func newAdmissionPayload(queueID, consumer string, now time.Time) *wire.AdmissionClaims {
	iat := now.Truncate(time.Second)
	exp := iat.Add(time.Hour)
	pos := 1842
	return &wire.AdmissionClaims{
		ConsumerID:       consumer,
		DistributionID:   queueID,
		DistributionType: "queue",
		Position:         &pos,
		AdmittedAt:       iat.UTC().Format(time.RFC3339),
		ExpiresAt:        exp.UTC().Format(time.RFC3339),
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(iat),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        "adm_Yx3kQ9vN2bT7wR1mP8sL4a", // the emulator's "adm_" + 22 base64url characters
		},
	}
}

// goroutinesFor sets b's parallelism so that b.RunParallel runs about n
// goroutines (it runs parallelism × GOMAXPROCS), and returns how many it
// will run.
func goroutinesFor(b *testing.B, n int) int {
	p := max(1, n/runtime.GOMAXPROCS(0))
	b.SetParallelism(p)
	return p * runtime.GOMAXPROCS(0)
}

// latencies collects per-request durations from parallel workers and
// reports their percentiles.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

// add merges one worker's samples.
func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

// report adds p50-µs and p99-µs to b's result.
func (l *latencies) report(b *testing.B) {
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	at := func(q float64) float64 {
		return float64(l.all[int(q*float64(len(l.all)-1))]) / float64(time.Microsecond)
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// closeDefaultIdle drops the idle connections of http.DefaultTransport,
// which the guide-pattern rows use, so that one row's pool does not serve
// the next.
func closeDefaultIdle() {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}
