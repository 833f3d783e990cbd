package reliability

// The harness every test here shares: an emulator with a distinctive secret
// key behind a loopback fault proxy, a client with short deadlines, and a
// recorder of every log line, response body and error string the suite
// produces, searched for secrets when the suite ends.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// secretKey is the emulator's secret key: distinctive, so that a search for
// it cannot miss a copy or hit anything else.
const secretKey = "sk_test_RELIABILITY_CANARY_7c1e93f0a24d5b68"

// orgID is the emulator's organization id.
const orgID = "org_reliability"

// epoch is the manual clock's start.
var epoch = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

// Deadlines of the client under test: short, so that the fault matrix runs
// in seconds, and the bounds every cell's duration is checked against.
const (
	attemptTimeout = 150 * time.Millisecond
	maxAttempts    = 2
	maxBackoff     = 10 * time.Millisecond
	jwksTimeout    = 300 * time.Millisecond
	// slack covers scheduling on a loaded 2-core machine under -race.
	slack = 400 * time.Millisecond
)

// recorder keeps everything the suite produced that a secret could leak
// into: log lines, response bodies and error strings; and the secrets to
// look for: every admission token issued.
type recorder struct {
	mu     sync.Mutex
	logs   bytes.Buffer
	bodies []string
	errs   []string
	tokens map[string]bool
}

var rec = &recorder{tokens: map[string]bool{}}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.Write(p)
}

// body records a response body.
func (r *recorder) body(b string) {
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
}

// err records an error string; nil is ignored.
func (r *recorder) err(err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	r.errs = append(r.errs, err.Error())
	r.mu.Unlock()
}

// token records an admission token to search for. Short strings (the
// attack table's malformed framings) are skipped: they would match by
// chance.
func (r *recorder) token(tok string) string {
	if len(tok) >= 40 {
		r.mu.Lock()
		r.tokens[tok] = true
		r.mu.Unlock()
	}
	return tok
}

// search counts the occurrences of the secret key and of every token in
// every log line, response body and error string.
func (r *recorder) search() (report string, hits []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	needles := []string{secretKey}
	for tok := range r.tokens {
		needles = append(needles, tok)
	}
	haystacks := map[string][]string{
		"log":   strings.Split(r.logs.String(), "\n"),
		"body":  r.bodies,
		"error": r.errs,
	}
	kinds := []string{"log", "body", "error"}
	for _, kind := range kinds {
		for i, h := range haystacks[kind] {
			for j, n := range needles {
				if strings.Contains(h, n) {
					what := "an admission token"
					if j == 0 {
						what = "the secret key"
					}
					hits = append(hits, fmt.Sprintf("%s %d carries %s: %.200q", kind, i, what, h))
				}
			}
		}
	}
	report = fmt.Sprintf("leak search: the secret key and %d admission tokens searched for in %d log lines, %d response bodies and %d error strings: %d hits",
		len(r.tokens), len(haystacks["log"]), len(r.bodies), len(r.errs), len(hits))
	return report, hits
}

// newTransport is a transport of the suite's own, whose idle connections a
// test can close, keeping up to 512 idle connections per host as fanfare's
// default client does.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 512
	return t
}

// logger writes to the recorder at debug level, so that every record any
// part of the library emits is searched.
func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// redisLogger sends go-redis's own log lines to the recorder.
type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	_, _ = fmt.Fprintf(rec, "go-redis: "+format+"\n", v...)
}

// printed collects what TestMain prints after the tests: the fault matrix
// and the attack count.
var printed struct {
	mu    sync.Mutex
	parts map[string]string
}

func publish(name, text string) {
	printed.mu.Lock()
	defer printed.mu.Unlock()
	if printed.parts == nil {
		printed.parts = map[string]string{}
	}
	printed.parts[name] = text
}

func TestMain(m *testing.M) {
	slog.SetDefault(logger()) // whatever logs to the default logger is searched too
	redis.SetLogger(redisLogger{})
	code := m.Run()

	printed.mu.Lock()
	names := make([]string, 0, len(printed.parts))
	for n := range printed.parts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Println(printed.parts[n])
	}
	printed.mu.Unlock()

	report, hits := rec.search()
	fmt.Println(report)
	for _, h := range hits {
		fmt.Println("  LEAK:", h)
	}
	if len(hits) > 0 && code == 0 {
		code = 1
	}
	if err := goroutinesLeft(); err != nil {
		fmt.Println("goroutines left behind by the suite:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// env is one emulator behind a fault proxy, with a client and an injected
// clock.
type env struct {
	srv    *fanfaretest.Server
	clock  *fanfaretest.Clock
	proxy  *faultProxy
	hc     *http.Client
	client *fanfare.Client
}

// newEnv starts an emulator on a manual clock behind a fault proxy, and a
// client with the suite's short deadlines talking through the proxy. All of
// it stops with the test.
func newEnv(t testing.TB, opts fanfaretest.Options) *env {
	t.Helper()
	return newEnvTimeout(t, opts, attemptTimeout)
}

// newEnvTimeout is newEnv with another AttemptTimeout: the stress tests
// load a shared machine under the race detector.
func newEnvTimeout(t testing.TB, opts fanfaretest.Options, attempt time.Duration) *env {
	t.Helper()
	clock := fanfaretest.NewClock(epoch)
	opts.ManualClock = clock
	opts.SecretKey = secretKey
	opts.OrganizationID = orgID
	srv := fanfaretest.NewServer(opts)
	proxy := newFaultProxy(srv.URL)
	hc := &http.Client{Transport: newTransport()}
	client, err := fanfare.NewClient(fanfare.Config{
		APIURL: proxy.URL, OrganizationID: orgID, SecretKey: secretKey, HTTPClient: hc,
		AttemptTimeout: attempt,
		Retry:          fanfare.RetryPolicy{MaxAttempts: maxAttempts, InitialBackoff: 5 * time.Millisecond, MaxBackoff: maxBackoff},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, clock: clock, proxy: proxy, hc: hc, client: client}
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	e.hc.CloseIdleConnections()
	e.proxy.Close()
	e.srv.Close()
}

// admit mints a recorded admission token.
func (e *env) admit(d fanfare.Distribution, consumer string) string {
	return rec.token(e.srv.Admit(d, consumer))
}

// jwksURL is the emulator's key set, through the proxy.
func (e *env) jwksURL() string {
	u, _ := url.Parse(e.srv.JWKSURL())
	return e.proxy.URL + u.Path
}

// Fault kinds the emulator cannot inject, played by the proxy.
type proxyFault int

const (
	proxyNone     proxyFault = iota
	proxyHTML                // 200 text/html: a captive portal or a proxy's page
	proxyRedirect            // 307 to the same path on the emulator
)

// faultProxy forwards to the emulator, except for an endpoint given a
// proxyFault.
type faultProxy struct {
	*httptest.Server
	target string
	tr     *http.Transport
	mu     sync.Mutex
	by     map[fanfaretest.Endpoint]proxyFault
}

func newFaultProxy(target string) *faultProxy {
	u, _ := url.Parse(target)
	p := &faultProxy{target: target, tr: &http.Transport{}, by: map[fanfaretest.Endpoint]proxyFault{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = p.tr
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) {
		// The emulator dropped the connection: drop ours too.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p.fault(endpointOf(r.URL.Path)) {
		case proxyHTML:
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, "<html><body><h1>Sign in to the hotel Wi-Fi</h1></body></html>")
		case proxyRedirect:
			_, _ = io.Copy(io.Discard, r.Body)
			http.Redirect(w, r, p.target+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	return p
}

// Close stops the proxy and its connections to the emulator.
func (p *faultProxy) Close() {
	p.Server.Close()
	p.tr.CloseIdleConnections()
}

func (p *faultProxy) set(e fanfaretest.Endpoint, f proxyFault) {
	p.mu.Lock()
	p.by[e] = f
	p.mu.Unlock()
}

func (p *faultProxy) clear() {
	p.mu.Lock()
	clear(p.by)
	p.mu.Unlock()
}

func (p *faultProxy) fault(e fanfaretest.Endpoint) proxyFault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.by[e]
}

// endpointOf names the emulator endpoint a path belongs to.
func endpointOf(path string) fanfaretest.Endpoint {
	switch {
	case path == "/auth/external/authorize":
		return fanfaretest.EndpointAuthorize
	case strings.HasSuffix(path, "/validate"):
		return fanfaretest.EndpointValidate
	case strings.HasSuffix(path, "/complete"):
		return fanfaretest.EndpointComplete
	case strings.HasSuffix(path, "/jwks.json"):
		return fanfaretest.EndpointJWKS
	}
	return ""
}

// response is what a merchant's client saw.
type response struct {
	Status     int
	Body       string
	RetryAfter string
	Header     http.Header
	Took       time.Duration
}

// send makes a request and records the response body.
func send(t testing.TB, c *http.Client, req *http.Request) response {
	t.Helper()
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	rec.body(string(raw))
	return response{Status: resp.StatusCode, Body: string(raw), RetryAfter: resp.Header.Get("Retry-After"), Header: resp.Header, Took: time.Since(start)}
}

// post sends a POST with body (JSON when not empty) and headers given in
// pairs.
func post(t testing.TB, c *http.Client, url, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return send(t, c, req)
}

// serve runs h on a loopback server closed with the test, and returns it
// with a client whose idle connections are closed too.
func serve(t testing.TB, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	app := httptest.NewServer(h)
	c := app.Client()
	t.Cleanup(func() {
		c.CloseIdleConnections()
		app.Close()
	})
	return app, c
}

// goroutinesLeft is goleak.Find with patience: a closed go-redis client's
// dial prober (pool.tryDial) sleeps a second between probes before it sees
// the pool closed, longer than goleak's own retries wait. A goroutine still
// there after 3 s is a leak.
func goroutinesLeft(opts ...goleak.Option) error {
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
