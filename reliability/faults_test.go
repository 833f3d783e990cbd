package reliability

// The fault matrix: every call the library makes to Fanfare × every fault
// kind. For each cell: the answer the merchant's client sees (the README's),
// the time it took against the configured deadlines, that nobody was
// admitted, that no completion was lost, and that no goroutine was left.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// faultKind is one way Fanfare (or what stands between us and it) fails.
type faultKind struct {
	name   string
	inject func(e *env, ep fanfaretest.Endpoint)
	// unavailable: the client must call it ErrUnavailable (503); else it is
	// a refusal of our credentials (502 where the README says so).
	unavailable bool
}

var faultKinds = []faultKind{
	{"5xx", status(http.StatusServiceUnavailable), true},
	{"429", status(http.StatusTooManyRequests), true},
	{"401", status(http.StatusUnauthorized), false},
	{"latency past the deadline", func(e *env, ep fanfaretest.Endpoint) {
		e.srv.InjectFault(ep, fanfaretest.Fault{Latency: 5 * time.Second})
	}, true},
	{"dropped connection", func(e *env, ep fanfaretest.Endpoint) {
		e.srv.InjectFault(ep, fanfaretest.Fault{Drop: true})
	}, true},
	{"malformed JSON", func(e *env, ep fanfaretest.Endpoint) {
		e.srv.InjectFault(ep, fanfaretest.Fault{Malformed: true})
	}, true},
	{"oversized body (2 MiB)", func(e *env, ep fanfaretest.Endpoint) {
		e.srv.InjectFault(ep, fanfaretest.Fault{Oversized: true})
	}, true},
	{"wrong content type (200 text/html)", func(e *env, ep fanfaretest.Endpoint) { e.proxy.set(ep, proxyHTML) }, true},
	{"redirect (307)", func(e *env, ep fanfaretest.Endpoint) { e.proxy.set(ep, proxyRedirect) }, true},
}

func status(code int) func(e *env, ep fanfaretest.Endpoint) {
	return func(e *env, ep fanfaretest.Endpoint) { e.srv.InjectFault(ep, fanfaretest.Fault{Status: code}) }
}

// clearFaults ends every fault, the emulator's and the proxy's.
func (e *env) clearFaults() {
	e.srv.ClearFaults()
	e.proxy.clear()
}

// cell is one row of the printed matrix.
type cell struct {
	call, fault, want, seen string
	took, bound             time.Duration
	admitted, completion    string
	goroutines              string
}

// faultCall is one call the library makes, driven the way a merchant's app
// makes it, under fault f.
type faultCall struct {
	name string
	run  func(t *testing.T, f faultKind, c *cell)
}

var queue = fanfare.Queue("q_drop")

// Deadlines of one call: every attempt, the backoffs between them, and slack.
const (
	oneAttempt = attemptTimeout + slack
	retried    = maxAttempts*attemptTimeout + maxBackoff + slack
)

func TestFaultMatrix(t *testing.T) {
	calls := []faultCall{
		{"authorize (NewAuthorizeHandler)", runAuthorize},
		{"validate (RequireAdmission)", runCheckoutValidate},
		{"validate (NewValidateAdmissionHandler)", runValidateHandler},
		{"complete (RequireAdmission + CompletionWorker)", runComplete},
		{"JWKS fetch (NewJWKSVerifier)", runJWKS},
	}
	var cells []cell
	for _, call := range calls {
		for _, f := range faultKinds {
			c := cell{call: call.name, fault: f.name}
			runCell(t, &c, call.name+"/"+f.name, func(t *testing.T) { call.run(t, f, &c) })
			cells = append(cells, c)
		}
	}
	publish("1 fault matrix", matrixMarkdown("Fault matrix (client: AttemptTimeout 150ms, 2 attempts, backoff ≤ 10ms; JWKS client Timeout 300ms)", cells))
}

// runCell runs one cell of a fault matrix as a subtest and records whether
// it left goroutines behind.
func runCell(t *testing.T, c *cell, name string, run func(t *testing.T)) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Run(name, run)
	if err := goroutinesLeft(before); err != nil {
		t.Errorf("%s / %s: goroutines left: %v", c.call, c.fault, err)
		c.goroutines = "LEFT"
	} else {
		c.goroutines = "none left"
	}
}

func matrixMarkdown(title string, cells []cell) string {
	var b strings.Builder
	b.WriteString(title + "\n\n")
	b.WriteString("| call | fault | merchant's client sees (README) | seen | took | bound | admitted | completion | goroutines |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range cells {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			c.call, c.fault, c.want, c.seen, c.took.Round(time.Millisecond), c.bound, c.admitted, c.completion, c.goroutines)
	}
	return b.String()
}

// checkTook fails the test when the merchant's client waited past bound.
func checkTook(t *testing.T, c *cell, took, bound time.Duration) {
	t.Helper()
	c.took, c.bound = took, bound
	if took > bound {
		t.Errorf("took %v, past the bound %v", took, bound)
	}
}

func runAuthorize(t *testing.T, f faultKind, c *cell) {
	e := newEnv(t, fanfaretest.Options{})
	h := fanfare.NewAuthorizeHandler(e.client, fanfare.AuthorizeOptions{
		Provider: "reliability", Issuer: "https://shop.example",
		Identity: func(*http.Request) (fanfare.Identity, error) { return fanfare.Identity{Subject: "user_1"}, nil },
		Logger:   logger(),
	})
	app, hc := serve(t, h)
	c.want, c.completion = "503 + Retry-After, {\"error\":\"Authentication failed\"}", "n/a"
	wantStatus := http.StatusServiceUnavailable
	if !f.unavailable {
		c.want, wantStatus = "502, {\"error\":\"Authentication failed\"}", http.StatusBadGateway
	}
	f.inject(e, fanfaretest.EndpointAuthorize)
	res := post(t, hc, app.URL, "")
	c.seen = fmt.Sprintf("%d %s", res.Status, res.Body)
	checkTook(t, c, res.Took, oneAttempt)
	if res.Status != wantStatus || res.Body != `{"error":"Authentication failed"}` ||
		(wantStatus == http.StatusServiceUnavailable) != (res.RetryAfter != "") {
		t.Errorf("got %d %q Retry-After %q, want %d", res.Status, res.Body, res.RetryAfter, wantStatus)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", res.Header.Get("Cache-Control"))
	}
	c.admitted = "no exchange code"
	if strings.Contains(res.Body, "exchangeCode") {
		c.admitted = "EXCHANGE CODE"
		t.Error("an exchange code was handed out under a fault")
	}
	// Once the fault clears, the endpoint answers again.
	e.clearFaults()
	if res := post(t, hc, app.URL, ""); res.Status != http.StatusOK || !strings.Contains(res.Body, "exchangeCode") {
		t.Errorf("after the fault cleared: %d %q", res.Status, res.Body)
	}
}

// checkoutApp is RequireAdmission over a handler that counts the requests
// it admits, with a Store on the injected clock and a worker of its own.
type checkoutApp struct {
	url      string
	hc       *http.Client
	admitted atomic.Int64
	delay    time.Duration // how long an admitted checkout takes
	store    fanfare.Store
	worker   *fanfare.CompletionWorker
}

func newCheckoutApp(t *testing.T, e *env, opts fanfare.AdmissionOptions) *checkoutApp {
	t.Helper()
	a := &checkoutApp{store: fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: e.clock.Now})}
	a.worker = fanfare.NewCompletionWorker(e.client, a.store, fanfare.CompletionWorkerOptions{
		PollInterval: 10 * time.Millisecond, Clock: e.clock.Now, Logger: logger(),
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := a.worker.Close(ctx); err != nil {
			rec.err(err)
			t.Errorf("closing the worker: %v", err)
		}
	})
	if opts.Distribution == nil {
		opts.Distribution = queue
	}
	opts.Store, opts.Completions, opts.Clock, opts.Logger = a.store, a.worker, e.clock.Now, logger()
	h := fanfare.RequireAdmission(e.client, opts)(a.handler())
	app, hc := serve(t, h)
	a.url, a.hc = app.URL, hc
	return a
}

// handler is the checkout: it counts the requests it admits.
func (a *checkoutApp) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.admitted.Add(1)
		if a.delay > 0 {
			time.Sleep(a.delay)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true,"orderId":"ord_1"}`))
	})
}

func (a *checkoutApp) checkout(t *testing.T, token string) response {
	t.Helper()
	return post(t, a.hc, a.url, "", "Fanfare-Admission", token)
}

// errorCode is the code of a RequireAdmission refusal.
func errorCode(body string) string {
	var b fanfare.ErrorBody
	_ = json.Unmarshal([]byte(body), &b)
	return b.Code
}

func runCheckoutValidate(t *testing.T, f faultKind, c *cell) {
	e := newEnv(t, fanfaretest.Options{})
	a := newCheckoutApp(t, e, fanfare.AdmissionOptions{})
	tok := e.admit(queue, "cons_1")
	c.want, c.completion = "503 ADMISSION_UNAVAILABLE, Retry-After: 5", "none owed"
	f.inject(e, fanfaretest.EndpointValidate)
	res := a.checkout(t, tok)
	c.seen = fmt.Sprintf("%d %s, Retry-After: %s", res.Status, errorCode(res.Body), res.RetryAfter)
	checkTook(t, c, res.Took, retried)
	if res.Status != http.StatusServiceUnavailable || errorCode(res.Body) != "ADMISSION_UNAVAILABLE" || res.RetryAfter != "5" {
		t.Errorf("got %d %q Retry-After %q", res.Status, res.Body, res.RetryAfter)
	}
	c.admitted = fmt.Sprintf("%d", a.admitted.Load())
	if a.admitted.Load() != 0 {
		t.Error("a request reached the checkout while Fanfare could not validate")
	}
	// The admission is kept: once the fault clears, it checks out.
	e.clearFaults()
	if res := a.checkout(t, tok); res.Status != http.StatusOK {
		t.Errorf("after the fault cleared: %d %q", res.Status, res.Body)
	}
	c.admitted += ", then 1 once cleared"
	waitCompleted(t, e, a, queue, "cons_1")
}

func runValidateHandler(t *testing.T, f faultKind, c *cell) {
	e := newEnv(t, fanfaretest.Options{})
	app, hc := serve(t, fanfare.NewValidateAdmissionHandler(e.client, fanfare.ValidateAdmissionOptions{Logger: logger()}))
	tok := e.admit(queue, "cons_1")
	body := fmt.Sprintf(`{"queueId":"q_drop","consumerId":"cons_1","token":%q}`, tok)
	c.want, c.completion = "503 + Retry-After, {\"error\":\"Validation failed\"}", "n/a"
	wantStatus := http.StatusServiceUnavailable
	if !f.unavailable {
		c.want, wantStatus = "502, {\"error\":\"Validation failed\"}", http.StatusBadGateway
	}
	f.inject(e, fanfaretest.EndpointValidate)
	res := post(t, hc, app.URL, body)
	c.seen = fmt.Sprintf("%d %s", res.Status, res.Body)
	checkTook(t, c, res.Took, retried)
	if res.Status != wantStatus || (wantStatus == http.StatusServiceUnavailable) != (res.RetryAfter != "") {
		t.Errorf("got %d %q Retry-After %q, want %d", res.Status, res.Body, res.RetryAfter, wantStatus)
	}
	c.admitted = "not valid"
	if strings.Contains(res.Body, `"valid":true`) {
		c.admitted = "VALID"
		t.Error("valid under a fault")
	}
	e.clearFaults()
	if res := post(t, hc, app.URL, body); res.Status != http.StatusOK || res.Body != `{"valid":true}` {
		t.Errorf("after the fault cleared: %d %q", res.Status, res.Body)
	}
}

// waitCompleted advances the injected clock past any backoff until the
// worker has delivered the completion, within a few seconds of real time.
func waitCompleted(t *testing.T, e *env, a *checkoutApp, d fanfare.Distribution, consumer string) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st, err := a.store.Stats(context.Background())
		if err == nil && st.Pending == 0 && e.srv.Completed(d, consumer) {
			return true
		}
		e.clock.Advance(time.Minute)
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("completion of %s for %s not delivered after the fault cleared", d, consumer)
	return false
}

func runComplete(t *testing.T, f faultKind, c *cell) {
	e := newEnv(t, fanfaretest.Options{})
	a := newCheckoutApp(t, e, fanfare.AdmissionOptions{})
	tok := e.admit(queue, "cons_1")
	c.want = "200 (the order stands), then 409 ADMISSION_USED"
	f.inject(e, fanfaretest.EndpointComplete)
	res := a.checkout(t, tok)
	// One validate, then at most the 100 ms the answer waits for completing.
	checkTook(t, c, res.Took, retried+100*time.Millisecond)
	again := a.checkout(t, tok)
	c.seen = fmt.Sprintf("%d, then %d %s", res.Status, again.Status, errorCode(again.Body))
	if res.Status != http.StatusOK || again.Status != http.StatusConflict || errorCode(again.Body) != "ADMISSION_USED" {
		t.Errorf("got %d %q, then %d %q", res.Status, res.Body, again.Status, again.Body)
	}
	c.admitted = fmt.Sprintf("%d (once)", a.admitted.Load())
	if a.admitted.Load() != 1 {
		t.Errorf("%d requests admitted with one admission", a.admitted.Load())
	}
	if st, err := a.store.Stats(context.Background()); err != nil || st.Pending != 1 || e.srv.Completed(queue, "cons_1") {
		t.Errorf("while the fault lasts: pending %d (%v), completed %v", st.Pending, err, e.srv.Completed(queue, "cons_1"))
	}
	e.clearFaults()
	c.completion = "LOST"
	if waitCompleted(t, e, a, queue, "cons_1") {
		c.completion = "delivered after the fault cleared"
	}
}

// forge signs an admission for consumer to queue with a key nobody trusts,
// under the emulator's kid.
func forge(t *testing.T, e *env, consumer string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"consumerId": consumer, "distributionId": queue.ID, "distributionType": string(queue.Type),
		"admittedAt": now.Format(time.RFC3339), "expiresAt": now.Add(10 * time.Minute).Format(time.RFC3339),
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "position": 1,
	})
	tok.Header["kid"] = e.srv.KeyID()
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return rec.token(s)
}

func runJWKS(t *testing.T, f faultKind, c *cell) {
	e := newEnv(t, fanfaretest.Options{})
	hc := &http.Client{Transport: newTransport(), Timeout: jwksTimeout}
	t.Cleanup(hc.CloseIdleConnections)
	newVerifier := func(log *slog.Logger) (*fanfare.JWKSVerifier, time.Duration, error) {
		start := time.Now()
		v, err := fanfare.NewJWKSVerifier(context.Background(), e.jwksURL(), fanfare.JWKSOptions{HTTPClient: hc, Logger: log})
		rec.err(err)
		return v, time.Since(start), err
	}
	c.completion = "n/a"
	// A redirect from the key server is followed (the key set is public and
	// no secret is sent); every other fault fails the start-up: fail closed.
	wantStartErr := !strings.HasPrefix(f.name, "redirect")
	c.want = "start-up error; a running verifier keeps its keys: genuine 200, forged 403 ADMISSION_INVALID"
	if !wantStartErr {
		c.want = "redirect followed at start-up; genuine 200, forged 403 ADMISSION_INVALID"
	}

	f.inject(e, fanfaretest.EndpointJWKS)
	v, took, err := newVerifier(logger())
	checkTook(t, c, took, jwksTimeout+slack)
	startup := "start-up error"
	if err == nil {
		startup = "start-up ok"
		_ = v.Close()
	}
	if (err != nil) != wantStartErr {
		t.Errorf("NewJWKSVerifier under the fault: %v", err)
	}

	// A verifier started before the fault keeps its keys through a failed
	// refresh: the refetch a token naming an unknown kid makes, whose
	// failure is logged.
	e.clearFaults()
	var logged strings.Builder // written only by Keyfunc below, in this goroutine
	v, _, err = newVerifier(slog.New(slog.NewTextHandler(io.MultiWriter(rec, &logged), nil)))
	if err != nil {
		t.Fatalf("NewJWKSVerifier once the fault cleared: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	f.inject(e, fanfaretest.EndpointJWKS)
	_, kidErr := v.Keyfunc(&jwt.Token{Method: jwt.SigningMethodES256, Header: map[string]any{"alg": "ES256", "kid": "kid_rotated"}})
	rec.err(kidErr)
	if refreshFailed := strings.Contains(logged.String(), "fanfare: JWKS refresh"); refreshFailed != wantStartErr {
		t.Errorf("refresh under the fault failed: %v; logged %q", refreshFailed, logged.String())
	}
	a := newCheckoutApp(t, e, fanfare.AdmissionOptions{Verifier: v})
	forged := a.checkout(t, forge(t, e, "cons_2"))
	genuine := a.checkout(t, e.admit(queue, "cons_1"))
	c.seen = fmt.Sprintf("%s; genuine %d, forged %d %s", startup, genuine.Status, forged.Status, errorCode(forged.Body))
	if genuine.Status != http.StatusOK || forged.Status != http.StatusForbidden || errorCode(forged.Body) != "ADMISSION_INVALID" {
		t.Errorf("genuine %d %q, forged %d %q", genuine.Status, genuine.Body, forged.Status, forged.Body)
	}
	c.admitted = fmt.Sprintf("%d (the genuine one)", a.admitted.Load())
	if a.admitted.Load() != 1 {
		t.Errorf("%d admitted", a.admitted.Load())
	}
	e.clearFaults()
	waitCompleted(t, e, a, queue, "cons_1")
}
