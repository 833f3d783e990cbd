package otelfanfare_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/otelfanfare"
)

const (
	duration = "fanfare.client.call.duration"
	errs     = "fanfare.client.call.errors"
)

func call(endpoint, class string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("fanfare.endpoint", endpoint),
		attribute.String("fanfare.status_class", class),
	}
}

func callError(endpoint, class, errType string) []attribute.KeyValue {
	return append(call(endpoint, class), attribute.String("error.type", errType))
}

func TestTransportMeasuresEveryEndpoint(t *testing.T) {
	tel := newTelemetry(t)
	srv := emulator(t, fanfaretest.NewClock(epoch))
	c := client(t, srv, tel)
	ctx := context.Background()

	_, err := c.Authorize(ctx, fanfare.AuthorizeRequest{Provider: "shop", Issuer: "https://shop.example", Subject: "u_1"})
	require.NoError(t, err)
	token := srv.Admit(queue, "c_1")
	ok, err := c.ValidateAdmission(ctx, queue, "c_1", token)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = c.ValidateAdmission(ctx, queue, "c_2", token) // Fanfare says false: not an error
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, c.CompleteAdmission(ctx, queue, "c_1"))

	jwksClient := &http.Client{Transport: otelfanfare.Transport(nil, tel.opts...)}
	t.Cleanup(jwksClient.CloseIdleConnections)
	v, err := fanfare.NewJWKSVerifier(ctx, srv.JWKSURL(), fanfare.JWKSOptions{HTTPClient: jwksClient})
	require.NoError(t, err)
	require.NoError(t, v.Close())

	for endpoint, want := range map[string]uint64{"authorize": 1, "validate": 2, "complete": 1, "jwks": 1} {
		assert.Equal(t, want, tel.observations(t, duration, call(endpoint, "2xx")...), endpoint)
	}
	assert.Zero(t, tel.total(t, errs), "errors counted for successful calls")

	for _, name := range []string{"fanfare.authorize", "fanfare.validate", "fanfare.complete", "fanfare.jwks"} {
		require.NotEmpty(t, tel.spansNamed(name), name)
	}
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	port, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	complete := tel.spansNamed("fanfare.complete")[0]
	assert.Equal(t, trace.SpanKindClient, complete.SpanKind)
	assert.Equal(t, codes.Unset, complete.Status.Code)
	assert.Equal(t, map[attribute.Key]attribute.Value{
		"fanfare.endpoint":          attribute.StringValue("complete"),
		"fanfare.distribution.type": attribute.StringValue("queue"),
		"fanfare.distribution.id":   attribute.StringValue("q_drop"),
		"http.request.method":       attribute.StringValue("POST"),
		"http.response.status_code": attribute.IntValue(200),
		"server.address":            attribute.StringValue("127.0.0.1"),
		"server.port":               attribute.IntValue(port),
	}, attrs(complete.Attributes), "exactly these attributes: no header, body, URL or token")

	// Nothing secret anywhere in any span.
	for _, s := range tel.spans.GetSpans() {
		var all []attribute.KeyValue
		all = append(all, s.Attributes...)
		for _, e := range s.Events {
			all = append(all, e.Attributes...)
		}
		text := s.Name + " " + s.Status.Description
		for _, kv := range all {
			text += " " + string(kv.Key) + "=" + kv.Value.String()
		}
		for _, secret := range []string{srv.SecretKey, token, "sk_", srv.OrganizationID} {
			assert.NotContains(t, text, secret, "span %s", s.Name)
		}
	}
}

func TestTransportSpansAreChildrenOfTheCaller(t *testing.T) {
	tel := newTelemetry(t)
	srv := emulator(t, fanfaretest.NewClock(epoch))
	c := client(t, srv, tel)

	ctx, parent := tel.tp.Tracer("test").Start(context.Background(), "checkout")
	_, err := c.ValidateAdmission(ctx, queue, "c_1", srv.Admit(queue, "c_1"))
	parent.End()
	require.NoError(t, err)

	validate := tel.spansNamed("fanfare.validate")
	require.Len(t, validate, 1)
	assert.Equal(t, parent.SpanContext().TraceID(), validate[0].SpanContext.TraceID())
	assert.Equal(t, parent.SpanContext().SpanID(), validate[0].Parent.SpanID())
}

func TestTransportCountsErrors(t *testing.T) {
	tests := []struct {
		name    string
		fault   fanfaretest.Fault
		class   string
		errType string
	}{
		{"unavailable", fanfaretest.Fault{Status: http.StatusServiceUnavailable}, "5xx", "503"},
		{"refused", fanfaretest.Fault{Status: http.StatusNotFound}, "4xx", "404"},
		{"dropped", fanfaretest.Fault{Drop: true}, "no_response", "network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := newTelemetry(t)
			srv := emulator(t, fanfaretest.NewClock(epoch))
			c := client(t, srv, tel)
			srv.InjectFault(fanfaretest.EndpointComplete, tt.fault)

			require.Error(t, c.CompleteAdmission(context.Background(), queue, "c_1"))

			assert.Equal(t, int64(1), tel.count(t, errs, callError("complete", tt.class, tt.errType)...))
			assert.Equal(t, int64(1), tel.total(t, errs))
			assert.Equal(t, uint64(1), tel.observations(t, duration, call("complete", tt.class)...))
			spans := tel.spansNamed("fanfare.complete")
			require.Len(t, spans, 1)
			assert.Equal(t, codes.Error, spans[0].Status.Code)
			assert.Equal(t, tt.errType, attrs(spans[0].Attributes)["error.type"].AsString())
			assert.NotContains(t, spans[0].Status.Description, srv.URL, "the error text, with its URL, is not recorded")
		})
	}
}

func TestTransportTimeout(t *testing.T) {
	tel := newTelemetry(t)
	srv := emulator(t, fanfaretest.NewClock(epoch))
	c := client(t, srv, tel)
	srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Latency: time.Minute})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.ValidateAdmission(ctx, queue, "c_1", "token")
	require.ErrorIs(t, err, fanfare.ErrUnavailable)

	assert.Equal(t, int64(1), tel.count(t, errs, callError("validate", "no_response", "timeout")...))
}

func TestTransportPassesCloseIdleConnections(t *testing.T) {
	base := &closeCounter{RoundTripper: http.DefaultTransport.(*http.Transport).Clone()}
	hc := &http.Client{Transport: otelfanfare.Transport(base)}
	hc.CloseIdleConnections()
	assert.Equal(t, 1, base.n)
}

type closeCounter struct {
	http.RoundTripper
	n int
}

func (c *closeCounter) CloseIdleConnections() { c.n++ }

func TestTransportLeavesTheRequestAlone(t *testing.T) {
	tel := newTelemetry(t)
	var got http.Header
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		_, _ = w.Write([]byte("true"))
	}))
	t.Cleanup(app.Close)
	hc := &http.Client{Transport: otelfanfare.Transport(app.Client().Transport, tel.opts...)}

	ctx, parent := tel.tp.Tracer("test").Start(context.Background(), "checkout")
	defer parent.End()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, app.URL+"/api/v1/draws/d%2F1/validate", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("X-Secret-Key", "sk_test_secret")
	resp, err := hc.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())

	assert.Empty(t, got.Get("Traceparent"), "no trace context is sent to Fanfare")
	assert.Equal(t, "sk_test_secret", got.Get("X-Secret-Key"))
	spans := tel.spansNamed("fanfare.validate")
	require.Len(t, spans, 1, "an API URL with a path prefix still names the endpoint")
	a := attrs(spans[0].Attributes)
	assert.Equal(t, "draw", a["fanfare.distribution.type"].AsString())
	assert.Equal(t, "d/1", a["fanfare.distribution.id"].AsString())
}

// wrappedTransport stands for an instrumentation (otelhttp, an APM agent)
// that wraps http.DefaultTransport.
type wrappedTransport struct{ next http.RoundTripper }

func (w wrappedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return w.next.RoundTrip(r)
}

func TestTransportBesideAWrappedDefaultTransport(t *testing.T) {
	orig := http.DefaultTransport
	http.DefaultTransport = wrappedTransport{orig}
	t.Cleanup(func() { http.DefaultTransport = orig })
	emu := fanfaretest.NewServer(fanfaretest.Options{})
	defer emu.Close()

	var rt http.RoundTripper
	require.NotPanics(t, func() { rt = otelfanfare.Transport(nil) })
	cfg := emu.Config()
	cfg.HTTPClient = &http.Client{Transport: rt}
	client, err := fanfare.NewClient(cfg)
	require.NoError(t, err)
	_, err = client.Authorize(context.Background(), fanfare.AuthorizeRequest{Provider: "shop", Issuer: "https://shop.example", Subject: "u1"})
	require.NoError(t, err)
	require.NotPanics(t, func() { emu.Client() }, "the emulator's own client")
}
