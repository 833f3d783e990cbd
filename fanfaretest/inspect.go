package fanfaretest

import (
	"sync"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
)

// Endpoint names one endpoint of the emulator, for [Server.Calls] and
// [Server.InjectFault].
type Endpoint string

// The emulator's endpoints. Exchange and enter are the browser SDK's calls,
// which the vendor's guide does not publish: their shape is the emulator's
// own (see the package documentation).
const (
	EndpointAuthorize Endpoint = "authorize" // POST /auth/external/authorize
	EndpointExchange  Endpoint = "exchange"  // POST /auth/external/exchange (emulator endpoint)
	EndpointEnter     Endpoint = "enter"     // POST /{queues|draws|auctions}/{id}/enter (emulator endpoint)
	EndpointValidate  Endpoint = "validate"  // POST /{queues|draws|auctions}/{id}/validate
	EndpointComplete  Endpoint = "complete"  // POST /{queues|draws|auctions}/{id}/complete
	EndpointJWKS      Endpoint = "jwks"      // GET /.well-known/jwks.json
)

const numEndpoints = 6

// endpoints lists the endpoints in index order.
var endpoints = [numEndpoints]Endpoint{
	EndpointAuthorize, EndpointExchange, EndpointEnter, EndpointValidate, EndpointComplete, EndpointJWKS,
}

// index maps e to its slot in the per-endpoint arrays; -1 if unknown.
func (e Endpoint) index() int {
	switch e {
	case EndpointAuthorize:
		return 0
	case EndpointExchange:
		return 1
	case EndpointEnter:
		return 2
	case EndpointValidate:
		return 3
	case EndpointComplete:
		return 4
	case EndpointJWKS:
		return 5
	}
	return -1
}

// Authorization is one successful authorize call as the emulator received
// it: what reached Fanfare.
type Authorization struct {
	Provider, Issuer, Subject string
	// Claims are the claims as decoded from the request's JSON.
	Claims map[string]any
	// ExchangeCode is the code the emulator answered with.
	ExchangeCode string
}

// ValidateCall is one validate call with a well-formed body.
type ValidateCall struct {
	Distribution fanfare.Distribution
	ConsumerID   string
	Token        string
	// Valid is the emulator's answer.
	Valid bool
}

// Completion is one admission completed by a complete call.
type Completion struct {
	Distribution fanfare.Distribution
	ConsumerID   string
	// At is the emulator's time of the completion.
	At time.Time
}

// maxValidateCalls bounds the validate calls kept: benchmarks send millions.
const maxValidateCalls = 10000

// recorder keeps what the inspection methods return. It has its own lock so
// recording never waits on the state lock.
type recorder struct {
	mu             sync.Mutex
	authorizations []Authorization
	validates      []ValidateCall // the latest calls; trimmed to maxValidateCalls
	completions    []Completion
}

func (r *recorder) addAuthorization(a Authorization) {
	r.mu.Lock()
	r.authorizations = append(r.authorizations, a)
	r.mu.Unlock()
}

func (r *recorder) addValidate(v ValidateCall) {
	r.mu.Lock()
	if len(r.validates) >= 2*maxValidateCalls {
		// Amortized O(1): drop the oldest half in one copy.
		n := copy(r.validates, r.validates[len(r.validates)-maxValidateCalls:])
		clear(r.validates[n:])
		r.validates = r.validates[:n]
	}
	r.validates = append(r.validates, v)
	r.mu.Unlock()
}

func (r *recorder) addCompletions(cs []Completion) {
	if len(cs) == 0 {
		return
	}
	r.mu.Lock()
	r.completions = append(r.completions, cs...)
	r.mu.Unlock()
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.authorizations, r.validates, r.completions = nil, nil, nil
	r.mu.Unlock()
}

// Calls returns how many requests reached endpoint e since the start or the
// last Reset, including those answered by an injected fault and those
// refused (bad credentials, bad body). CORS preflight requests are not
// counted.
func (s *Server) Calls(e Endpoint) int {
	i := e.index()
	if i < 0 {
		return 0
	}
	return int(s.calls[i].Load())
}

// Authorizations returns every successful authorize call, in order.
func (s *Server) Authorizations() []Authorization {
	s.recorder.mu.Lock()
	defer s.recorder.mu.Unlock()
	return append([]Authorization(nil), s.recorder.authorizations...)
}

// ValidateCalls returns the validate calls with a well-formed body, in
// order; only the latest 10 000 when there were more.
func (s *Server) ValidateCalls() []ValidateCall {
	s.recorder.mu.Lock()
	defer s.recorder.mu.Unlock()
	v := s.recorder.validates
	if len(v) > maxValidateCalls {
		v = v[len(v)-maxValidateCalls:]
	}
	return append([]ValidateCall(nil), v...)
}

// Completions returns one entry per admission completed, in order. A
// repeated complete of an admission already completed is not listed again;
// Calls(EndpointComplete) counts the requests.
func (s *Server) Completions() []Completion {
	s.recorder.mu.Lock()
	defer s.recorder.mu.Unlock()
	return append([]Completion(nil), s.recorder.completions...)
}

// Reset forgets the call counts, the recorded authorizations, validate calls
// and completions, and every injected fault. It keeps the keys, the
// credentials, and the state: minted admissions stay valid, completed ones
// stay completed (Completed still reports them), identities keep their
// consumer ids.
func (s *Server) Reset() {
	for i := range s.calls {
		s.calls[i].Store(0)
	}
	s.recorder.reset()
	s.ClearFaults()
}
