package redisstore_test

import (
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

// TestRequireAdmissionAcrossInstances: two instances of a checkout share a
// Redis store. One admission sent to both at once buys one order; with
// Redis down a checkout is refused with 503 and its handler never runs;
// once Redis is back the admission is still used.
func TestRequireAdmissionAcrossInstances(t *testing.T) {
	emu := fanfaretest.NewServer(fanfaretest.Options{})
	t.Cleanup(emu.Close)
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	drop := fanfare.Queue("q_drop")

	var orders atomic.Int32
	instance := func() http.Handler {
		rdb := srv.ClientWith(t, &redis.Options{ContextTimeoutEnabled: true, MaxRetries: 1})
		store, err := redisstore.NewStore(rdb, redisstore.StoreOptions{Prefix: "shop", Timeout: 500 * time.Millisecond})
		require.NoError(t, err)
		return fanfare.RequireAdmission(emu.Client(), fanfare.AdmissionOptions{Distribution: drop, Store: store})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				orders.Add(1)
				time.Sleep(20 * time.Millisecond) // a checkout takes a while
			}))
	}
	instances := []http.Handler{instance(), instance()}
	checkout := func(h http.Handler, token string) int {
		req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
		req.Header.Set("Fanfare-Admission", token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}

	token := emu.Admit(drop, "cons_1")
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if checkout(instances[i%2], token) == http.StatusOK {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), ok.Load(), "checkouts answered 200")
	assert.Equal(t, int32(1), orders.Load(), "orders placed")

	srv.Kill()
	other := emu.Admit(drop, "cons_2")
	assert.Equal(t, http.StatusServiceUnavailable, checkout(instances[0], other), "Redis down")
	// Refused either way: Fanfare knows it completed (403), or the store
	// cannot say (503).
	assert.Contains(t, []int{http.StatusForbidden, http.StatusServiceUnavailable}, checkout(instances[1], token), "Redis down, a used admission")
	assert.Equal(t, int32(1), orders.Load(), "orders placed while Redis was down")

	srv.Restart()
	assert.Equal(t, http.StatusConflict, checkout(instances[1], token), "the used admission after the restart")
	assert.Equal(t, http.StatusOK, checkout(instances[0], other), "a fresh admission after the restart")
	assert.Equal(t, int32(2), orders.Load())
}
