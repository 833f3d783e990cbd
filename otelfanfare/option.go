package otelfanfare

import (
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every meter and tracer of the
// package: the package's import path.
const ScopeName = "github.com/waitify-io/fanfare-go/otelfanfare"

// Version is the version of this module, the instrumentation scope's version.
const Version = "0.2.0"

// Option configures the instrumentation of [Transport], [HTTPClient],
// [Admission], [Completions], [ObserveCompletions] and [Limiter]. Each
// function takes the options it needs and ignores the others.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithMeterProvider sets the MeterProvider the instruments come from. A nil
// provider is ignored. Default: otel.GetMeterProvider(), the global one,
// looked up when the instrumentation is built (a global set later is still
// used: the global provider delegates).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.meterProvider = mp
		}
	})
}

// WithTracerProvider sets the TracerProvider the spans of [Transport] come
// from. A nil provider is ignored. Default: otel.GetTracerProvider(), the
// global one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		if tp != nil {
			c.tracerProvider = tp
		}
	})
}

// WithAttributes adds attributes to every measurement and span, e.g. to tell
// apart the completion workers of two organizations observed in one process.
// Never pass anything secret or unbounded (a consumer id, a token): every
// distinct set of attributes is a time series of its own.
func WithAttributes(kv ...attribute.KeyValue) Option {
	kv = append([]attribute.KeyValue(nil), kv...)
	return optionFunc(func(c *config) { c.attrs = append(c.attrs, kv...) })
}

// WithClock sets the clock [ObserveCompletions] tells the age of the oldest
// pending completion by; pass the CompletionWorker's own clock. A nil clock
// is ignored. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.clock = now
		}
	})
}

type config struct {
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	attrs          []attribute.KeyValue
	clock          func() time.Time
}

func newConfig(opts []Option) *config {
	c := &config{clock: time.Now}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	if c.tracerProvider == nil {
		c.tracerProvider = otel.GetTracerProvider()
	}
	return c
}

func (c *config) meter() metric.Meter {
	return c.meterProvider.Meter(ScopeName,
		metric.WithInstrumentationVersion(Version),
		metric.WithSchemaURL(semconv.SchemaURL))
}

func (c *config) tracer() trace.Tracer {
	return c.tracerProvider.Tracer(ScopeName,
		trace.WithInstrumentationVersion(Version),
		trace.WithSchemaURL(semconv.SchemaURL))
}

// set is an attribute set of kv and the configured attributes, built once
// so that recording a measurement allocates nothing.
func (c *config) set(kv ...attribute.KeyValue) attribute.Set {
	all := make([]attribute.KeyValue, 0, len(kv)+len(c.attrs))
	all = append(all, c.attrs...)
	all = append(all, kv...) // ours win over a configured attribute of the same key
	return attribute.NewSet(all...)
}

// handle reports an error creating an instrument to the global OpenTelemetry
// error handler, as OpenTelemetry's own instrumentation does; the instrument
// returned with it still works (or does nothing).
func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

// Attribute keys of the package.
const (
	// keyEndpoint is the Fanfare endpoint called: authorize, validate,
	// complete, jwks, or other.
	keyEndpoint = attribute.Key("fanfare.endpoint")
	// keyStatusClass is the class of the answer's status: 1xx to 5xx, or
	// no_response.
	keyStatusClass = attribute.Key("fanfare.status_class")
	// keyDistributionType is queue, draw or auction.
	keyDistributionType = attribute.Key("fanfare.distribution.type")
	// keyDistributionID is the distribution's id, on spans only: a request
	// can name any id, so it would make metrics unbounded.
	keyDistributionID = attribute.Key("fanfare.distribution.id")
	// keyValidated says whether Fanfare confirmed an admission.
	keyValidated = attribute.Key("fanfare.admission.validated")
	// keyRefusalCode is the AdmissionError's code, e.g. ADMISSION_INVALID.
	keyRefusalCode = attribute.Key("fanfare.refusal.code")
	// keyDecision is a limiter's decision: allowed, denied or error.
	keyDecision = attribute.Key("fanfare.limiter.decision")
)
