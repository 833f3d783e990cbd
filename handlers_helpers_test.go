package fanfare_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// logBuffer collects slog output from concurrent handlers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newLogger returns a logger writing every level, as text, to a buffer.
func newLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// startEmulator starts a Fanfare emulator closed at the end of the test.
func startEmulator(t *testing.T, opts fanfaretest.Options) *fanfaretest.Server {
	t.Helper()
	srv := fanfaretest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// newTestClient builds a client for srv that gives up quickly: one attempt
// of at most attempt, so timeouts and faults are fast to test.
func newTestClient(t *testing.T, srv *fanfaretest.Server, attempt time.Duration) *fanfare.Client {
	t.Helper()
	cfg := srv.Config()
	cfg.AttemptTimeout = attempt
	cfg.Retry = fanfare.RetryPolicy{MaxAttempts: 1}
	cfg.HTTPClient = &http.Client{Transport: fanfare.NewTransport()}
	t.Cleanup(cfg.HTTPClient.CloseIdleConnections)
	c, err := fanfare.NewClient(cfg)
	require.NoError(t, err)
	return c
}

// withIdentity is the merchant's auth middleware in tests: it stores id, when
// not nil, in the request context.
func withIdentity(id *fanfare.Identity, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id != nil {
			r = r.WithContext(fanfare.WithIdentity(r.Context(), *id))
		}
		next.ServeHTTP(w, r)
	})
}

type httpResult struct {
	status int
	header http.Header
	body   string
}

// send makes one request to url over real HTTP.
func send(t *testing.T, method, url string, body io.Reader) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return httpResult{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// assertNoSecret fails when the emulator's secret key shows in s.
func assertNoSecret(t *testing.T, srv *fanfaretest.Server, s, what string) {
	t.Helper()
	require.NotEmpty(t, srv.SecretKey)
	if strings.Contains(s, srv.SecretKey) {
		t.Errorf("the secret key appears in %s", what)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
