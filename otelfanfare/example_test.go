package otelfanfare_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/otelfanfare"
)

// A checkout measured end to end: the Fanfare calls through the client's
// transport, the admission decisions through the middleware's hooks.
func Example() {
	ctx := context.Background()
	// In production, leave the providers out to use the global ones
	// (otel.SetMeterProvider), fed to Prometheus or an OTLP collector.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	telemetry := otelfanfare.WithMeterProvider(mp)

	fanfareAPI := fanfaretest.NewServer(fanfaretest.Options{}) // stands in for Fanfare
	defer fanfareAPI.Close()

	cfg := fanfareAPI.Config() // fanfare.ConfigFromEnv() in production
	cfg.HTTPClient = otelfanfare.HTTPClient(telemetry)
	defer cfg.HTTPClient.CloseIdleConnections()
	client, err := fanfare.NewClient(cfg)
	if err != nil {
		log.Fatal(err)
	}
	opts := otelfanfare.Admission(fanfare.AdmissionOptions{Distribution: fanfare.Queue("q_drop")}, telemetry)
	checkout := fanfare.RequireAdmission(client, opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "order placed")
	}))

	// A consumer checks out, then tries the same admission again.
	token := fanfareAPI.Admit(fanfare.Queue("q_drop"), "c_1")
	for range 2 {
		req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
		req.Header.Set("Fanfare-Admission", token)
		rec := httptest.NewRecorder()
		checkout.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					lines = append(lines, fmt.Sprintf("%s{%s} %d", m.Name, labels(dp.Attributes.ToSlice()), dp.Value))
				}
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					lines = append(lines, fmt.Sprintf("%s{%s} count=%d", m.Name, labels(dp.Attributes.ToSlice()), dp.Count))
				}
			}
		}
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// 200
	// 409
	// fanfare.admission.refusals{fanfare.refusal.code=ADMISSION_USED} 1
	// fanfare.admissions{fanfare.admission.validated=true,fanfare.distribution.type=queue} 1
	// fanfare.client.call.duration{fanfare.endpoint=complete,fanfare.status_class=2xx} count=1
	// fanfare.client.call.duration{fanfare.endpoint=validate,fanfare.status_class=2xx} count=2
}

func labels(kv []attribute.KeyValue) string {
	s := make([]string, len(kv))
	for i, a := range kv {
		s[i] = string(a.Key) + "=" + a.Value.String()
	}
	return strings.Join(s, ",")
}

// Run a completion worker of your own to measure the outbox: its backlog as
// gauges, and the completions it gives up as a counter.
func ExampleObserveCompletions() {
	client, err := fanfare.NewClient(fanfare.ConfigFromEnv())
	if err != nil {
		log.Fatal(err)
	}
	store := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}) // or redisstore's
	worker := fanfare.NewCompletionWorker(client, store, otelfanfare.Completions(fanfare.CompletionWorkerOptions{}))
	defer worker.Close(context.Background())
	reg, err := otelfanfare.ObserveCompletions(store)
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()

	opts := otelfanfare.Admission(fanfare.AdmissionOptions{
		Distribution: fanfare.Queue("q_drop"),
		Store:        store,
		Completions:  worker,
	})
	_ = fanfare.RequireAdmission(client, opts)
}

// Count the decisions of the authorize endpoint's rate limiter.
func ExampleLimiter() {
	limiter := otelfanfare.Limiter(fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{}))
	_ = fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{Limiter: limiter})
}
