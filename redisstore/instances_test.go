package redisstore_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/redisstore"
	"github.com/waitify-io/fanfare-go/redisstore/internal/redistest"
)

// shopInstance is one process of a shop behind a load balancer: its own
// client, guard, rate limiter and completion worker, sharing one Redis with
// the others.
type shopInstance struct {
	url    string
	store  *redisstore.Store
	worker *fanfare.CompletionWorker
}

func startInstances(t *testing.T, n int, emu *fanfaretest.Server, srv *redistest.Server, orders *atomic.Int32) []*shopInstance {
	t.Helper()
	drop := fanfare.Queue("q_drop")
	var out []*shopInstance
	for range n {
		rdb := srv.ClientWith(t, &redis.Options{ContextTimeoutEnabled: true, MaxRetries: 1})
		store, err := redisstore.NewStore(rdb, redisstore.StoreOptions{Prefix: "shop", Timeout: 5 * time.Second})
		require.NoError(t, err)
		limiter, err := redisstore.NewLimiter(rdb, redisstore.LimiterOptions{Prefix: "shop"})
		require.NoError(t, err)
		client := emu.Client()
		worker := fanfare.NewCompletionWorker(client, store, fanfare.CompletionWorkerOptions{
			PollInterval: 10 * time.Millisecond, Lease: time.Second,
		})
		mux := http.NewServeMux()
		mux.Handle("POST /checkout", fanfare.RequireAdmission(client, fanfare.AdmissionOptions{
			Distribution: drop, Store: store, Completions: worker,
		})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			orders.Add(1)
		})))
		mux.Handle("POST /authorize", fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{Limiter: limiter})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
		hs := httptest.NewServer(mux)
		t.Cleanup(hs.Close)
		inst := &shopInstance{url: hs.URL, store: store, worker: worker}
		t.Cleanup(func() { _ = worker.Close(context.Background()) })
		out = append(out, inst)
	}
	return out
}

func post(t *testing.T, url, token string, header ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Fanfare-Admission", token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestManyInstances: three shop instances over HTTP share one Redis. One
// admission sent 500 times at once across them buys one order and is
// completed once; the authorize rate limit holds across them; a completion
// that Fanfare refused while one instance's worker was dropped is delivered
// by another instance once Fanfare recovers.
func TestManyInstances(t *testing.T) {
	emu := fanfaretest.NewServer(fanfaretest.Options{})
	t.Cleanup(emu.Close)
	srv := redistest.Start(t, "--appendonly", "yes")
	var orders atomic.Int32
	shops := startInstances(t, 3, emu, srv, &orders)
	drop := fanfare.Queue("q_drop")

	t.Run("one admission, 500 concurrent checkouts", func(t *testing.T) {
		token := emu.Admit(drop, "cons_many")
		const n = 500
		var wg sync.WaitGroup
		statuses := make(chan int, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses <- post(t, shops[i%len(shops)].url+"/checkout", token)
			}()
		}
		close(start)
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		assert.Equal(t, 1, count[http.StatusOK], "2xx answers: %v", count)
		assert.Equal(t, n-1, count[http.StatusConflict], "409 answers: %v", count)
		assert.Equal(t, int32(1), orders.Load(), "orders placed")
		completions := 0
		for _, c := range emu.Completions() {
			if c.ConsumerID == "cons_many" {
				completions++
			}
		}
		assert.Equal(t, 1, completions, "completions at Fanfare")
	})

	t.Run("the rate limit holds across instances", func(t *testing.T) {
		allowed := 0
		for i := range 30 {
			// A spoofed X-Forwarded-For changes nothing: no proxy is trusted.
			if post(t, shops[i%len(shops)].url+"/authorize", "", "X-Forwarded-For", fmt.Sprint("203.0.113.", i)) == http.StatusOK {
				allowed++
			}
		}
		assert.Equal(t, 10, allowed, "authorize requests let through by three instances together")
	})

	t.Run("a dropped worker's completion is delivered by another instance", func(t *testing.T) {
		emu.InjectFault(fanfaretest.EndpointComplete, fanfaretest.Fault{Status: 503})
		token := emu.Admit(drop, "cons_outage")
		start := time.Now()
		require.Equal(t, http.StatusOK, post(t, shops[0].url+"/checkout", token))
		assert.Less(t, time.Since(start), time.Second, "the consumer does not wait for Fanfare")
		// Instance 0 dies: its worker stops without delivering anything.
		dead, cancel := context.WithCancel(context.Background())
		cancel()
		require.Error(t, shops[0].worker.Close(dead), "its completion is still pending")
		emu.ClearFaults()
		require.Eventually(t, func() bool {
			return emu.Completed(drop, "cons_outage")
		}, 15*time.Second, 20*time.Millisecond, "another instance delivered the completion")
		assert.Equal(t, http.StatusConflict, post(t, shops[1].url+"/checkout", token), "and the admission stays used")
		// Fanfare records the completion before the worker that sent it hears
		// the answer and removes the job, so the outbox empties a moment later.
		var st fanfare.OutboxStats
		assert.Eventually(t, func() bool {
			var err error
			st, err = shops[2].store.Stats(context.Background())
			return err == nil && st.Pending == 0
		}, 5*time.Second, 10*time.Millisecond, "pending completions: %+v", &st)
	})
}
