package fanfaretest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

// singleShot returns a client for srv that does not retry, so each call is
// one request.
func singleShot(t *testing.T, srv *fanfaretest.Server) *fanfare.Client {
	t.Helper()
	cfg := srv.Config()
	cfg.Retry.MaxAttempts = 1
	c, err := fanfare.NewClient(cfg)
	require.NoError(t, err)
	return c
}

// rawValidate posts a validate call and returns the answer or the transport
// error.
func rawValidate(ctx context.Context, srv *fanfaretest.Server, token string) (*http.Response, []byte, error) {
	body := `{"consumerId":"c1","token":"` + token + `"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/queues/q1/validate", strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header = secret(srv)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestFaultKinds(t *testing.T) {
	queue := fanfare.Queue("q1")
	tests := []struct {
		name  string
		fault fanfaretest.Fault
		check func(t *testing.T, resp *http.Response, body []byte, err error)
		// clientErr is what fanfare.Client's validate must report.
		clientErr error
	}{
		{
			name:  "status 503",
			fault: fanfaretest.Fault{Status: http.StatusServiceUnavailable},
			check: func(t *testing.T, resp *http.Response, body []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
				assert.JSONEq(t, `{"error":"service_unavailable","message":"injected fault"}`, string(body))
				assert.Equal(t, "1", resp.Header.Get("Retry-After"))
			},
			clientErr: fanfare.ErrUnavailable,
		},
		{
			name:  "status 429",
			fault: fanfaretest.Fault{Status: http.StatusTooManyRequests},
			check: func(t *testing.T, resp *http.Response, body []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
				assert.Contains(t, string(body), `"too_many_requests"`)
				assert.Equal(t, "1", resp.Header.Get("Retry-After"))
			},
			clientErr: fanfare.ErrUnavailable,
		},
		{
			name:  "status 500",
			fault: fanfaretest.Fault{Status: http.StatusInternalServerError},
			check: func(t *testing.T, resp *http.Response, body []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
				assert.Contains(t, string(body), `"internal_server_error"`)
			},
			clientErr: fanfare.ErrUnavailable,
		},
		{
			name:  "status 401",
			fault: fanfaretest.Fault{Status: http.StatusUnauthorized},
			check: func(t *testing.T, resp *http.Response, body []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
				assert.Contains(t, string(body), `"unauthorized"`)
			},
			clientErr: fanfare.ErrUnauthorized,
		},
		{
			name:  "drop",
			fault: fanfaretest.Fault{Drop: true},
			check: func(t *testing.T, resp *http.Response, body []byte, err error) {
				require.Error(t, err, "a dropped connection gives no response")
			},
			clientErr: fanfare.ErrUnavailable,
		},
		{
			name:  "malformed",
			fault: fanfaretest.Fault{Malformed: true},
			check: func(t *testing.T, resp *http.Response, body []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.NotEqual(t, "true", string(body))
				assert.NotEqual(t, "false", string(body))
			},
			clientErr: fanfare.ErrUnavailable,
		},
		{
			name:  "oversized",
			fault: fanfaretest.Fault{Oversized: true},
			check: func(t *testing.T, resp *http.Response, body []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Len(t, body, 2<<20)
			},
			clientErr: fanfare.ErrUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fanfaretest.Options{})
			token := srv.Admit(queue, "c1")
			srv.InjectFault(fanfaretest.EndpointValidate, tt.fault)

			resp, body, err := rawValidate(t.Context(), srv, token)
			tt.check(t, resp, body, err)

			ok, err := singleShot(t, srv).ValidateAdmission(t.Context(), queue, "c1", token)
			assert.False(t, ok, "a fault never admits")
			assert.ErrorIs(t, err, tt.clientErr)

			assert.Equal(t, 2, srv.Calls(fanfaretest.EndpointValidate), "faulted calls are counted")
			assert.Empty(t, srv.ValidateCalls(), "faulted calls never reach the handler")

			srv.ClearFaults()
			ok, err = singleShot(t, srv).ValidateAdmission(t.Context(), queue, "c1", token)
			require.NoError(t, err)
			assert.True(t, ok, "after ClearFaults the endpoint answers normally")
		})
	}
}

func TestFaultEveryEndpoint(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	access, _ := srv.AccessToken("p", "i", "s")
	for _, tt := range []struct {
		endpoint fanfaretest.Endpoint
		method   string
		path     string
		header   http.Header
	}{
		{fanfaretest.EndpointAuthorize, http.MethodPost, wire.PathAuthorize, secret(srv)},
		{fanfaretest.EndpointExchange, http.MethodPost, wire.PathExchange, nil},
		{fanfaretest.EndpointEnter, http.MethodPost, "/draws/d1/enter", bearer(access)},
		{fanfaretest.EndpointValidate, http.MethodPost, "/draws/d1/validate", secret(srv)},
		{fanfaretest.EndpointComplete, http.MethodPost, "/draws/d1/complete", secret(srv)},
		{fanfaretest.EndpointJWKS, http.MethodGet, wire.PathJWKS, nil},
	} {
		t.Run(string(tt.endpoint), func(t *testing.T) {
			srv.InjectFault(tt.endpoint, fanfaretest.Fault{Status: http.StatusBadGateway, Times: 1})
			r := do(t, srv, tt.method, tt.path, tt.header, nil)
			assert.Equal(t, http.StatusBadGateway, r.status)
			assert.Equal(t, "bad_gateway", r.errorCode(t))
			r = do(t, srv, tt.method, tt.path, tt.header, nil)
			assert.NotEqual(t, http.StatusBadGateway, r.status, "Times: 1 faults one call")
			assert.Equal(t, 2, srv.Calls(tt.endpoint))
		})
	}
}

func TestFaultTimes(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	token := srv.Admit(fanfare.Queue("q1"), "c1")
	srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: http.StatusServiceUnavailable, Times: 2})
	var got []int
	for range 4 {
		resp, _, err := rawValidate(t.Context(), srv, token)
		require.NoError(t, err)
		got = append(got, resp.StatusCode)
	}
	assert.Equal(t, []int{503, 503, 200, 200}, got)

	t.Run("the client retries through a transient fault", func(t *testing.T) {
		srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: http.StatusServiceUnavailable, Times: 2})
		ok, err := srv.Client().ValidateAdmission(t.Context(), fanfare.Queue("q1"), "c1", token)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, 7, srv.Calls(fanfaretest.EndpointValidate))
	})

	t.Run("a new fault replaces the old one", func(t *testing.T) {
		srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: http.StatusServiceUnavailable})
		srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: http.StatusTeapot, Times: 1})
		resp, _, err := rawValidate(t.Context(), srv, token)
		require.NoError(t, err)
		assert.Equal(t, http.StatusTeapot, resp.StatusCode)
		resp, _, err = rawValidate(t.Context(), srv, token)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})
}

func TestFaultFraction(t *testing.T) {
	const calls = 400
	faulted := func(t *testing.T, f fanfaretest.Fault) []int {
		t.Helper()
		srv := newServer(t, fanfaretest.Options{})
		token := srv.Admit(fanfare.Queue("q1"), "c1")
		srv.InjectFault(fanfaretest.EndpointValidate, f)
		var idx []int
		for i := range calls {
			resp, _, err := rawValidate(t.Context(), srv, token)
			require.NoError(t, err)
			if resp.StatusCode == http.StatusInternalServerError {
				idx = append(idx, i)
			}
		}
		assert.Equal(t, calls, srv.Calls(fanfaretest.EndpointValidate))
		return idx
	}

	t.Run("a quarter", func(t *testing.T) {
		a := faulted(t, fanfaretest.Fault{Status: 500, Fraction: 0.25})
		assert.InDelta(t, calls/4, len(a), calls/10, "faulted %d of %d calls", len(a), calls)
		b := faulted(t, fanfaretest.Fault{Status: 500, Fraction: 0.25})
		assert.Equal(t, a, b, "the same calls are faulted every run")
	})
	t.Run("with Times", func(t *testing.T) {
		a := faulted(t, fanfaretest.Fault{Status: 500, Fraction: 0.5, Times: 10})
		assert.Len(t, a, 10, "Times counts faulted calls")
		assert.Greater(t, a[len(a)-1], 10, "the faulted calls are spread out")
	})
	t.Run("1 means all", func(t *testing.T) {
		assert.Len(t, faulted(t, fanfaretest.Fault{Status: 500, Fraction: 1}), calls)
	})
}

func TestFaultLatency(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	token := srv.Admit(fanfare.Queue("q1"), "c1")

	t.Run("delays normal handling", func(t *testing.T) {
		srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Latency: 50 * time.Millisecond, Times: 1})
		began := time.Now()
		resp, body, err := rawValidate(t.Context(), srv, token)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, time.Since(began), 50*time.Millisecond)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "true", string(body))
	})

	t.Run("then a status", func(t *testing.T) {
		srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Latency: 20 * time.Millisecond, Status: 503, Times: 1})
		began := time.Now()
		resp, _, err := rawValidate(t.Context(), srv, token)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, time.Since(began), 20*time.Millisecond)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	})

	t.Run("cut short by the client", func(t *testing.T) {
		srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Latency: time.Minute})
		defer srv.ClearFaults()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, _, err := rawValidate(ctx, srv, token)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(began), 10*time.Second)

		// The client's own deadline maps to ErrUnavailable.
		cfg := srv.Config()
		cfg.AttemptTimeout = 50 * time.Millisecond
		cfg.Retry.MaxAttempts = 1
		c, err := fanfare.NewClient(cfg)
		require.NoError(t, err)
		_, err = c.ValidateAdmission(t.Context(), fanfare.Queue("q1"), "c1", token)
		assert.ErrorIs(t, err, fanfare.ErrUnavailable)
	})
}

func TestInjectFaultPanics(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	for _, tt := range []struct {
		name string
		e    fanfaretest.Endpoint
		f    fanfaretest.Fault
	}{
		{"unknown endpoint", "checkout", fanfaretest.Fault{Status: 500}},
		{"negative Times", fanfaretest.EndpointValidate, fanfaretest.Fault{Status: 500, Times: -1}},
		{"negative Latency", fanfaretest.EndpointValidate, fanfaretest.Fault{Latency: -time.Second}},
		{"Fraction above 1", fanfaretest.EndpointValidate, fanfaretest.Fault{Status: 500, Fraction: 1.5}},
		{"negative Fraction", fanfaretest.EndpointValidate, fanfaretest.Fault{Status: 500, Fraction: -0.1}},
		{"status 99", fanfaretest.EndpointValidate, fanfaretest.Fault{Status: 99}},
		{"status 600", fanfaretest.EndpointValidate, fanfaretest.Fault{Status: 600}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertPanicsFanfare(t, func() { srv.InjectFault(tt.e, tt.f) })
		})
	}
}

func TestClose(t *testing.T) {
	t.Run("waits for in-flight requests", func(t *testing.T) {
		srv := fanfaretest.NewServer(fanfaretest.Options{})
		token := srv.Admit(fanfare.Queue("q1"), "c1")
		pr, pw := io.Pipe()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/queues/q1/validate", pr)
		require.NoError(t, err)
		req.Header = secret(srv)
		type result struct {
			status int
			body   string
			err    error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			done <- result{status: resp.StatusCode, body: string(b)}
		}()
		_, err = pw.Write([]byte(`{"consumerId":"c1",`))
		require.NoError(t, err)
		require.Eventually(t, func() bool { return srv.Calls(fanfaretest.EndpointValidate) == 1 }, 5*time.Second, time.Millisecond)

		closed := make(chan struct{})
		go func() { srv.Close(); close(closed) }()
		select {
		case <-closed:
			t.Fatal("Close returned while a request was in flight")
		case <-time.After(100 * time.Millisecond):
		}
		_, err = pw.Write([]byte(`"token":"` + token + `"}`))
		require.NoError(t, err)
		require.NoError(t, pw.Close())
		got := <-done
		require.NoError(t, got.err)
		assert.Equal(t, http.StatusOK, got.status)
		assert.Equal(t, "true", got.body)
		<-closed
	})

	t.Run("cuts latency short", func(t *testing.T) {
		srv := fanfaretest.NewServer(fanfaretest.Options{})
		srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Latency: time.Hour})
		token := srv.Admit(fanfare.Queue("q1"), "c1")
		type result struct {
			resp *http.Response
			err  error
		}
		done := make(chan result, 1)
		go func() {
			resp, _, err := rawValidate(context.Background(), srv, token)
			done <- result{resp, err}
		}()
		require.Eventually(t, func() bool { return srv.Calls(fanfaretest.EndpointValidate) == 1 }, 5*time.Second, time.Millisecond)
		began := time.Now()
		srv.Close()
		assert.Less(t, time.Since(began), 10*time.Second)
		got := <-done
		require.NoError(t, got.err)
		assert.Equal(t, http.StatusServiceUnavailable, got.resp.StatusCode)
	})

	t.Run("idempotent, refuses afterwards", func(t *testing.T) {
		srv := fanfaretest.NewServer(fanfaretest.Options{})
		client := srv.Client()
		_, err := client.ValidateAdmission(t.Context(), fanfare.Queue("q1"), "c1", "t")
		require.NoError(t, err)
		srv.Close()
		srv.Close()
		_, err = singleShot(t, srv).ValidateAdmission(t.Context(), fanfare.Queue("q1"), "c1", "t")
		assert.ErrorIs(t, err, fanfare.ErrUnavailable)
	})
}

func TestConcurrency(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	client := srv.Client()
	queue := fanfare.Queue("q_busy")
	const n = 300

	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = srv.Admit(queue, consumer(i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := client.ValidateAdmission(context.Background(), queue, consumer(i), tokens[i])
			if err != nil || !ok {
				errs <- errors.Join(err, errors.New("validate "+consumer(i)+" refused"))
			}
			if i%3 == 0 {
				if err := client.CompleteAdmission(context.Background(), queue, consumer(i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	// Inspection and fault injection race with the traffic.
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = srv.Calls(fanfaretest.EndpointValidate)
			_ = srv.ValidateCalls()
			_ = srv.Completions()
			_ = srv.Completed(queue, consumer(i))
			srv.InjectFault(fanfaretest.EndpointJWKS, fanfaretest.Fault{Status: 500, Fraction: 0.5})
			srv.ClearFaults()
			_ = srv.Admit(fanfare.Draw("d"), consumer(i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Equal(t, n, srv.Calls(fanfaretest.EndpointValidate))
	assert.Len(t, srv.ValidateCalls(), n)
	assert.Len(t, srv.Completions(), n/3)

	t.Run("parallel enters get distinct positions", func(t *testing.T) {
		access, _ := srv.AccessToken("p", "i", "s")
		positions := make(chan int, 100)
		var wg sync.WaitGroup
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/queues/q_enter/enter", nil)
				req.Header = bearer(access)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				var got wire.EnterResponse
				b, _ := io.ReadAll(resp.Body)
				if err := jsonUnmarshal(b, &got); err != nil || got.Position == nil {
					t.Errorf("enter: %s", b)
					return
				}
				positions <- *got.Position
			}()
		}
		wg.Wait()
		close(positions)
		seen := map[int]bool{}
		for p := range positions {
			assert.False(t, seen[p], "position %d handed out twice", p)
			seen[p] = true
		}
		assert.Len(t, seen, 100)
	})
}

func consumer(i int) string { return "c" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + itoa(i) }
