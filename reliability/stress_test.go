package reliability

// Concurrency: many goroutines against the single-use guard, the outbox and
// the limiter, on an injected clock, under the race detector (make
// reliability runs with -race). In memory, and on a shared Redis across
// instances.

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/redisstore"
)

// spendAll sends perToken concurrent checkouts of each token, spread over
// the apps (instances), and returns how many answers of each status came.
func spendAll(t *testing.T, apps []*checkoutApp, tokens []string, perToken int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[int]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, tok := range tokens {
		for i := range perToken {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				app := apps[i%len(apps)]
				req, _ := http.NewRequest(http.MethodPost, app.url, nil)
				req.Header.Set("Fanfare-Admission", tok)
				resp, err := app.hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				counts[resp.StatusCode]++
				mu.Unlock()
			}()
		}
	}
	close(start)
	wg.Wait()
	return counts
}

// slowCheckout makes every admitted checkout take a while, so that the
// concurrent requests of one admission overlap.
func slowCheckout(a *checkoutApp) {
	a.delay = 20 * time.Millisecond
}

func TestStressSingleUseInMemory(t *testing.T) {
	e := newEnvTimeout(t, fanfaretest.Options{}, 5*time.Second)
	a := newCheckoutApp(t, e, fanfare.AdmissionOptions{})
	slowCheckout(a)
	const consumers, perToken = 20, 8
	tokens := make([]string, consumers)
	for i := range tokens {
		tokens[i] = e.admit(queue, fmt.Sprintf("cons_%d", i))
	}
	counts := spendAll(t, []*checkoutApp{a}, tokens, perToken)
	if counts[http.StatusOK] != consumers || counts[http.StatusConflict] != consumers*(perToken-1) {
		t.Errorf("answers %v, want %d × 200 and %d × 409", counts, consumers, consumers*(perToken-1))
	}
	if n := a.admitted.Load(); n != consumers {
		t.Errorf("%d checkouts for %d admissions", n, consumers)
	}
	for i := range consumers {
		waitCompleted(t, e, a, queue, fmt.Sprintf("cons_%d", i))
	}
	publish("3 stress memory", fmt.Sprintf("stress, in memory: %d admissions × %d concurrent checkouts: %v; every completion delivered", consumers, perToken, counts))
}

func TestStressSingleUseAcrossInstances(t *testing.T) {
	redisAddr := startRedis(t)
	e := newEnvTimeout(t, fanfaretest.Options{}, 5*time.Second)
	const instances, consumers, perToken = 3, 15, 9
	var apps []*checkoutApp
	for range instances {
		// Each instance has its own Redis client, Store and worker, as
		// separate processes would; they share the Store's prefix.
		store, err := redisstore.NewStore(redisClient(t, redisAddr), redisstore.StoreOptions{Prefix: "stress", Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		a := &checkoutApp{store: store}
		a.worker = fanfare.NewCompletionWorker(e.client, store, fanfare.CompletionWorkerOptions{
			Lease: time.Second, PollInterval: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: logger(),
		})
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			rec.err(a.worker.Close(ctx))
		})
		h := fanfare.RequireAdmission(e.client, fanfare.AdmissionOptions{
			Distribution: queue, Store: store, Completions: a.worker, Clock: e.clock.Now, Logger: logger(),
		})(a.handler())
		app, hc := serve(t, h)
		a.url, a.hc = app.URL, hc
		slowCheckout(a)
		apps = append(apps, a)
	}
	// A third of the completions fail at first: the outbox retries them.
	e.srv.InjectFault(fanfaretest.EndpointComplete, fanfaretest.Fault{Status: http.StatusServiceUnavailable, Fraction: 0.3})
	tokens := make([]string, consumers)
	for i := range tokens {
		tokens[i] = e.admit(queue, fmt.Sprintf("cons_%d", i))
	}
	counts := spendAll(t, apps, tokens, perToken)
	var admitted int64
	for _, a := range apps {
		admitted += a.admitted.Load()
	}
	if counts[http.StatusOK] != consumers || admitted != consumers {
		t.Errorf("answers %v, %d admitted, want one 200 per admission (%d) across %d instances", counts, admitted, consumers, instances)
	}
	e.clearFaults()
	for i := range consumers {
		waitDelivered(t, e, apps[0], fmt.Sprintf("cons_%d", i))
	}
	publish("3 stress redis", fmt.Sprintf("stress, %d instances on one Redis: %d admissions × %d concurrent checkouts: %v; every completion delivered (30%% of first attempts failed)",
		instances, consumers, perToken, counts))
}

func TestStressOutbox(t *testing.T) {
	e := newEnvTimeout(t, fanfaretest.Options{AdmissionTTL: 24 * time.Hour}, 5*time.Second) // the clock races on
	store := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: e.clock.Now})
	const n = 300
	for i := range n {
		e.admit(queue, fmt.Sprintf("cons_%d", i)) // Fanfare knows them
	}
	var givenUp atomic.Int64
	var workers []*fanfare.CompletionWorker
	for range 3 {
		w := fanfare.NewCompletionWorker(e.client, store, fanfare.CompletionWorkerOptions{
			PollInterval: 5 * time.Millisecond, MaxBackoff: 4 * time.Second, Clock: e.clock.Now, Logger: logger(),
			OnGiveUp: func(fanfare.Completion, error) { givenUp.Add(1) },
		})
		workers = append(workers, w)
	}
	e.srv.InjectFault(fanfaretest.EndpointComplete, fanfaretest.Fault{Status: http.StatusServiceUnavailable, Fraction: 0.5})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("%s:cons_%d", queue, i)
			c := &fanfare.Completion{ID: key, Distribution: queue, ConsumerID: fmt.Sprintf("cons_%d", i)}
			if err := store.MarkUsed(context.Background(), key, time.Hour, c); err != nil {
				t.Error(err)
			}
		}()
	}
	// The clock moves on while the workers deliver, so backoffs come due.
	stop := make(chan struct{})
	var ticker sync.WaitGroup
	ticker.Add(1)
	go func() {
		defer ticker.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				e.clock.Advance(10 * time.Second)
			}
		}
	}()
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := store.Stats(context.Background())
		if err == nil && st.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d completions", st.Pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	ticker.Wait()
	for _, w := range workers {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		rec.err(w.Close(ctx))
		cancel()
	}
	missing := 0
	for i := range n {
		if !e.srv.Completed(queue, fmt.Sprintf("cons_%d", i)) {
			missing++
		}
	}
	if missing != 0 || givenUp.Load() != 0 {
		t.Errorf("%d of %d completions never reached Fanfare, %d given up", missing, n, givenUp.Load())
	}
	publish("3 stress outbox", fmt.Sprintf("stress, outbox: %d completions recorded concurrently, 3 workers, half the attempts failing: %d delivered, 0 pending", n, n-missing))
}

func TestStressLimiter(t *testing.T) {
	clock := fanfaretest.NewClock(epoch)
	limiters := map[string][]fanfare.Limiter{
		"memory": {fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Clock: clock.Now})},
	}
	if addr, ok := redisAddrForStress(t); ok {
		var rl []fanfare.Limiter
		for range 3 { // three instances sharing one Redis
			l, err := redisstore.NewLimiter(redisClient(t, addr), redisstore.LimiterOptions{Prefix: "stress", Clock: clock.Now, Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			rl = append(rl, l)
		}
		limiters["redis, 3 instances"] = rl
	}
	var report []string
	for name, ls := range limiters {
		for window := range 3 {
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for g := range 48 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 10 {
						d, err := ls[g%len(ls)].Allow(context.Background(), "victim")
						if err != nil {
							t.Error(err)
							return
						}
						if d.Allowed {
							allowed.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			if allowed.Load() != 10 {
				t.Errorf("%s, window %d: %d allowed of 480, want 10", name, window, allowed.Load())
			}
			clock.Advance(61 * time.Second)
		}
		report = append(report, name)
	}
	publish("3 stress limiter", fmt.Sprintf("stress, limiter (%v): 48 goroutines × 10 requests on one key, three windows: exactly 10 allowed in each", report))
}

// redisAddrForStress starts Redis when redis-server is installed.
func redisAddrForStress(t *testing.T) (string, bool) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Log("redis-server is not installed: the limiter runs in memory only")
		return "", false
	}
	return startRedis(t), true
}
