package otelfanfare_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/otelfanfare"
)

// gauge is the value of gauge name with no attributes but the configured
// ones; false when it reported nothing.
func gauge[N int64 | float64](t *testing.T, tel *telemetry, name string, attrs ...attribute.KeyValue) (N, bool) {
	t.Helper()
	m, ok := tel.metric(t, name)
	if !ok {
		return 0, false
	}
	g, ok := m.Data.(metricdata.Gauge[N])
	require.True(t, ok, "%s is a %T", name, m.Data)
	want := attribute.NewSet(attrs...)
	for _, dp := range g.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Value, true
		}
	}
	return 0, false
}

func TestCompletionsBacklogAndGiveUp(t *testing.T) {
	tel := newTelemetry(t)
	clock := fanfaretest.NewClock(epoch)
	srv := emulator(t, clock)
	c := client(t, srv, tel)
	store := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: clock.Now})

	var mu sync.Mutex
	var gaveUp []fanfare.Completion
	worker := fanfare.NewCompletionWorker(c, store, otelfanfare.Completions(fanfare.CompletionWorkerOptions{
		Clock:        clock.Now,
		PollInterval: 5 * time.Millisecond,
		OnGiveUp: func(comp fanfare.Completion, err error) {
			mu.Lock()
			defer mu.Unlock()
			gaveUp = append(gaveUp, comp)
		},
	}, tel.opts...))
	t.Cleanup(func() { _ = worker.Close(context.Background()) })
	org := attribute.String("fanfare.org", "shop")
	reg, err := otelfanfare.ObserveCompletions(store, tel.with(otelfanfare.WithClock(clock.Now), otelfanfare.WithAttributes(org))...)
	require.NoError(t, err)

	pending, ok := gauge[int64](t, tel, "fanfare.completions.pending", org)
	require.True(t, ok)
	assert.Zero(t, pending)
	age, _ := gauge[float64](t, tel, "fanfare.completions.oldest_age", org)
	assert.Zero(t, age)

	// Fanfare cannot take the completion: it waits in the outbox.
	srv.InjectFault(fanfaretest.EndpointComplete, fanfaretest.Fault{Status: http.StatusServiceUnavailable})
	app := checkoutApp(t, tel, c, fanfare.AdmissionOptions{
		Distribution: queue, Clock: clock.Now, Store: store, Completions: worker,
	})
	status, _ := checkout(t, app, srv.Admit(queue, "c_1"))
	require.Equal(t, http.StatusOK, status)
	require.Eventually(t, func() bool { return srv.Calls(fanfaretest.EndpointComplete) >= 2 },
		5*time.Second, time.Millisecond, "the quick attempt, then the worker's")

	clock.Advance(90 * time.Second)
	pending, _ = gauge[int64](t, tel, "fanfare.completions.pending", org)
	assert.Equal(t, int64(1), pending)
	age, _ = gauge[float64](t, tel, "fanfare.completions.oldest_age", org)
	assert.Equal(t, 90.0, age)

	// Fanfare no longer knows the admission: the worker gives up.
	srv.InjectFault(fanfaretest.EndpointComplete, fanfaretest.Fault{Status: http.StatusNotFound})
	require.Eventually(t, func() bool {
		clock.Advance(time.Minute) // past any backoff
		mu.Lock()
		defer mu.Unlock()
		return len(gaveUp) == 1
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, queue, gaveUp[0].Distribution, "the user's OnGiveUp still runs")

	assert.Equal(t, int64(1), tel.count(t, "fanfare.completions.given_up",
		attribute.String("fanfare.distribution.type", "queue"), attribute.String("error.type", "404")))
	pending, _ = gauge[int64](t, tel, "fanfare.completions.pending", org)
	assert.Zero(t, pending)
	age, _ = gauge[float64](t, tel, "fanfare.completions.oldest_age", org)
	assert.Zero(t, age)
	assert.GreaterOrEqual(t, tel.count(t, errs, callError("complete", "5xx", "503")...), int64(2))
	assert.Equal(t, int64(1), tel.count(t, errs, callError("complete", "4xx", "404")...))

	require.NoError(t, reg.Unregister())
	_, ok = gauge[int64](t, tel, "fanfare.completions.pending", org)
	assert.False(t, ok, "nothing reported once unregistered")
}

func TestObserveCompletionsNilOutbox(t *testing.T) {
	_, err := otelfanfare.ObserveCompletions(nil)
	require.Error(t, err)
}

func TestCompletionsGiveUpReasons(t *testing.T) {
	tel := newTelemetry(t)
	opts := otelfanfare.Completions(fanfare.CompletionWorkerOptions{}, tel.opts...)
	opts.OnGiveUp(fanfare.Completion{Distribution: fanfare.Draw("d_1")}, &fanfare.APIError{StatusCode: 410})
	opts.OnGiveUp(fanfare.Completion{Distribution: fanfare.Auction("a_1")}, errors.Join(fanfare.ErrUnavailable))
	opts.OnGiveUp(fanfare.Completion{Distribution: fanfare.Distribution{Type: "raffle", ID: "r"}}, errors.New("boom"))

	for _, want := range [][2]string{{"draw", "410"}, {"auction", "unavailable"}, {"other", "_OTHER"}} {
		assert.Equal(t, int64(1), tel.count(t, "fanfare.completions.given_up",
			attribute.String("fanfare.distribution.type", want[0]), attribute.String("error.type", want[1])), want)
	}
}
