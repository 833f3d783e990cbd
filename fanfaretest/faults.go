package fanfaretest

import (
	"bytes"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is a misbehaviour injected into one endpoint with
// [Server.InjectFault]. The fields combine: Latency is waited first, then the
// first of Drop, Status, Malformed and Oversized that is set answers the
// request; a Fault with only Latency set delays normal handling.
type Fault struct {
	// Status answers with this HTTP status and {"error": "<code>"}, the code
	// being the status text in snake case ("service_unavailable",
	// "too_many_requests", "unauthorized", ...). 429 and 503 carry
	// Retry-After: 1.
	Status int
	// Latency is a real wait before handling. It is cut short when the
	// client cancels the request (nothing is answered) or the server closes
	// (503).
	Latency time.Duration
	// Drop hijacks the connection and closes it without answering.
	Drop bool
	// Malformed answers 200 with a body that is not the API's shape (not
	// even valid JSON).
	Malformed bool
	// Oversized answers 200 with a 2 MiB body.
	Oversized bool
	// Times applies the fault to the next Times calls, then clears it.
	// Default: 0, every call until ClearFaults or Reset.
	Times int
	// Fraction, when 0 < Fraction < 1, applies the fault to that fraction of
	// calls, drawn from a PRNG seeded the same way at every InjectFault, so a
	// sequential test sees the same calls faulted every run. With Times,
	// Times counts faulted calls only. Default: 0, every call.
	Fraction float64
}

// oversizedBytes is the size of an Oversized body.
const oversizedBytes = 2 << 20

// malformedBody is the body of a Malformed answer: truncated JSON.
var malformedBody = []byte(`{"fanfaretest":"malformed`)

// oversizedBody is shared by every Oversized answer; it is read-only.
var oversizedBody = func() []byte {
	b := bytes.Repeat([]byte("x"), oversizedBytes)
	copy(b, `{"padding":"`)
	copy(b[len(b)-2:], `"}`)
	return b
}()

type faultState struct {
	f         Fault
	remaining int // Times left; 0 when unlimited
	rng       *rand.Rand
}

// faults holds the injected faults, one per endpoint.
type faults struct {
	mu sync.Mutex
	by [numEndpoints]*faultState
}

// InjectFault makes endpoint e misbehave as f says, replacing any fault
// already injected there. Faults apply before normal handling, and the
// faulted calls count in [Server.Calls]. It panics on an unknown endpoint or
// a fault that makes no sense (negative Times or Latency, Fraction outside
// [0, 1], Status outside 200..599): those are mistakes in the test.
func (s *Server) InjectFault(e Endpoint, f Fault) {
	i := e.index()
	switch {
	case i < 0:
		panic("fanfare: fanfaretest: InjectFault: unknown endpoint " + string(e))
	case f.Times < 0 || f.Latency < 0:
		panic("fanfare: fanfaretest: InjectFault: negative Times or Latency")
	case f.Fraction < 0 || f.Fraction > 1 || math.IsNaN(f.Fraction):
		panic("fanfare: fanfaretest: InjectFault: Fraction outside [0, 1]")
	case f.Status != 0 && (f.Status < 200 || f.Status > 599):
		panic("fanfare: fanfaretest: InjectFault: Status outside 200..599")
	}
	fs := &faultState{f: f, remaining: f.Times, rng: rand.New(rand.NewPCG(0x66616e66, 0x61726521))}
	s.faults.mu.Lock()
	s.faults.by[i] = fs
	s.faults.mu.Unlock()
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	s.faults.by = [numEndpoints]*faultState{}
	s.faults.mu.Unlock()
}

// ClearFault removes the fault injected into endpoint e, if any. It panics
// on an unknown endpoint.
func (s *Server) ClearFault(e Endpoint) {
	i := e.index()
	if i < 0 {
		panic("fanfare: fanfaretest: ClearFault: unknown endpoint " + string(e))
	}
	s.faults.mu.Lock()
	s.faults.by[i] = nil
	s.faults.mu.Unlock()
}

// activeFault is an injected fault with the calls it still applies to.
type activeFault struct {
	endpoint  Endpoint
	fault     Fault
	remaining int // 0 when unlimited
}

// list returns the injected faults in endpoint order.
func (fs *faults) list() []activeFault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []activeFault
	for i, st := range fs.by {
		if st != nil {
			out = append(out, activeFault{endpoint: endpoints[i], fault: st.f, remaining: st.remaining})
		}
	}
	return out
}

// pick returns the fault to apply to this call of endpoint i, if any.
func (fs *faults) pick(i int) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	st := fs.by[i]
	if st == nil {
		return Fault{}, false
	}
	if fr := st.f.Fraction; fr > 0 && fr < 1 && st.rng.Float64() >= fr {
		return Fault{}, false
	}
	if st.remaining > 0 {
		st.remaining--
		if st.remaining == 0 {
			fs.by[i] = nil
		}
	}
	return st.f, true
}

// applyFault runs f against the request. handled reports that f answered
// the request (or dropped it), so normal handling must not run.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault) (handled bool) {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true // the client is gone: nobody to answer
		case <-s.closing:
			t.Stop()
			writeError(w, http.StatusServiceUnavailable, statusCode(http.StatusServiceUnavailable), "emulator shutting down")
			return true
		}
	}
	switch {
	case f.Drop:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return true
		}
		// Cannot hijack (HTTP/2): abort the stream instead.
		panic(http.ErrAbortHandler)
	case f.Status != 0:
		if f.Status == http.StatusTooManyRequests || f.Status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, f.Status, statusCode(f.Status), "injected fault")
		return true
	case f.Malformed:
		writeRaw(w, http.StatusOK, malformedBody)
		return true
	case f.Oversized:
		writeRaw(w, http.StatusOK, oversizedBody)
		return true
	}
	return false
}

// statusCode turns a status into an error code: its text in snake case.
func statusCode(status int) string {
	text := http.StatusText(status)
	if text == "" {
		return "status_" + strconv.Itoa(status)
	}
	return strings.ReplaceAll(strings.ToLower(text), " ", "_")
}
