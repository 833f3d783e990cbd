package fanfare_test

// RequireAdmission against the fanfaretest emulator over loopback HTTP:
// remote validation, outages, the attack table, concurrency and completion.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// emuSetup is an emulator, a clock they share, and a checkout app built on
// demand from opts.
type emuSetup struct {
	srv    *fanfaretest.Server
	clock  *fanfaretest.Clock
	client *fanfare.Client
	opts   fanfare.AdmissionOptions
	logs   *logBuffer
}

func newEmuSetup(t *testing.T, emu fanfaretest.Options) *emuSetup {
	t.Helper()
	clock := fanfaretest.NewClock(admEpoch)
	emu.Clock = clock.Now
	srv := fanfaretest.NewServer(emu)
	t.Cleanup(srv.Close)
	logs := &logBuffer{}
	s := &emuSetup{srv: srv, clock: clock, client: fastClient(t, srv), logs: logs}
	s.opts = fanfare.AdmissionOptions{
		Distribution: admQueue,
		Clock:        clock.Now,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	t.Cleanup(func() {
		// Whatever a test did, no log line may carry a secret.
		assert.NotContains(t, logs.String(), srv.SecretKey, "secret key logged")
	})
	return s
}

// app serves next behind RequireAdmission on a loopback server.
func (s *emuSetup) app(t *testing.T, next http.Handler) *httptest.Server {
	t.Helper()
	app := httptest.NewServer(fanfare.RequireAdmission(s.client, s.opts)(next))
	t.Cleanup(app.Close)
	return app
}

// jwksVerifier is a verifier for the emulator's keys, closed with the test.
func (s *emuSetup) jwksVerifier(t *testing.T) *fanfare.JWKSVerifier {
	t.Helper()
	v, err := fanfare.NewJWKSVerifier(context.Background(), s.srv.JWKSURL(), fanfare.JWKSOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// checkout posts to the app with token in the admission header and body as
// a JSON body, and decodes the answer.
func checkout(t *testing.T, app *httptest.Server, token, body string, header ...string) admResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, app.URL+"/checkout", strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Fanfare-Admission", token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := app.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	res := admResponse{Status: resp.StatusCode, Raw: string(raw), RetryAfter: resp.Header.Get("Retry-After"), Header: resp.Header}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") == "application/json" {
		require.NoError(t, json.Unmarshal(raw, &res.Body), "body %q", raw)
	}
	return res
}

// seen decodes what admEcho saw.
func seen(t *testing.T, res admResponse) map[string]any {
	t.Helper()
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Raw), &got), "body %q", res.Raw)
	return got
}

func TestRequireAdmissionRemote(t *testing.T) {
	s := newEmuSetup(t, fanfaretest.Options{})
	app := s.app(t, admEcho(http.StatusOK))
	tok := s.srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: admQueue, ConsumerID: "c_1", Position: 42})

	res := checkout(t, app, tok, "")
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	got := seen(t, res)
	assert.Equal(t, "c_1", got["consumer"])
	assert.Equal(t, "queue:q_drop", got["distribution"])
	assert.EqualValues(t, 42, got["position"])
	assert.Equal(t, true, got["validated"])
	assert.Equal(t, false, got["verified"], "no verifier: nothing checked locally")
	assert.Equal(t, 1, s.srv.Calls(fanfaretest.EndpointValidate))
	require.Len(t, s.srv.Completions(), 1)
	assert.True(t, s.srv.Completed(admQueue, "c_1"))

	// Fanfare knows the admission is used and answers false; this instance
	// knows why, and says so: 409 ADMISSION_USED, not a generic 403.
	res = checkout(t, app, tok, "")
	assert.Equal(t, http.StatusConflict, res.Status, res.Raw)
	assert.Equal(t, "ADMISSION_USED", res.Body.Code)
	assert.Equal(t, 2, s.srv.Calls(fanfaretest.EndpointValidate))

	// Fanfare down: the used admission is still refused as used, not 503.
	s.srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: http.StatusServiceUnavailable})
	res = checkout(t, app, tok, "")
	assert.Equal(t, http.StatusConflict, res.Status, res.Raw)
	assert.Equal(t, "ADMISSION_USED", res.Body.Code)

	// Another consumer's token that Fanfare refuses stays a plain 403.
	s.srv.ClearFaults()
	other := s.srv.Admit(admQueue, "c_2")
	require.NoError(t, s.srv.Client().CompleteAdmission(context.Background(), admQueue, "c_2"))
	res = checkout(t, app, other, "")
	assert.Equal(t, http.StatusForbidden, res.Status, res.Raw)
	assert.Equal(t, "ADMISSION_INVALID", res.Body.Code, "completed elsewhere: not used on this instance")

	assert.Len(t, s.srv.Completions(), 2)
	assert.NotContains(t, s.logs.String(), tok, "token logged")
}

func TestRequireAdmissionGuideCheckout(t *testing.T) {
	// The guide's Step 4: everything in the JSON body, the distribution
	// named by experienceType + distributionId.
	s := newEmuSetup(t, fanfaretest.Options{})
	s.opts.Distribution = nil
	s.opts.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromBody)
	var cart []int
	app := s.app(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Cart []int }
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		cart = body.Cart
		w.WriteHeader(http.StatusOK)
	}))
	draw := fanfare.Draw("d_spring")
	tok := s.srv.Admit(draw, "c_guide")
	body := `{"admissionToken":"` + tok + `","consumerId":"c_guide","experienceId":"exp_1",` +
		`"experienceType":"draw","distributionId":"d_spring","cart":[3,1,4]}`
	res := checkout(t, app, "", body)
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	assert.Equal(t, []int{3, 1, 4}, cart, "the handler reads the whole body")
	assert.True(t, s.srv.Completed(draw, "c_guide"))

	// The same token, claiming another consumer in the body.
	tok2 := s.srv.Admit(draw, "c_guide2")
	res = checkout(t, app, "", strings.Replace(strings.Replace(body, tok, tok2, 1), "c_guide", "c_other", 1))
	assert.Equal(t, "ADMISSION_MISMATCH", res.Body.Code)
}

func TestRequireAdmissionUpstream(t *testing.T) {
	wrongKey := func(t *testing.T, s *emuSetup) {
		cfg := s.srv.Config()
		cfg.SecretKey = "sk_test_not_the_key"
		c, err := fanfare.NewClient(cfg)
		require.NoError(t, err)
		s.client = c
	}
	tests := []struct {
		name       string
		fault      *fanfaretest.Fault
		setup      func(t *testing.T, s *emuSetup)
		verified   bool // a JWKS verifier and AcceptVerifiedDuringOutage
		wantStatus int
		wantCode   string
		wantHook   bool
	}{
		{"Fanfare 503", &fanfaretest.Fault{Status: 503}, nil, false, 503, "ADMISSION_UNAVAILABLE", true},
		{"Fanfare drops the connection", &fanfaretest.Fault{Drop: true}, nil, false, 503, "ADMISSION_UNAVAILABLE", true},
		{"Fanfare answers garbage", &fanfaretest.Fault{Malformed: true}, nil, false, 503, "ADMISSION_UNAVAILABLE", true},
		{"Fanfare too slow", &fanfaretest.Fault{Latency: time.Second}, nil, false, 503, "ADMISSION_UNAVAILABLE", true},
		{"Fanfare 429", &fanfaretest.Fault{Status: 429}, nil, false, 503, "ADMISSION_UNAVAILABLE", true},
		{"one 503, then fine: the client retries", &fanfaretest.Fault{Status: 503, Times: 1}, nil, false, 200, "", false},
		{"Fanfare 404", &fanfaretest.Fault{Status: 404}, nil, false, 403, "ADMISSION_INVALID", false},
		{"Fanfare 400", &fanfaretest.Fault{Status: 400}, nil, false, 403, "ADMISSION_INVALID", false},
		{"our credentials refused", nil, wrongKey, false, 503, "ADMISSION_UNAVAILABLE", true},
		{"outage, verified token accepted", &fanfaretest.Fault{Status: 503}, nil, true, 200, "", true},
		{"outage by drop, verified token accepted", &fanfaretest.Fault{Drop: true}, nil, true, 200, "", true},
		{"credentials refused is no outage", nil, wrongKey, true, 503, "ADMISSION_UNAVAILABLE", true},
		{"Fanfare says no, verified or not", &fanfaretest.Fault{Status: 404}, nil, true, 403, "ADMISSION_INVALID", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newEmuSetup(t, fanfaretest.Options{})
			if tc.setup != nil {
				tc.setup(t, s)
			}
			if tc.verified {
				s.opts.Verifier = s.jwksVerifier(t)
				s.opts.AcceptVerifiedDuringOutage = true
			}
			app := s.app(t, admEcho(http.StatusOK))
			tok := s.srv.Admit(admQueue, "c_up")
			if tc.fault != nil {
				s.srv.InjectFault(fanfaretest.EndpointValidate, *tc.fault)
			}
			res := checkout(t, app, tok, "")
			require.Equal(t, tc.wantStatus, res.Status, res.Raw)
			assert.Equal(t, tc.wantCode, res.Body.Code)
			if tc.wantStatus == 503 {
				assert.Equal(t, "5", res.RetryAfter)
				assert.Equal(t, "Admission check unavailable", res.Body.Error)
			}
			if tc.wantStatus == 200 {
				got := seen(t, res)
				assert.Equal(t, tc.verified, got["verified"])
				assert.Equal(t, !tc.verified, got["validated"])
				assert.True(t, s.srv.Completed(admQueue, "c_up"), "completed after an outage admission")
			}
			assert.NotContains(t, s.logs.String(), tok, "token logged")
		})
	}
}

// attack is one hostile request of the attack table.
type attack struct {
	name string
	// token builds the token; body and header are sent along.
	token          func(t *testing.T, s *emuSetup) string
	body           string
	header         []string
	wantCode       string
	localOnlyIfKey bool // refusable locally only with a verification key
}

func attacks() []attack {
	edit := func(tok string, f func(payload map[string]any)) string {
		parts := strings.Split(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var p map[string]any
		_ = json.Unmarshal(raw, &p)
		f(p)
		raw, _ = json.Marshal(p)
		parts[1] = base64.RawURLEncoding.EncodeToString(raw)
		return strings.Join(parts, ".")
	}
	valid := func(t *testing.T, s *emuSetup) jwt.Claims {
		c := admClaims(admQueue, "c_att", s.clock.Now(), 10*time.Minute)
		return &c
	}
	return []attack{
		{name: "alg none", wantCode: "ADMISSION_INVALID", token: func(t *testing.T, s *emuSetup) string {
			return admSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid(t, s), s.srv.KeyID())
		}},
		{name: "HS256 signed with the public key", wantCode: "ADMISSION_INVALID", localOnlyIfKey: true, token: func(t *testing.T, s *emuSetup) string {
			return admSign(t, jwt.SigningMethodHS256, s.srv.PublicKeyPEM(), valid(t, s), s.srv.KeyID())
		}},
		{name: "unknown kid", wantCode: "ADMISSION_INVALID", localOnlyIfKey: true, token: func(t *testing.T, s *emuSetup) string {
			return admSign(t, jwt.SigningMethodES256, admKeys().ec2, valid(t, s), "kid-of-an-attacker")
		}},
		{name: "bad signature", wantCode: "ADMISSION_INVALID", localOnlyIfKey: true, token: func(t *testing.T, s *emuSetup) string {
			return admSign(t, jwt.SigningMethodES256, admKeys().ec2, valid(t, s), s.srv.KeyID())
		}},
		{name: "signature bytes flipped", wantCode: "ADMISSION_INVALID", localOnlyIfKey: true, token: func(t *testing.T, s *emuSetup) string {
			tok := s.srv.Admit(admQueue, "c_att")
			i := strings.LastIndexByte(tok, '.') + 5
			b := []byte(tok)
			b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
			return string(b)
		}},
		{name: "payload edited (a better position)", wantCode: "ADMISSION_INVALID", localOnlyIfKey: true, token: func(t *testing.T, s *emuSetup) string {
			return edit(s.srv.Admit(admQueue, "c_att"), func(p map[string]any) { p["position"] = 1 })
		}},
		{name: "payload edited (another distribution)", wantCode: "ADMISSION_MISMATCH", token: func(t *testing.T, s *emuSetup) string {
			return edit(s.srv.Admit(fanfare.Queue("q_cheap"), "c_att"), func(p map[string]any) { p["distributionId"] = "q_other" })
		}},
		{name: "expired", wantCode: "ADMISSION_EXPIRED", token: func(t *testing.T, s *emuSetup) string {
			return s.srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: admQueue, ConsumerID: "c_att", TTL: -time.Minute})
		}},
		{name: "not yet valid", wantCode: "ADMISSION_INVALID", token: func(t *testing.T, s *emuSetup) string {
			s.clock.Advance(time.Hour) // minted an hour ahead of the checkout's clock
			defer s.clock.Advance(-time.Hour)
			return s.srv.Admit(admQueue, "c_att")
		}},
		{name: "wrong distribution", wantCode: "ADMISSION_MISMATCH", token: func(t *testing.T, s *emuSetup) string {
			return s.srv.Admit(fanfare.Queue("q_other"), "c_att")
		}},
		{name: "wrong consumer", wantCode: "ADMISSION_MISMATCH", body: `{"consumerId":"c_victim"}`, token: func(t *testing.T, s *emuSetup) string {
			return s.srv.Admit(admQueue, "c_att")
		}},
		{name: "fingerprint mismatch", wantCode: "ADMISSION_MISMATCH", header: []string{"X-Device", "fp_attacker"}, token: func(t *testing.T, s *emuSetup) string {
			return s.srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: admQueue, ConsumerID: "c_att", Fingerprint: "fp_victim"})
		}},
		{name: "9 KiB token", wantCode: "ADMISSION_INVALID", token: func(t *testing.T, s *emuSetup) string {
			return edit(s.srv.Admit(admQueue, "c_att"), func(p map[string]any) { p["pad"] = strings.Repeat("x", 9<<10) })
		}},
		{name: "garbage", wantCode: "ADMISSION_INVALID", token: func(*testing.T, *emuSetup) string { return "not-a-jwt" }},
		{name: "many dots", wantCode: "ADMISSION_INVALID", token: func(*testing.T, *emuSetup) string {
			return strings.Repeat("eyJhbGciOiJFUzI1NiJ9.", 200)
		}},
	}
}

func TestRequireAdmissionAttacks(t *testing.T) {
	for _, mode := range []struct {
		name     string
		verifier bool
	}{{"with a JWKS verifier", true}, {"without a verifier", false}} {
		t.Run(mode.name, func(t *testing.T) {
			for _, a := range attacks() {
				t.Run(a.name, func(t *testing.T) {
					s := newEmuSetup(t, fanfaretest.Options{})
					if mode.verifier {
						s.opts.Verifier = s.jwksVerifier(t)
					}
					if a.header != nil { // the route checks fingerprints
						s.opts.Fingerprint = func(r *http.Request) string { return r.Header.Get("X-Device") }
					}
					ran := false
					app := s.app(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))
					tok := a.token(t, s)

					res := checkout(t, app, tok, a.body, a.header...)
					assert.False(t, ran, "the handler ran")
					require.Equal(t, http.StatusForbidden, res.Status, res.Raw)
					local := mode.verifier || !a.localOnlyIfKey
					if local {
						assert.Equal(t, a.wantCode, res.Body.Code)
						assert.Zero(t, s.srv.Calls(fanfaretest.EndpointValidate), "refusable locally, yet Fanfare was asked")
					} else {
						assert.Equal(t, "ADMISSION_INVALID", res.Body.Code)
						assert.Equal(t, 1, s.srv.Calls(fanfaretest.EndpointValidate), "Fanfare decides")
					}
					assert.Empty(t, s.srv.Completions())
				})
			}
		})
	}
}

func TestRequireAdmissionFingerprintWithFanfare(t *testing.T) {
	s := newEmuSetup(t, fanfaretest.Options{})
	s.opts.Fingerprint = func(r *http.Request) string { return r.Header.Get("X-Device") }
	app := s.app(t, admEcho(http.StatusOK))
	tok := s.srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: admQueue, ConsumerID: "c_fp", Fingerprint: "fp_1"})
	res := checkout(t, app, tok, "", "X-Device", "fp_1")
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	assert.Equal(t, "fp_1", seen(t, res)["fingerprint"])
}

func TestRequireAdmissionConcurrentOneToken(t *testing.T) {
	const n = 500
	s := newEmuSetup(t, fanfaretest.Options{})
	// The winner holds the admission until every other request has been
	// answered, so each of them meets it in use.
	others := make(chan struct{})
	var inHandler atomic.Int32
	app := s.app(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inHandler.Add(1)
		<-others
		w.WriteHeader(http.StatusCreated)
	}))
	tok := s.srv.Admit(admQueue, "c_rush")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 64}}
	defer client.CloseIdleConnections()

	var wg sync.WaitGroup
	var answered atomic.Int32
	statuses := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, app.URL+"/checkout", nil)
			req.Header.Set("Fanfare-Admission", tok)
			resp, err := client.Do(req)
			if !assert.NoError(t, err) {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
			if resp.StatusCode != http.StatusCreated && answered.Add(1) == n-1 {
				close(others)
			}
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: n - 1}, count)
	assert.EqualValues(t, 1, inHandler.Load(), "requests that reached the handler")
	assert.Len(t, s.srv.Completions(), 1)
}

// TestRequireAdmissionCompletionOutbox: the consumer's answer waits for one
// quick attempt at Fanfare; whatever Fanfare does, the completion is
// recorded first and delivered by the worker once Fanfare accepts it.
func TestRequireAdmissionCompletionOutbox(t *testing.T) {
	tests := []struct {
		name       string
		fault      *fanfaretest.Fault
		wantAtOnce bool
	}{
		{"accepted at once", nil, true},
		{"two 503s", &fanfaretest.Fault{Status: 503, Times: 2}, false},
		{"two dropped connections", &fanfaretest.Fault{Drop: true, Times: 2}, false},
		{"a slow Fanfare", &fanfaretest.Fault{Latency: 2 * time.Second, Times: 1}, false},
		{"down until cleared", &fanfaretest.Fault{Status: 503}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newEmuSetup(t, fanfaretest.Options{})
			store := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: s.clock.Now})
			worker := fanfare.NewCompletionWorker(s.client, store, fanfare.CompletionWorkerOptions{
				PollInterval: 5 * time.Millisecond, Clock: s.clock.Now, Logger: s.opts.Logger,
			})
			s.opts.Store, s.opts.Completions = store, worker
			app := s.app(t, admEcho(http.StatusOK))
			tok := s.srv.Admit(admQueue, "c_cf")
			if tc.fault != nil {
				s.srv.InjectFault(fanfaretest.EndpointComplete, *tc.fault)
			}

			start := time.Now()
			res := checkout(t, app, tok, "")
			took := time.Since(start)
			require.Equal(t, http.StatusOK, res.Status, "the order stands whatever completion does")
			if tc.fault != nil && tc.fault.Latency > 0 {
				assert.Less(t, took, tc.fault.Latency, "the answer does not wait for a slow Fanfare")
			}
			if tc.wantAtOnce {
				assert.True(t, s.srv.Completed(admQueue, "c_cf"), "completed before the answer")
			}

			// This instance refuses a replay at once, whatever Fanfare knows.
			res = checkout(t, app, tok, "")
			assert.Equal(t, http.StatusConflict, res.Status)
			assert.Equal(t, "ADMISSION_USED", res.Body.Code)

			s.srv.ClearFaults()
			require.Eventually(t, func() bool {
				s.clock.Advance(time.Minute) // retries come due
				return s.srv.Completed(admQueue, "c_cf")
			}, 10*time.Second, 5*time.Millisecond, "the outbox delivers the completion")
			require.NoError(t, worker.Close(context.Background()))
			st, err := store.Stats(context.Background())
			require.NoError(t, err)
			assert.Zero(t, st.Pending, "nothing left pending")
		})
	}
}

// TestRequireAdmissionDefaultWorkerDrains: without an explicit worker, the
// middleware's own delivers a missed completion and then stops.
func TestRequireAdmissionDefaultWorkerDrains(t *testing.T) {
	s := newEmuSetup(t, fanfaretest.Options{})
	app := s.app(t, admEcho(http.StatusOK))
	tok := s.srv.Admit(admQueue, "c_dw")
	s.srv.InjectFault(fanfaretest.EndpointComplete, fanfaretest.Fault{Status: 503, Times: 1})
	res := checkout(t, app, tok, "")
	require.Equal(t, http.StatusOK, res.Status)
	require.Eventually(t, func() bool {
		s.clock.Advance(time.Minute)
		return s.srv.Completed(admQueue, "c_dw")
	}, 10*time.Second, 5*time.Millisecond, "the default worker delivers the completion")
}

func TestRequireAdmissionCompletionSurvivesHangUp(t *testing.T) {
	s := newEmuSetup(t, fanfaretest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	h := fanfare.RequireAdmission(s.client, s.opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		cancel() // the consumer hangs up as the order is placed
	}))
	tok := s.srv.Admit(admQueue, "c_gone")
	req := admRequest(tok).WithContext(ctx)
	h.ServeHTTP(httptest.NewRecorder(), req)
	assert.True(t, s.srv.Completed(admQueue, "c_gone"))
}

func TestRequireAdmissionManualCompletionWithFanfare(t *testing.T) {
	s := newEmuSetup(t, fanfaretest.Options{})
	s.opts.CompleteManually = true
	var completeErr error
	app := s.app(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := fanfare.AdmissionFromContext(r.Context())
		if r.Header.Get("X-Order") == "ok" {
			completeErr = a.Complete(r.Context())
		}
		w.WriteHeader(http.StatusOK)
	}))
	tok := s.srv.Admit(admQueue, "c_man")

	require.Equal(t, http.StatusOK, checkout(t, app, tok, "").Status)
	assert.Empty(t, s.srv.Completions(), "no Complete, no completion")

	require.Equal(t, http.StatusOK, checkout(t, app, tok, "", "X-Order", "ok").Status)
	require.NoError(t, completeErr)
	assert.True(t, s.srv.Completed(admQueue, "c_man"))

	s.srv.InjectFault(fanfaretest.EndpointComplete, fanfaretest.Fault{Status: 404})
	tok2 := s.srv.Admit(admQueue, "c_man2")
	require.Equal(t, http.StatusOK, checkout(t, app, tok2, "", "X-Order", "ok").Status)
	require.NoError(t, completeErr, "the completion is recorded; Fanfare's refusal goes to the outbox")
	require.Eventually(t, func() bool { return strings.Contains(s.logs.String(), "completion given up") },
		10*time.Second, 5*time.Millisecond, "an unknown admission is given up, and logged")
}

func TestRequireAdmissionLocalOnlyWithEmulatorKeys(t *testing.T) {
	for _, mode := range []struct {
		name  string
		setup func(t *testing.T, s *emuSetup) fanfare.Verifier
		emu   fanfaretest.Options
	}{
		{"JWKS", func(t *testing.T, s *emuSetup) fanfare.Verifier { return s.jwksVerifier(t) }, fanfaretest.Options{}},
		{"PEM", func(t *testing.T, s *emuSetup) fanfare.Verifier {
			v, err := fanfare.NewPEMVerifier(s.srv.PublicKeyPEM())
			require.NoError(t, err)
			return v
		}, fanfaretest.Options{}},
		{"HMAC", func(t *testing.T, s *emuSetup) fanfare.Verifier {
			v, err := fanfare.NewHMACVerifier(admKeys().hmac)
			require.NoError(t, err)
			return v
		}, fanfaretest.Options{HS256Secret: admKeys().hmac}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			s := newEmuSetup(t, mode.emu)
			s.opts.Verifier = mode.setup(t, s)
			s.opts.DisableRemoteValidation = true
			app := s.app(t, admEcho(http.StatusOK))
			tok := s.srv.Admit(admQueue, "c_local")

			res := checkout(t, app, tok, "")
			require.Equal(t, http.StatusOK, res.Status, res.Raw)
			assert.Equal(t, true, seen(t, res)["verified"])
			assert.Zero(t, s.srv.Calls(fanfaretest.EndpointValidate))
			assert.True(t, s.srv.Completed(admQueue, "c_local"), "completed with Fanfare all the same")

			res = checkout(t, app, tok, "")
			assert.Equal(t, http.StatusConflict, res.Status)
			assert.Equal(t, "ADMISSION_USED", res.Body.Code)
		})
	}
}

func TestRequireAdmissionSharesDefaultStore(t *testing.T) {
	// Two routes selling one distribution, both on the default store: one
	// admission buys once across both.
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	t.Cleanup(srv.Close)
	v, err := fanfare.NewPEMVerifier(srv.PublicKeyPEM())
	require.NoError(t, err)
	opts := fanfare.AdmissionOptions{Distribution: fanfare.Queue("q_shared_default"), Verifier: v, DisableRemoteValidation: true}
	a := fanfare.RequireAdmission(nil, opts)(admEcho(http.StatusOK))
	b := fanfare.RequireAdmission(nil, opts)(admEcho(http.StatusOK))
	// The default store lives as long as the process: a consumer of its own
	// keeps -count=N runs apart.
	tok := srv.Admit(fanfare.Queue("q_shared_default"), fmt.Sprint("c_two_routes_", time.Now().UnixNano()))
	assert.Equal(t, http.StatusOK, admDo(t, a, admRequest(tok)).Status)
	assert.Equal(t, http.StatusConflict, admDo(t, b, admRequest(tok)).Status)
}

// TestAdmissionGuardHold checks what adapters rely on: the first finish
// decides, and later calls change nothing.
func TestAdmissionGuardHold(t *testing.T) {
	tests := []struct {
		name          string
		end           func(finish func(int))
		wantCompleted bool
	}{
		{"finish 200", func(finish func(int)) { finish(http.StatusOK) }, true},
		{"finish 204", func(finish func(int)) { finish(http.StatusNoContent) }, true},
		{"finish 302", func(finish func(int)) { finish(http.StatusFound) }, false},
		{"finish 500", func(finish func(int)) { finish(http.StatusInternalServerError) }, false},
		{"finish 0", func(finish func(int)) { finish(0) }, false},
		{"finish 200 then finish 0", func(finish func(int)) { finish(http.StatusOK); finish(0) }, true},
		{"finish 0 then finish 200", func(finish func(int)) { finish(0); finish(http.StatusOK) }, false},
		{"finish 500 then finish 200", func(finish func(int)) {
			finish(http.StatusInternalServerError)
			finish(http.StatusOK)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fanfaretest.NewServer(fanfaretest.Options{})
			t.Cleanup(srv.Close)
			q := fanfare.Queue("q_hold")
			guard := fanfare.NewAdmissionGuard(srv.Client(), fanfare.AdmissionOptions{
				Distribution: q,
				Store:        fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}),
			})
			token := srv.Admit(q, "cons_1")
			begin := func(w http.ResponseWriter) (*http.Request, func(int), error) {
				req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
				req.Header.Set("Fanfare-Admission", token)
				return guard(w, req)
			}

			rec := httptest.NewRecorder()
			r, finish, err := begin(rec)
			require.NoError(t, err)
			require.NotNil(t, finish)
			assert.False(t, rec.Flushed || rec.Body.Len() > 0 || len(rec.Header()) > 0, "an admitted request is not written to")
			a, ok := fanfare.AdmissionFromContext(r.Context())
			require.True(t, ok, "the returned request carries the admission")
			assert.Equal(t, "cons_1", a.ConsumerID)

			// While held, a second request is refused with 409
			// ADMISSION_IN_USE, which begin answers itself.
			rec = httptest.NewRecorder()
			_, finish2, err := begin(rec)
			assert.Nil(t, finish2)
			var ae *fanfare.AdmissionError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "ADMISSION_IN_USE", ae.Code)
			assert.Equal(t, http.StatusConflict, rec.Code)
			assert.JSONEq(t, `{"error":"Admission in use","message":"This admission is being used by another checkout","code":"ADMISSION_IN_USE"}`, rec.Body.String())

			tt.end(finish)
			assert.Equal(t, tt.wantCompleted, srv.Completed(q, "cons_1"), "completed with Fanfare")

			_, finish3, err := begin(httptest.NewRecorder())
			if tt.wantCompleted {
				assert.Error(t, err, "a completed admission is refused")
			} else {
				require.NoError(t, err, "a released admission is usable again")
				finish3(0)
			}
		})
	}
}

// The B1 cases of BENCHMARKS.md, in the root package so bench/ can mirror
// them: one request through RequireAdmission with local verification,
// remote validation off and the single-use guard on, into a no-op handler.
// Manual completion releases the hold after each request, so one token can
// be replayed; the store's acquire and release are both on the path.

type admBenchCase struct {
	name   string
	method jwt.SigningMethod
	sign   any
	pemOf  func(b *testing.B) fanfare.Verifier
}

func admBenchCases(b *testing.B) []admBenchCase {
	k := admKeys()
	pemVerifier := func(pub any) func(b *testing.B) fanfare.Verifier {
		return func(b *testing.B) fanfare.Verifier {
			v, err := fanfare.NewPEMVerifier(admPEM(b, pub))
			if err != nil {
				b.Fatal(err)
			}
			return v
		}
	}
	return []admBenchCase{
		{"HS256", jwt.SigningMethodHS256, k.hmac, func(b *testing.B) fanfare.Verifier {
			v, err := fanfare.NewHMACVerifier(k.hmac)
			if err != nil {
				b.Fatal(err)
			}
			return v
		}},
		{"ES256", jwt.SigningMethodES256, k.ec, pemVerifier(&k.ec.PublicKey)},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, pemVerifier(k.ed.Public())},
	}
}

func admBenchRun(b *testing.B, h http.Handler, token string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
	req.Header.Set("Fanfare-Admission", token)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkRequireAdmission(b *testing.B) {
	for _, tc := range admBenchCases(b) {
		now := time.Now()
		c := admClaims(admQueue, "c_bench", now, time.Hour)
		token := admSign(b, tc.method, tc.sign, &c, "")
		noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

		b.Run(tc.name+"/baseline", func(b *testing.B) { admBenchRun(b, noop, token) })
		b.Run(tc.name+"/floor", func(b *testing.B) {
			// golang-jwt v5 parse + verify into map claims, no HTTP.
			v := tc.pemOf(b)
			p := jwt.NewParser(jwt.WithValidMethods([]string{tc.method.Alg()}))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := p.Parse(token, v.Keyfunc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/fanfare", func(b *testing.B) {
			h := fanfare.RequireAdmission(nil, fanfare.AdmissionOptions{
				Distribution:            admQueue,
				Verifier:                tc.pemOf(b),
				DisableRemoteValidation: true,
				CompleteManually:        true,
				Store:                   fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}),
				Logger:                  slog.New(slog.DiscardHandler),
			})(noop)
			admBenchRun(b, h, token)
		})
	}
}

func BenchmarkRequireAdmission_HS256(b *testing.B) { admBenchOne(b, "HS256") }
func BenchmarkRequireAdmission_ES256(b *testing.B) { admBenchOne(b, "ES256") }
func BenchmarkRequireAdmission_EdDSA(b *testing.B) { admBenchOne(b, "EdDSA") }

func admBenchOne(b *testing.B, alg string) {
	for _, tc := range admBenchCases(b) {
		if tc.name != alg {
			continue
		}
		c := admClaims(admQueue, "c_bench", time.Now(), time.Hour)
		token := admSign(b, tc.method, tc.sign, &c, "")
		h := fanfare.RequireAdmission(nil, fanfare.AdmissionOptions{
			Distribution:            admQueue,
			Verifier:                tc.pemOf(b),
			DisableRemoteValidation: true,
			CompleteManually:        true,
			Store:                   fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}),
			Logger:                  slog.New(slog.DiscardHandler),
		})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		admBenchRun(b, h, token)
	}
}

// acquireErrStore answers every Acquire with err.
type acquireErrStore struct {
	fanfare.Store
	err error
}

func (s acquireErrStore) Acquire(context.Context, string, string, time.Duration) error { return s.err }

// TestRequireAdmissionAcquireAnswers: what Store.Acquire returns decides the
// answer, sentinels matched with errors.Is even when wrapped, and any other
// error is a store failure that fails closed.
func TestRequireAdmissionAcquireAnswers(t *testing.T) {
	storeDown := errors.New("store down")
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantIs     []error
	}{
		{"in use", fanfare.ErrAdmissionInUse, http.StatusConflict, "ADMISSION_IN_USE", []error{fanfare.ErrAdmissionInUse}},
		{"in use, wrapped", fmt.Errorf("mystore: %w", fanfare.ErrAdmissionInUse), http.StatusConflict, "ADMISSION_IN_USE", []error{fanfare.ErrAdmissionInUse}},
		{"used", fanfare.ErrAdmissionUsed, http.StatusConflict, "ADMISSION_USED", []error{fanfare.ErrAdmissionUsed}},
		{"used, wrapped", fmt.Errorf("mystore: %w", fanfare.ErrAdmissionUsed), http.StatusConflict, "ADMISSION_USED", []error{fanfare.ErrAdmissionUsed}},
		{"store failure", storeDown, http.StatusServiceUnavailable, "ADMISSION_UNAVAILABLE", []error{fanfare.ErrUnavailable, storeDown}},
		{"store full", fanfare.ErrTooManyKeys, http.StatusServiceUnavailable, "ADMISSION_UNAVAILABLE", []error{fanfare.ErrUnavailable, fanfare.ErrTooManyKeys}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLocalSetup(t)
			s.opts.Store = acquireErrStore{s.store, tt.err}
			var got error
			s.opts.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
				got = err
				fanfare.WriteError(w, r, err)
			}
			h := s.handler(admEcho(http.StatusOK))
			res := admDo(t, h, admRequest(s.token(t, admQueue, "c_acquire", nil)))
			assert.Equal(t, tt.wantStatus, res.Status, res.Raw)
			assert.Equal(t, tt.wantCode, res.Body.Code)
			for _, want := range tt.wantIs {
				assert.ErrorIs(t, got, want)
			}
			if tt.wantStatus == http.StatusServiceUnavailable {
				assert.Equal(t, "5", res.RetryAfter)
			}
		})
	}
}

// acquiredThenFailedStore takes the hold, then reports a failure, as a
// store call whose answer was lost after the command ran.
type acquiredThenFailedStore struct{ fanfare.Store }

func (s acquiredThenFailedStore) Acquire(ctx context.Context, key, owner string, ttl time.Duration) error {
	if err := s.Store.Acquire(ctx, key, owner, ttl); err != nil {
		return err
	}
	return errors.New("store: the answer was lost")
}

// TestRequireAdmissionReleasesAfterAFailedAcquire: a failed Acquire may
// have taken the hold; the guard releases it, so the consumer's retry is
// not refused as in use for HoldTTL.
func TestRequireAdmissionReleasesAfterAFailedAcquire(t *testing.T) {
	s := newLocalSetup(t)
	store := s.store
	s.opts.Store = acquiredThenFailedStore{store}
	tok := s.token(t, admQueue, "c_lost", nil)
	res := admDo(t, s.handler(admEcho(http.StatusOK)), admRequest(tok))
	require.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)

	s.opts.Store = store
	res = admDo(t, s.handler(admEcho(http.StatusOK)), admRequest(tok))
	assert.Equal(t, http.StatusOK, res.Status, "the retry is not refused as in use: %s", res.Raw)
}

// TestRequireAdmissionCompleteStopsRenewal: once the handler completed its
// admission (Admission.Complete), the key is marked used and no hold of
// this owner is left to renew. The renewals stop there: the request's
// context is not canceled with ErrHoldLost, and no "hold lost" is logged,
// while the handler still runs its post-order work.
func TestRequireAdmissionCompleteStopsRenewal(t *testing.T) {
	s := newLocalSetup(t)
	logs := &logBuffer{}
	s.opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s.opts.CompleteManually = true
	s.opts.HoldTTL = 15 * time.Millisecond // a renewal every 5ms of real time
	var cause error
	h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := fanfare.AdmissionFromContext(r.Context())
		if err := a.Complete(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// Post-order work taking a few renewal periods of real time (the
		// renewal runs on a real timer, not on the injected clock).
		select {
		case <-r.Context().Done():
			cause = context.Cause(r.Context())
		case <-time.After(20 * s.opts.HoldTTL):
		}
		w.WriteHeader(http.StatusOK)
	}))
	res := admDo(t, h, admRequest(s.token(t, admQueue, "c_review_renew", nil)))
	assert.Equal(t, http.StatusOK, res.Status, res.Raw)
	assert.NoError(t, cause, "a completed admission's request context is canceled")
	assert.NotContains(t, logs.String(), "hold lost", "a completed admission is logged as a lost hold")
}

// TestRequireAdmissionDefaultWorkerUsesTheStoresClock: with
// AdmissionOptions.Clock set and no Store, the guard's store stamps a
// completion's Since by that clock, and the guard's own worker judges its
// age (GiveUpAfter) by the same clock: one more than 24h behind time.Now
// (here the tests' epoch) must not give the completion up at its first
// failed retry.
func TestRequireAdmissionDefaultWorkerUsesTheStoresClock(t *testing.T) {
	s := newEmuSetup(t, fanfaretest.Options{})
	app := s.app(t, admEcho(http.StatusOK))
	tok := s.srv.Admit(admQueue, "c_review_clock")
	// The quick attempt and the worker's first attempt fail; Fanfare is
	// back after a second.
	s.srv.InjectFault(fanfaretest.EndpointComplete, fanfaretest.Fault{Status: 503, Times: 2})
	require.Equal(t, http.StatusOK, checkout(t, app, tok, "").Status)
	assert.Eventually(t, func() bool {
		// Retries come due by the store's clock; the admission (10 minutes
		// at the emulator) stays live, or the emulator would not record it.
		s.clock.Advance(time.Second)
		return s.srv.Completed(admQueue, "c_review_clock")
	}, 5*time.Second, 5*time.Millisecond, "the completion was not delivered")
	assert.NotContains(t, s.logs.String(), "completion given up", "a completion a minute old was given up")
}

// renewRaceStore holds its first Renew until the handler returned, and
// answers a Release only once a later Renew came (or a second passed): the
// timing of a renewal tick that fires as the handler returns, and a Store
// a few milliseconds away.
type renewRaceStore struct {
	fanfare.Store
	renewing, handlerDone, renewedAgain chan struct{}
	renews                              atomic.Int32
}

func (s *renewRaceStore) Renew(ctx context.Context, key, owner string, ttl time.Duration) error {
	switch s.renews.Add(1) {
	case 1:
		close(s.renewing)
		<-s.handlerDone
	case 2:
		defer close(s.renewedAgain)
	}
	return s.Store.Renew(ctx, key, owner, ttl)
}

func (s *renewRaceStore) Release(ctx context.Context, key, owner string) error {
	err := s.Store.Release(ctx, key, owner)
	select {
	case <-s.renewedAgain:
	case <-time.After(time.Second):
	}
	return err
}

// TestRequireAdmissionFinishStopsRenewal: a renewal tick running as the
// handler returns may re-arm the renewal timer after finish stopped it;
// finish ends the renewals before it lets go of the hold, so no renewal
// finds the hold released and logs "hold lost mid-checkout" for a request
// that ended normally.
func TestRequireAdmissionFinishStopsRenewal(t *testing.T) {
	s := newLocalSetup(t)
	logs := &logBuffer{}
	s.opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s.opts.HoldTTL = 15 * time.Millisecond
	store := &renewRaceStore{Store: s.store, renewing: make(chan struct{}),
		handlerDone: make(chan struct{}), renewedAgain: make(chan struct{})}
	s.opts.Store = store
	h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-store.renewing // a renewal tick is under way
		w.WriteHeader(http.StatusInternalServerError)
		time.AfterFunc(5*time.Millisecond, func() { close(store.handlerDone) }) // once finish has begun
	}))
	res := admDo(t, h, admRequest(s.token(t, admQueue, "c_review_finish", nil)))
	assert.Equal(t, http.StatusInternalServerError, res.Status)
	assert.Equal(t, int32(1), store.renews.Load(), "the lease was renewed after finish stopped the renewals and released the hold")
	assert.NotContains(t, logs.String(), "hold lost", "a request that ended normally is logged as a lost hold")
}
