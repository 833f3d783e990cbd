package reliability

// The Redis rows of the fault matrix: the redisstore Store (checkout),
// Outbox (CompletionWorker) and Limiter (authorize rate limit) against a
// real redis-server behind a loopback TCP proxy that plays each fault.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/redisstore"
)

// redisTimeout bounds each Store and Limiter call (StoreOptions.Timeout).
const redisTimeout = 200 * time.Millisecond

// startRedis runs redis-server on a free loopback port until the test
// ends, and returns its address; it skips when redis-server is missing.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed: the Redis rows need a real Redis (.ci/run installs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--maxmemory-policy", "noeviction", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			_ = c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisMode is what the TCP proxy does with the commands it receives.
type redisMode int

const (
	redisPass    redisMode = iota
	redisDown              // connection refused: the listener is closed
	redisStall             // commands are swallowed: no reply, ever
	redisDrop              // the connection is closed at the next command
	redisGarbage           // a reply that is not RESP
	redisNoAuth            // -NOAUTH, as a Redis whose password changed
)

// tcpProxy forwards loopback TCP to Redis, misbehaving as its mode says.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	mode         redisMode
	l            net.Listener
	conns        map[net.Conn]bool
	wg           sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{target: target, conns: map[net.Conn]bool{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) serve(l net.Listener) {
	p.l = l
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.track(c, true)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.pipe(c)
			}()
		}
	}()
}

func (p *tcpProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *tcpProxy) current() redisMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// pipe serves one client connection.
func (p *tcpProxy) pipe(c net.Conn) {
	defer p.track(c, false)
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(up, true)
	defer p.track(up, false)
	defer up.Close()
	go func() { _, _ = io.Copy(c, up) }() // ends when either side closes
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		switch p.current() {
		case redisStall:
			continue
		case redisDrop, redisDown:
			return
		case redisGarbage:
			_, _ = c.Write([]byte("?this is not RESP\r\n"))
		case redisNoAuth:
			_, _ = c.Write([]byte("-NOAUTH Authentication required.\r\n"))
		default:
			if _, err := up.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

// set changes the mode; redisDown closes the listener and every
// connection, and leaving it listens again on the same address.
func (p *tcpProxy) set(t *testing.T, m redisMode) {
	p.mu.Lock()
	was := p.mode
	p.mode = m
	var conns []net.Conn
	if m == redisDown || m == redisDrop {
		for c := range p.conns {
			conns = append(conns, c)
		}
	}
	l := p.l
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	switch {
	case m == redisDown && was != redisDown:
		_ = l.Close()
	case m != redisDown && was == redisDown:
		nl, err := net.Listen("tcp", p.addr)
		if err != nil {
			t.Fatalf("listening again on %s: %v", p.addr, err)
		}
		p.serve(nl)
	}
}

func (p *tcpProxy) close() {
	p.mu.Lock()
	l := p.l
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	_ = l.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	p.wg.Wait()
}

// redisFault is one way Redis fails.
type redisFault struct {
	name  string
	apply func(t *testing.T, p *tcpProxy, direct *redis.Client)
	clear func(t *testing.T, p *tcpProxy, direct *redis.Client)
}

func proxyMode(m redisMode) (func(*testing.T, *tcpProxy, *redis.Client), func(*testing.T, *tcpProxy, *redis.Client)) {
	return func(t *testing.T, p *tcpProxy, _ *redis.Client) { p.set(t, m) },
		func(t *testing.T, p *tcpProxy, _ *redis.Client) { p.set(t, redisPass) }
}

func redisFaults() []redisFault {
	f := func(name string, m redisMode) redisFault {
		apply, clear := proxyMode(m)
		return redisFault{name, apply, clear}
	}
	return []redisFault{
		f("down (connection refused)", redisDown),
		f("stalled past the deadline", redisStall),
		f("dropped connection", redisDrop),
		f("garbage reply (not RESP)", redisGarbage),
		f("NOAUTH (password changed)", redisNoAuth),
		{"out of memory (maxmemory, noeviction)",
			func(t *testing.T, _ *tcpProxy, direct *redis.Client) {
				if err := direct.ConfigSet(context.Background(), "maxmemory", "1").Err(); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, _ *tcpProxy, direct *redis.Client) {
				if err := direct.ConfigSet(context.Background(), "maxmemory", "0").Err(); err != nil {
					t.Fatal(err)
				}
			}},
	}
}

// redisClient talks to addr with deadlines honoured and no retries, closed
// with the test.
func redisClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1, PoolSize: 4,
		DialTimeout: redisTimeout, ReadTimeout: redisTimeout, WriteTimeout: redisTimeout,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisFaultMatrix(t *testing.T) {
	redisAddr := startRedis(t)
	direct := redisClient(t, redisAddr)
	type redisCall struct {
		name string
		run  func(t *testing.T, f redisFault, p *tcpProxy, c *cell)
	}
	calls := []redisCall{
		{"Redis Store (RequireAdmission)", func(t *testing.T, f redisFault, p *tcpProxy, c *cell) {
			runRedisCheckout(t, f, p, direct, c)
		}},
		{"Redis Outbox (CompletionWorker)", func(t *testing.T, f redisFault, p *tcpProxy, c *cell) {
			runRedisOutbox(t, f, p, direct, c)
		}},
		{"Redis Limiter (RateLimitAuthorize)", func(t *testing.T, f redisFault, p *tcpProxy, c *cell) {
			runRedisLimiter(t, f, p, direct, c)
		}},
	}
	var cells []cell
	for _, call := range calls {
		for _, f := range redisFaults() {
			c := cell{call: call.name, fault: "Redis " + f.name}
			runCell(t, &c, call.name+"/"+f.name, func(t *testing.T) {
				p := newTCPProxy(t, redisAddr)
				t.Cleanup(func() { _ = direct.ConfigSet(context.Background(), "maxmemory", "0").Err() })
				call.run(t, f, p, &c)
			})
			cells = append(cells, c)
		}
	}
	publish("1b fault matrix redis", matrixMarkdown("Fault matrix, Redis (redisstore: StoreOptions.Timeout and LimiterOptions.Timeout 200ms; go-redis ContextTimeoutEnabled, no retries)", cells))
}

// redisCheckoutApp is a checkout on a redisstore Store reached through p,
// with a CompletionWorker on it.
func redisCheckoutApp(t *testing.T, e *env, p *tcpProxy) *checkoutApp {
	t.Helper()
	store, err := redisstore.NewStore(redisClient(t, p.addr), redisstore.StoreOptions{
		Prefix: strings.ReplaceAll(t.Name(), "/", "_"), Timeout: redisTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	a := &checkoutApp{store: store}
	a.worker = fanfare.NewCompletionWorker(e.client, store, fanfare.CompletionWorkerOptions{
		// A completion claimed when Redis failed stays claimed for the
		// lease: a short one keeps the test short.
		Lease: time.Second, PollInterval: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: logger(),
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := a.worker.Close(ctx); err != nil {
			rec.err(err)
			t.Errorf("closing the worker: %v", err)
		}
	})
	h := fanfare.RequireAdmission(e.client, fanfare.AdmissionOptions{
		Distribution: queue, Store: store, Completions: a.worker, Clock: e.clock.Now, Logger: logger(),
	})(a.handler())
	app, hc := serve(t, h)
	a.url, a.hc = app.URL, hc
	return a
}

// waitDelivered waits (real time: Redis keeps its own clock) until the
// worker's outbox is empty and the emulator has the completion.
func waitDelivered(t *testing.T, e *env, a *checkoutApp, consumer string) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := a.store.Stats(context.Background())
		if err == nil && st.Pending == 0 && e.srv.Completed(queue, consumer) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("completion for %s not delivered after the fault cleared", consumer)
	return false
}

func runRedisCheckout(t *testing.T, f redisFault, p *tcpProxy, direct *redis.Client, c *cell) {
	e := newEnv(t, fanfaretest.Options{})
	a := redisCheckoutApp(t, e, p)
	tok := e.admit(queue, "cons_1")
	c.want = "503 ADMISSION_UNAVAILABLE, Retry-After: 5"
	f.apply(t, p, direct)
	res := a.checkout(t, tok)
	c.seen = fmt.Sprintf("%d %s, Retry-After: %s", res.Status, errorCode(res.Body), res.RetryAfter)
	// A validate call, and at most two Store calls (used? then hold).
	checkTook(t, c, res.Took, retried+2*redisTimeout)
	if res.Status != http.StatusServiceUnavailable || errorCode(res.Body) != "ADMISSION_UNAVAILABLE" || res.RetryAfter != "5" {
		t.Errorf("got %d %q Retry-After %q", res.Status, res.Body, res.RetryAfter)
	}
	c.admitted = fmt.Sprint(a.admitted.Load())
	if a.admitted.Load() != 0 {
		t.Error("admitted while the Store failed")
	}
	f.clear(t, p, direct)
	if res := a.checkout(t, tok); res.Status != http.StatusOK {
		t.Errorf("after the fault cleared: %d %q", res.Status, res.Body)
	}
	c.admitted += ", then 1 once cleared"
	c.completion = "LOST"
	if waitDelivered(t, e, a, "cons_1") {
		c.completion = "delivered"
	}
}

func runRedisOutbox(t *testing.T, f redisFault, p *tcpProxy, direct *redis.Client, c *cell) {
	e := newEnv(t, fanfaretest.Options{})
	a := redisCheckoutApp(t, e, p)
	tok := e.admit(queue, "cons_1")
	c.want = "200 (the order stands); the completion waits in Redis"
	// Fanfare refuses the completion, so it waits in the outbox; then Redis
	// fails while Fanfare recovers.
	e.srv.InjectFault(fanfaretest.EndpointComplete, fanfaretest.Fault{Status: http.StatusServiceUnavailable})
	res := a.checkout(t, tok)
	checkTook(t, c, res.Took, retried+100*time.Millisecond+2*redisTimeout)
	if res.Status != http.StatusOK {
		t.Fatalf("checkout: %d %q", res.Status, res.Body)
	}
	f.apply(t, p, direct)
	e.clearFaults()
	time.Sleep(3 * redisTimeout) // the worker polls a failing Redis meanwhile
	again := a.checkout(t, tok)
	// The replay's refusal depends on timing: 409 (used), 503 (the Store
	// is down) or 403 (Fanfare already has the completion).
	t.Logf("replay during the fault: %d %s", again.Status, errorCode(again.Body))
	c.seen = "200; a replay during the fault is refused"
	if again.Status == http.StatusOK || again.Status < 400 {
		c.seen = "200; a replay during the fault CHECKED OUT"
		t.Error("the admission checked out twice")
	}
	c.admitted = fmt.Sprint(a.admitted.Load())
	f.clear(t, p, direct)
	c.completion = "LOST"
	if waitDelivered(t, e, a, "cons_1") {
		c.completion = "delivered after Redis returned (a claimed one after its 1s lease)"
	}
	if a.admitted.Load() != 1 {
		t.Errorf("%d admitted with one admission", a.admitted.Load())
	}
}

func runRedisLimiter(t *testing.T, f redisFault, p *tcpProxy, direct *redis.Client, c *cell) {
	limiter, err := redisstore.NewLimiter(redisClient(t, p.addr), redisstore.LimiterOptions{
		Prefix: strings.ReplaceAll(t.Name(), "/", "_"), Timeout: redisTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	var reached int
	var mu sync.Mutex
	app, hc := serve(t, fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{Limiter: limiter, Logger: logger()})(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			reached++
			mu.Unlock()
			_, _ = w.Write([]byte(`{"ok":true}`))
		})))
	c.want, c.completion = `503 {"error":"Service unavailable"} (fails closed)`, "n/a"
	f.apply(t, p, direct)
	res := post(t, hc, app.URL, "")
	c.seen = fmt.Sprintf("%d %s", res.Status, res.Body)
	checkTook(t, c, res.Took, redisTimeout+slack)
	if res.Status != http.StatusServiceUnavailable || res.Body != `{"error":"Service unavailable"}` {
		t.Errorf("got %d %q", res.Status, res.Body)
	}
	mu.Lock()
	c.admitted = fmt.Sprintf("%d reached the handler", reached)
	if reached != 0 {
		t.Error("a request passed a failing limiter")
	}
	mu.Unlock()
	f.clear(t, p, direct)
	if res := post(t, hc, app.URL, ""); res.Status != http.StatusOK {
		t.Errorf("after the fault cleared: %d %q", res.Status, res.Body)
	}
}
