package otelfanfare_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/otelfanfare"
)

// TestMain fails the tests if any goroutine outlives them: a worker not
// closed, a connection left open.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// epoch is the start of every test's clock.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var queue = fanfare.Queue("q_drop")

// telemetry is an in-memory metrics reader and span exporter, and the
// options that send otelfanfare's figures to them.
type telemetry struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.InMemoryExporter
	tp     *sdktrace.TracerProvider
	opts   []otelfanfare.Option
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() {
		require.NoError(t, mp.Shutdown(context.Background()))
		require.NoError(t, tp.Shutdown(context.Background()))
	})
	return &telemetry{
		reader: reader, spans: spans, tp: tp,
		opts: []otelfanfare.Option{otelfanfare.WithMeterProvider(mp), otelfanfare.WithTracerProvider(tp)},
	}
}

// with returns the telemetry's options followed by more.
func (tel *telemetry) with(more ...otelfanfare.Option) []otelfanfare.Option {
	return append(append([]otelfanfare.Option(nil), tel.opts...), more...)
}

// metric collects and returns the metric called name, or false.
func (tel *telemetry) metric(t *testing.T, name string) (metricdata.Metrics, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				require.Equal(t, otelfanfare.ScopeName, sm.Scope.Name)
				require.Equal(t, otelfanfare.Version, sm.Scope.Version)
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// count is the value of counter name for exactly attrs; 0 when none.
func (tel *telemetry) count(t *testing.T, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	m, ok := tel.metric(t, name)
	if !ok {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is a %T, want a Sum[int64]", name, m.Data)
	require.True(t, sum.IsMonotonic, "%s is not monotonic", name)
	want := attribute.NewSet(attrs...)
	for _, dp := range sum.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Value
		}
	}
	return 0
}

// total is the sum of counter name over all its attribute sets.
func (tel *telemetry) total(t *testing.T, name string) int64 {
	t.Helper()
	m, ok := tel.metric(t, name)
	if !ok {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}

// observations is how many times histogram name recorded exactly attrs.
func (tel *telemetry) observations(t *testing.T, name string, attrs ...attribute.KeyValue) uint64 {
	t.Helper()
	m, ok := tel.metric(t, name)
	if !ok {
		return 0
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is a %T, want a Histogram[float64]", name, m.Data)
	want := attribute.NewSet(attrs...)
	for _, dp := range h.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Count
		}
	}
	return 0
}

// spanNamed returns the ended spans called name.
func (tel *telemetry) spansNamed(name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range tel.spans.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// attrs is a span's attributes as a map.
func attrs(kv []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kv))
	for _, a := range kv {
		m[a.Key] = a.Value
	}
	return m
}

// emulator starts a fanfaretest emulator on clock, closed with the test.
func emulator(t *testing.T, clock *fanfaretest.Clock) *fanfaretest.Server {
	t.Helper()
	srv := fanfaretest.NewServer(fanfaretest.Options{Clock: clock.Now})
	t.Cleanup(srv.Close)
	return srv
}

// client is a Fanfare client of srv whose calls tel measures. It makes one
// attempt per call, so that counts are exact.
func client(t *testing.T, srv *fanfaretest.Server, tel *telemetry) *fanfare.Client {
	t.Helper()
	cfg := srv.Config()
	cfg.HTTPClient = otelfanfare.HTTPClient(tel.opts...)
	cfg.AttemptTimeout = 2 * time.Second
	cfg.Retry = fanfare.RetryPolicy{MaxAttempts: 1}
	t.Cleanup(cfg.HTTPClient.CloseIdleConnections)
	c, err := fanfare.NewClient(cfg)
	require.NoError(t, err)
	return c
}

// checkout posts to app with token in the admission header and returns the
// status and the refusal code, if any.
func checkout(t *testing.T, app *httptest.Server, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, app.URL+"/checkout", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Fanfare-Admission", token)
	}
	resp, err := app.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Code string `json:"code"`
	}
	if resp.StatusCode >= 400 {
		_ = json.NewDecoder(resp.Body).Decode(&body)
	}
	return resp.StatusCode, body.Code
}
