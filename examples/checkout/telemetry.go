package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprometheus "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/waitify-io/fanfare-go/otelfanfare"
)

// telemetryMode is the value of -telemetry: where the OpenTelemetry
// metrics and spans of otelfanfare go. Set refuses anything else, so that
// flag parsing reports a bad value (exit 2).
type telemetryMode string

const (
	telemetryOff        telemetryMode = ""
	telemetryStdout     telemetryMode = "stdout"
	telemetryPrometheus telemetryMode = "prometheus"
)

func (m *telemetryMode) String() string { return string(*m) }

func (m *telemetryMode) Set(s string) error {
	switch v := telemetryMode(s); v {
	case telemetryOff, telemetryStdout, telemetryPrometheus:
		*m = v
		return nil
	}
	return errors.New(`want "stdout", "prometheus", or "" (off)`)
}

// metricsInterval is how often -telemetry stdout prints the metrics; they
// are printed once more on shutdown.
const metricsInterval = 10 * time.Second

// telemetry is what -telemetry set up: the OpenTelemetry SDK's providers,
// passed to every otelfanfare wrapper as options.
type telemetry struct {
	// options name the providers to otelfanfare. Empty when off: the
	// instrumentation then reports to OpenTelemetry's global providers,
	// which record nothing unless something sets them (nothing here does).
	options []otelfanfare.Option
	// metrics serves the Prometheus exposition (-telemetry prometheus);
	// nil otherwise.
	metrics http.Handler
	// stop flushes what is buffered and stops the providers.
	stop func(context.Context) error

	once sync.Once
	err  error
}

// shutdown stops the providers once, and returns what stopping them
// returned every time it is called.
func (t *telemetry) shutdown(ctx context.Context) error {
	t.once.Do(func() { t.err = t.stop(ctx) })
	return t.err
}

// newTelemetry sets up the SDK for mode:
//
//   - stdout: spans printed to w as each ends, and metrics every
//     metricsInterval and on shutdown, one JSON document a line;
//   - prometheus: metrics only, served by the returned handler in the
//     Prometheus text format from a registry of their own;
//   - off: nothing.
func newTelemetry(mode telemetryMode, w io.Writer) (*telemetry, error) {
	res := resource.NewSchemaless(attribute.String("service.name", "fanfare-checkout-example"))
	switch mode {
	case telemetryStdout:
		spans, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, err
		}
		metrics, err := stdoutmetric.New(stdoutmetric.WithWriter(w))
		if err != nil {
			return nil, err
		}
		// WithSyncer: each span is printed as it ends (a batcher suits a
		// real collector better).
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans), sdktrace.WithResource(res))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics, sdkmetric.WithInterval(metricsInterval))))
		return &telemetry{
			options: []otelfanfare.Option{otelfanfare.WithMeterProvider(mp), otelfanfare.WithTracerProvider(tp)},
			stop: func(ctx context.Context) error {
				return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx)) // the meter provider's last collection prints the final metrics
			},
		}, nil
	case telemetryPrometheus:
		reg := prometheus.NewRegistry() // not the global one: each run of the shop starts from zero
		exporter, err := otelprometheus.New(otelprometheus.WithRegisterer(reg))
		if err != nil {
			return nil, err
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(exporter))
		return &telemetry{
			options: []otelfanfare.Option{otelfanfare.WithMeterProvider(mp)},
			metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			stop:    mp.Shutdown,
		}, nil
	case telemetryOff:
		return &telemetry{stop: func(context.Context) error { return nil }}, nil
	}
	return nil, fmt.Errorf("unknown -telemetry %q", mode)
}
