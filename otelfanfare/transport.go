package otelfanfare

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	fanfare "github.com/waitify-io/fanfare-go"
)

// Endpoints a call is counted under (the fanfare.endpoint attribute).
const (
	EndpointAuthorize = "authorize" // POST .../auth/external/authorize
	EndpointValidate  = "validate"  // POST .../{queues|draws|auctions}/{id}/validate
	EndpointComplete  = "complete"  // POST .../{queues|draws|auctions}/{id}/complete
	EndpointJWKS      = "jwks"      // any GET: the JWKS verifier's key-set fetch
	EndpointOther     = "other"     // anything else
)

// endpoints are the values of fanfare.endpoint, indexed by endpoint.
var endpoints = [...]string{EndpointAuthorize, EndpointValidate, EndpointComplete, EndpointJWKS, EndpointOther}

const (
	epAuthorize = iota
	epValidate
	epComplete
	epJWKS
	epOther
)

// statusClasses are the values of fanfare.status_class, indexed by class:
// 0 when no answer came, else the status's first digit.
var statusClasses = [...]string{"no_response", "1xx", "2xx", "3xx", "4xx", "5xx"}

// durationBuckets are the bucket bounds, in seconds, OpenTelemetry's HTTP
// semantic conventions advise for request durations.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// maxIDAttr bounds the distribution id recorded on a span.
const maxIDAttr = 128

// Transport returns base wrapped to trace and measure every Fanfare call:
// set it as the transport of fanfare.Config.HTTPClient (and of
// fanfare.JWKSOptions.HTTPClient). A nil base is a clone of
// http.DefaultTransport keeping up to 512 idle connections per host, as
// fanfare's default client does (or http.DefaultTransport itself when an
// instrumentation has wrapped it).
//
// Each HTTP attempt (the client's retries are attempts of their own) gets a
// client span, a child of the span in the request's context, named after
// the endpoint ("fanfare.validate"), and is measured from the start of the
// request until its response body is read or closed:
//
//   - fanfare.client.call.duration (histogram, s): every attempt, with
//     fanfare.endpoint and fanfare.status_class (2xx … 5xx, or no_response);
//   - fanfare.client.call.errors (counter): attempts that got no answer or
//     an answer outside 2xx, with fanfare.endpoint, fanfare.status_class and
//     error.type (the status code, or timeout, canceled, network,
//     response_body).
//
// The endpoint is read from the path: …/auth/external/authorize,
// …/{queues|draws|auctions}/{id}/validate or …/complete; any other GET is
// the JWKS fetch (the client makes none other); the rest is "other". Spans
// also carry the distribution's type and id, the method, the server's
// address and port, and the status code. No header (the X-Secret-Key least
// of all), no body, no token, no URL and no error text is recorded; the
// request is passed on unchanged (no trace context is sent to Fanfare).
func Transport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
		if t, ok := base.(*http.Transport); ok { // not wrapped (by otelhttp, say)
			t = t.Clone()
			t.MaxIdleConns, t.MaxIdleConnsPerHost = 1024, 512
			base = t
		}
	}
	c := newConfig(opts)
	m := c.meter()
	t := &transport{base: base, tracer: c.tracer(), attrs: c.attrs}
	var err error
	t.duration, err = m.Float64Histogram("fanfare.client.call.duration",
		metric.WithDescription("Duration of HTTP calls to the Fanfare API, until the response body is read."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	handle(err)
	t.errors, err = m.Int64Counter("fanfare.client.call.errors",
		metric.WithDescription("HTTP calls to the Fanfare API that got no answer or an answer outside 2xx."),
		metric.WithUnit("{call}"))
	handle(err)
	for e := range endpoints {
		for s := range statusClasses {
			t.sets[e][s] = c.set(keyEndpoint.String(endpoints[e]), keyStatusClass.String(statusClasses[s]))
		}
	}
	return t
}

// HTTPClient returns an *http.Client whose transport is
// Transport(nil, opts...), for fanfare.Config.HTTPClient.
// It has no overall timeout: the Fanfare client bounds each attempt itself.
// For fanfare.JWKSOptions.HTTPClient set one (the default JWKS client's is
// 10s).
func HTTPClient(opts ...Option) *http.Client {
	return &http.Client{Transport: Transport(nil, opts...)}
}

type transport struct {
	base     http.RoundTripper
	tracer   trace.Tracer
	attrs    []attribute.KeyValue
	duration metric.Float64Histogram
	errors   metric.Int64Counter
	sets     [len(endpoints)][len(statusClasses)]attribute.Set
}

// CloseIdleConnections closes the idle connections of the base transport,
// so that http.Client.CloseIdleConnections reaches it.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// call is one attempt in flight.
type call struct {
	t        *transport
	ctx      context.Context
	span     trace.Span
	endpoint int
	start    time.Time
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ep, dist := classify(r)
	attrs := make([]attribute.KeyValue, 0, 8+len(t.attrs))
	attrs = append(attrs, t.attrs...)
	attrs = append(attrs,
		keyEndpoint.String(endpoints[ep]),
		semconv.HTTPRequestMethodKey.String(r.Method))
	if host, port := hostPort(r.URL); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if dist.Type != "" {
		attrs = append(attrs,
			keyDistributionType.String(string(dist.Type)),
			keyDistributionID.String(truncate(dist.ID, maxIDAttr)))
	}
	ctx, span := t.tracer.Start(r.Context(), "fanfare."+endpoints[ep],
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	c := &call{t: t, ctx: ctx, span: span, endpoint: ep, start: time.Now()}

	resp, err := t.base.RoundTrip(r)
	if err != nil {
		c.end(0, errorType(err))
		return resp, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.Body == nil || resp.Body == http.NoBody {
		c.end(resp.StatusCode, "")
		return resp, nil
	}
	resp.Body = &body{ReadCloser: resp.Body, c: c, status: resp.StatusCode}
	return resp, nil
}

// end records the attempt and ends its span: status is 0 when no answer
// came; errType names what failed, "" when nothing did.
func (c *call) end(status int, errType string) {
	class := 0
	if status >= 100 && status < 600 {
		class = status / 100
	}
	set := c.t.sets[c.endpoint][class]
	c.t.duration.Record(c.ctx, time.Since(c.start).Seconds(), metric.WithAttributeSet(set))
	if errType == "" && status/100 != 2 {
		errType = strconv.Itoa(status)
	}
	if errType != "" {
		c.t.errors.Add(c.ctx, 1, metric.WithAttributeSet(withErrorType(set, errType)))
		c.span.SetAttributes(semconv.ErrorTypeKey.String(errType))
		c.span.SetStatus(codes.Error, describe(status, errType))
	}
	c.span.End()
}

func withErrorType(set attribute.Set, errType string) attribute.Set {
	kv := append(set.ToSlice(), semconv.ErrorTypeKey.String(errType))
	return attribute.NewSet(kv...)
}

func describe(status int, errType string) string {
	if status == 0 || errType == "response_body" {
		return errType
	}
	return "HTTP " + strconv.Itoa(status)
}

// errorType names a failed round trip without its text, which holds the URL.
func errorType(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "network"
}

// body ends the attempt when the answer is read to its end, fails, or is
// closed, whichever comes first.
type body struct {
	io.ReadCloser
	c      *call
	status int
	once   sync.Once
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		errType := ""
		if err != io.EOF {
			errType = errorType(err)
			if errType == "network" {
				errType = "response_body"
			}
		}
		b.finish(errType)
	}
	return n, err
}

func (b *body) Close() error {
	err := b.ReadCloser.Close()
	b.finish("")
	return err
}

func (b *body) finish(errType string) {
	b.once.Do(func() { b.c.end(b.status, errType) })
}

// classify reads the endpoint, and for validate and complete the
// distribution, from the request's path. The base URL may have a path of
// its own, so the endpoints are matched at the end.
func classify(r *http.Request) (int, fanfare.Distribution) {
	path := r.URL.EscapedPath()
	if strings.HasSuffix(path, "/auth/external/authorize") {
		return epAuthorize, fanfare.Distribution{}
	}
	rest, op, _ := cutLast(path)
	rest, rawID, _ := cutLast(rest)
	_, collection, ok := cutLast(rest)
	if ok && rawID != "" && (op == "validate" || op == "complete") {
		var d fanfare.Distribution
		switch collection {
		case "queues":
			d.Type = fanfare.TypeQueue
		case "draws":
			d.Type = fanfare.TypeDraw
		case "auctions":
			d.Type = fanfare.TypeAuction
		}
		if id, err := url.PathUnescape(rawID); err == nil && d.Type != "" && id != "" {
			d.ID = id
			if op == "validate" {
				return epValidate, d
			}
			return epComplete, d
		}
	}
	if r.Method == http.MethodGet {
		return epJWKS, fanfare.Distribution{}
	}
	return epOther, fanfare.Distribution{}
}

// cutLast splits s at its last "/": cutLast("/a/b") is "/a", "b", true.
func cutLast(s string) (before, after string, found bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

// hostPort is the server's address and its port, explicit or implied by
// the scheme.
func hostPort(u *url.URL) (string, int) {
	host := u.Hostname()
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return host, n
	}
	switch u.Scheme {
	case "https":
		return host, 443
	case "http":
		return host, 80
	}
	return host, 0
}

// truncate cuts s to at most n bytes, at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
