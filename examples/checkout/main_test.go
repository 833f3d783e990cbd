package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/examples/internal/browser"
	"github.com/waitify-io/fanfare-go/examples/internal/contract"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// TestContract runs the shared HTTP contract against the net/http app.
func TestContract(t *testing.T) {
	contract.RunApp(t, func(cfg shop.Config) (http.Handler, error) { return newApp(cfg) })
}

// TestDemo runs `checkout -demo` in process, as CI runs the binary.
func TestDemo(t *testing.T) { contract.RunDemo(t, run) }

func TestStorefrontServed(t *testing.T) {
	emu := fanfaretest.NewServer(fanfaretest.Options{})
	t.Cleanup(emu.Close)
	app, err := newApp(shop.Config{Client: emu.Client(), Fanfare: emu.Config(), Distribution: fanfare.Queue("q_drop"), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)

	tests := []struct {
		method, path string
		status       int
		contentType  string
		body         string
	}{
		{http.MethodGet, "/", http.StatusOK, "text/html", `<script src="/storefront/app.js"`},
		{http.MethodGet, "/storefront/app.js", http.StatusOK, "text/javascript", "/api/fanfare/authorize"},
		{http.MethodGet, "/storefront/style.css", http.StatusOK, "text/css", "body"},
		{http.MethodGet, "/storefront/", http.StatusNotFound, "", ""},
		{http.MethodGet, "/storefront/storefront.go", http.StatusNotFound, "", ""},
		{http.MethodGet, "/index.html", http.StatusNotFound, "", ""},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			if tt.status != http.StatusOK {
				return
			}
			assert.Contains(t, resp.Header.Get("Content-Type"), tt.contentType)
			assert.Contains(t, string(body), tt.body)
			csp := resp.Header.Get("Content-Security-Policy")
			assert.Contains(t, csp, "script-src 'self';", "no inline script")
			assert.Contains(t, csp, "connect-src 'self' "+emu.URL+";", "the page may call the shop and the emulator only")
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		})
	}
}

// serve runs run without -demo until the test ends (contract.Serve), and
// checks that it says it shuts down.
func serve(t *testing.T, args ...string) (appURL string, output func() string) {
	t.Helper()
	var out func() string
	t.Cleanup(func() { // runs after contract.Serve's
		if out != nil {
			assert.Contains(t, out(), "shutting down")
		}
	})
	appURL, out = contract.Serve(t, run, args...)
	return appURL, out
}

func TestRunWithoutCredentialsUsesTheEmulator(t *testing.T) {
	t.Setenv("FANFARE_SECRET_KEY", "")
	appURL, output := serve(t)

	first, _, _ := strings.Cut(output(), "\n")
	assert.Contains(t, first, "no FANFARE_SECRET_KEY", "the first line says why")
	assert.Contains(t, first, "embedded Fanfare emulator", "the first line says it is not the real API")

	b := browser.New(appURL)
	_, err := b.LoadConfig(context.Background())
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(b.Config.PublishableKey, "pk_test_"), "the emulator's publishable key")
	a, err := b.Admit(context.Background(), "alice")
	require.NoError(t, err, "the whole browser flow works against the served app")
	resp, err := b.Checkout(context.Background(), a, browser.CartItem{SKU: "s", Quantity: 1})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.Status, "checkout: %s", resp)
	assert.Contains(t, output(), "open "+appURL+"/ in a browser", "it says where to point a browser")
}

func TestRunWithCredentialsUsesThem(t *testing.T) { contract.RunWithCredentials(t, run) }

// TestRunHold: with -hold the emulator keeps a shopper in line (202 with a
// position) until run admits the line.
func TestRunHold(t *testing.T) {
	t.Setenv("FANFARE_SECRET_KEY", "")
	appURL, _ := serve(t, "-hold", "50ms")
	ctx := context.Background()
	b := browser.New(appURL)
	require.NoError(t, b.SignIn(ctx, "alice"))
	resp, _, err := b.Enter(ctx)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, resp.Status, "held in line: %s", resp)
	assert.Equal(t, "waiting", resp.Field("status"))
	assert.Contains(t, string(resp.Body), `"position":1`)

	var a browser.Admission
	require.Eventually(t, func() bool {
		resp, got, err := b.Enter(ctx)
		a = got
		return err == nil && resp.Status == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "admitted by the -hold loop")
	resp, err = b.Checkout(ctx, a, browser.CartItem{SKU: "s", Quantity: 1})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.Status, "checkout: %s", resp)
}

func TestRunRefusesBadSetup(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		args   []string
		code   int
		stderr string
	}{
		{"unknown flag", "", []string{"-nope"}, 2, "flag provided but not defined"},
		{"distribution without type", "", []string{"-distribution", "q_drop"}, 2, "is not type:id"},
		{"unknown distribution type", "", []string{"-distribution", "raffle:r"}, 2, "unknown distribution type"},
		{"negative hold", "", []string{"-hold", "-1s"}, 2, "-hold"},
		{"hold with demo", "", []string{"-hold", "1s", "-demo"}, 2, "-hold"},
		{"publishable key as secret", "pk_live_abcdef", nil, 1, "publishable key"},
		{"key without sk_", "live_abcdef", nil, 1, "must start with sk_"},
		{"hold with the real API", "sk_live_abcdef", []string{"-hold", "1s", "-addr", "127.0.0.1:0"}, 2, "-hold needs the embedded emulator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("FANFARE_SECRET_KEY", tt.secret)
			t.Setenv("FANFARE_ORG_ID", "org_1")
			var stdout, stderr strings.Builder
			code := run(context.Background(), tt.args, &stdout, &stderr)
			assert.Equal(t, tt.code, code, "exit code; stderr %s", stderr.String())
			assert.Contains(t, stderr.String(), tt.stderr)
			if tt.secret != "" {
				assert.NotContains(t, stdout.String()+stderr.String(), tt.secret, "the key is never printed")
			}
		})
	}
}

// TestDemoOnRedis runs `checkout -demo -redis URL` against a real
// redis-server: the limiter, the store and the outbox live there.
func TestDemoOnRedis(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed: apt-get install redis-server")
	}
	dir, err := os.MkdirTemp("", "rs") // a short path: unix sockets are limited to ~100 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.Eventually(t, func() bool { _, err := os.Stat(sock); return err == nil }, 5*time.Second, 10*time.Millisecond)

	t.Setenv("FANFARE_SECRET_KEY", "")
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"-demo", "-redis", "unix://" + sock}, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	assert.Contains(t, stdout.String(), "in Redis at")
	assert.Contains(t, stdout.String(), "Demo passed")

	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	t.Cleanup(func() { rdb.Close() })
	keys, err := rdb.Keys(context.Background(), "*fanfare-example*").Result()
	require.NoError(t, err)
	assert.NotEmpty(t, keys, "the demo's state is in Redis")
}

// TestRunTelemetryPrometheus: with -telemetry prometheus the shop serves
// otelfanfare's metrics at GET /metrics once a shopper has checked out.
func TestRunTelemetryPrometheus(t *testing.T) {
	t.Setenv("FANFARE_SECRET_KEY", "")
	appURL, output := serve(t, "-telemetry", "prometheus")

	ctx := context.Background()
	b := browser.New(appURL)
	a, err := b.Admit(ctx, "alice")
	require.NoError(t, err)
	resp, err := b.Checkout(ctx, a, browser.CartItem{SKU: "s", Quantity: 1})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.Status, "checkout: %s", resp)
	resp, err = b.Checkout(ctx, a, browser.CartItem{SKU: "s", Quantity: 1})
	require.NoError(t, err)
	require.Equal(t, http.StatusConflict, resp.Status, "the same admission again: %s", resp)

	metrics := getMetrics(t, appURL)
	for _, series := range []string{
		`fanfare_admissions_total{fanfare_admission_validated="true",fanfare_distribution_type="queue",`,
		// The library's code: the shop's BindConsumer refuses the consumer
		// who bought (ADMISSION_MISMATCH), and its ErrorHandler answers
		// that ADMISSION_USED.
		`fanfare_admission_refusals_total{fanfare_refusal_code="ADMISSION_MISMATCH",`,
		`fanfare_client_call_duration_seconds_count{fanfare_endpoint="authorize",fanfare_status_class="2xx",`,
		`fanfare_client_call_duration_seconds_count{fanfare_endpoint="validate",fanfare_status_class="2xx",`,
		`fanfare_limiter_decisions_total{fanfare_limiter_decision="allowed",`,
		`fanfare_completions_pending{`,
	} {
		assert.Contains(t, metrics, series)
	}
	assert.NotContains(t, metrics, a.ConsumerID, "no consumer id in a metric")
	assert.NotContains(t, metrics, "sk_", "no secret key in a metric")
	assert.Contains(t, output(), "Prometheus metrics at "+appURL+"/metrics", "it says where")
}

// TestRunTelemetryOff: without -telemetry there is no /metrics route.
func TestRunTelemetryOff(t *testing.T) {
	t.Setenv("FANFARE_SECRET_KEY", "")
	appURL, output := serve(t)
	assert.NotContains(t, output(), "metrics")
	resp, err := http.Get(appURL + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func getMetrics(t *testing.T, appURL string) string {
	t.Helper()
	resp, err := http.Get(appURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /metrics: %s", body)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	return string(body)
}

// TestDemoTelemetryStdout: `checkout -demo -telemetry stdout` prints each
// Fanfare call's span as it ends and, on exit, the metrics, one JSON
// document a line on stderr.
func TestDemoTelemetryStdout(t *testing.T) {
	t.Setenv("FANFARE_SECRET_KEY", "")
	var stdout, stderr lockedBuffer // the exporters and the logger write from several goroutines
	code := run(context.Background(), []string{"-demo", "-telemetry", "stdout"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	assert.Contains(t, stdout.String(), "Demo passed")
	assert.Contains(t, stdout.String(), "spans and metrics go to stderr")

	spans := map[string]int{}
	metrics := map[string]bool{}
	for line := range strings.Lines(stderr.String()) {
		if !strings.HasPrefix(line, "{") {
			continue // a log line
		}
		var doc struct {
			Name         string
			ScopeMetrics []struct{ Metrics []struct{ Name string } }
		}
		require.NoError(t, json.Unmarshal([]byte(line), &doc), "%s", line)
		if doc.Name != "" {
			spans[doc.Name]++
		}
		for _, sm := range doc.ScopeMetrics {
			for _, m := range sm.Metrics {
				metrics[m.Name] = true
			}
		}
	}
	for _, name := range []string{"fanfare.authorize", "fanfare.validate", "fanfare.complete"} {
		assert.Positive(t, spans[name], "a %s span; got %v", name, spans)
	}
	for _, name := range []string{
		"fanfare.client.call.duration", "fanfare.admissions", "fanfare.admission.refusals",
		"fanfare.limiter.decisions", "fanfare.completions.pending", "fanfare.completions.oldest_age",
	} {
		assert.True(t, metrics[name], "metric %s in the last collection; got %v", name, metrics)
	}
	assert.NotContains(t, stderr.String(), "sk_", "no secret key in a span or a metric")
}

func TestRunRefusesBadTelemetry(t *testing.T) {
	t.Setenv("FANFARE_SECRET_KEY", "")
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"-telemetry", "jaeger"}, &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), `invalid value "jaeger" for flag -telemetry: want "stdout", "prometheus", or "" (off)`)
	assert.Empty(t, stdout.String(), "nothing started")
}

// lockedBuffer is a strings.Builder safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
