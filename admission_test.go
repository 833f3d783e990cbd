package fanfare_test

// Tests of RequireAdmission that need no Fanfare: local verification with
// remote validation off. The tests against the emulator are in
// middleware_test.go.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

var admQueue = fanfare.Queue("q_drop")

// localSetup is a middleware verifying HS256 tokens locally, at a manual time.
type localSetup struct {
	clock *fanfaretest.Clock
	store fanfare.Store
	opts  fanfare.AdmissionOptions
}

func newLocalSetup(t *testing.T) *localSetup {
	t.Helper()
	v, err := fanfare.NewHMACVerifier(admKeys().hmac)
	require.NoError(t, err)
	clk := newAdmClock(admEpoch)
	store := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: clk.Now})
	return &localSetup{clock: clk, store: store, opts: fanfare.AdmissionOptions{
		Distribution:            admQueue,
		Verifier:                v,
		DisableRemoteValidation: true,
		Clock:                   clk.Now,
		Store:                   store,
		Logger:                  slog.New(slog.DiscardHandler),
	}}
}

func (s *localSetup) handler(next http.Handler) http.Handler {
	return fanfare.RequireAdmission(nil, s.opts)(next)
}

// token signs a valid HS256 admission, edited by edit when not nil.
func (s *localSetup) token(t *testing.T, d fanfare.Distribution, consumer string, edit func(*wire.AdmissionClaims)) string {
	t.Helper()
	c := admClaims(d, consumer, s.clock.Now(), 10*time.Minute)
	if edit != nil {
		edit(&c)
	}
	return admSign(t, jwt.SigningMethodHS256, admKeys().hmac, c, "")
}

func TestRequireAdmissionHeaderOff(t *testing.T) {
	s := newLocalSetup(t)
	s.opts.Token = fanfare.BodyToken("admissionToken")
	h := s.handler(admEcho(http.StatusOK))
	res := admDo(t, h, admRequest(s.token(t, admQueue, "c_1", nil)))
	assert.Equal(t, http.StatusForbidden, res.Status)
	assert.Equal(t, "ADMISSION_REQUIRED", res.Body.Code)
}

func TestRequireAdmissionChecks(t *testing.T) {
	const leeway = 5 * time.Second
	tests := []struct {
		name     string
		edit     func(c *wire.AdmissionClaims)
		body     string // JSON body sent along, if any
		wantCode string // "" for 200
	}{
		{"valid", nil, "", ""},
		{"expired", func(c *wire.AdmissionClaims) { admSetExpiry(c, admEpoch.Add(-leeway-time.Second)) }, "", "ADMISSION_EXPIRED"},
		{"expired within the leeway", func(c *wire.AdmissionClaims) { admSetExpiry(c, admEpoch.Add(-leeway+time.Second)) }, "", ""},
		{"exp claim expired, expiresAt not", func(c *wire.AdmissionClaims) {
			c.RegisteredClaims.ExpiresAt = jwt.NewNumericDate(admEpoch.Add(-time.Minute))
		}, "", "ADMISSION_EXPIRED"},
		{"expiresAt expired, exp not", func(c *wire.AdmissionClaims) {
			c.ExpiresAt = admEpoch.Add(-time.Minute).Format(time.RFC3339)
		}, "", "ADMISSION_EXPIRED"},
		{"only expiresAt", func(c *wire.AdmissionClaims) { c.RegisteredClaims.ExpiresAt = nil }, "", ""},
		{"no expiry at all", func(c *wire.AdmissionClaims) {
			c.RegisteredClaims.ExpiresAt, c.ExpiresAt = nil, ""
		}, "", "ADMISSION_INVALID"},
		{"expiresAt not RFC 3339", func(c *wire.AdmissionClaims) { c.ExpiresAt = "tomorrow" }, "", "ADMISSION_INVALID"},
		{"admittedAt not RFC 3339", func(c *wire.AdmissionClaims) { c.AdmittedAt = "now" }, "", "ADMISSION_INVALID"},
		{"not valid yet (nbf)", func(c *wire.AdmissionClaims) {
			c.NotBefore = jwt.NewNumericDate(admEpoch.Add(time.Minute))
		}, "", "ADMISSION_INVALID"},
		{"not valid yet (admittedAt)", func(c *wire.AdmissionClaims) {
			c.AdmittedAt = admEpoch.Add(time.Minute).Format(time.RFC3339)
		}, "", "ADMISSION_INVALID"},
		{"admittedAt ahead within the leeway", func(c *wire.AdmissionClaims) {
			c.AdmittedAt = admEpoch.Add(leeway - time.Second).Format(time.RFC3339)
		}, "", ""},
		{"another distribution id", func(c *wire.AdmissionClaims) { c.DistributionID = "q_other" }, "", "ADMISSION_MISMATCH"},
		{"another distribution type", func(c *wire.AdmissionClaims) { c.DistributionType = "draw" }, "", "ADMISSION_MISMATCH"},
		{"unknown distribution type", func(c *wire.AdmissionClaims) { c.DistributionType = "raffle" }, "", "ADMISSION_INVALID"},
		{"no consumer", func(c *wire.AdmissionClaims) { c.ConsumerID = "" }, "", "ADMISSION_INVALID"},
		{"request names the same consumer", nil, `{"consumerId":"c_me"}`, ""},
		{"request names another consumer", nil, `{"consumerId":"c_other"}`, "ADMISSION_MISMATCH"},
		{"request's consumerId is not a string", nil, `{"consumerId":7}`, "ADMISSION_MISMATCH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newLocalSetup(t)
			h := s.handler(admEcho(http.StatusOK))
			tok := s.token(t, admQueue, "c_me", tc.edit)
			req := admRequest(tok)
			if tc.body != "" {
				req = admJSONRequest(tc.body)
				req.Header.Set("Fanfare-Admission", tok)
			}
			res := admDo(t, h, req)
			if tc.wantCode == "" {
				assert.Equal(t, http.StatusOK, res.Status, "body %s", res.Raw)
				return
			}
			assert.Equal(t, http.StatusForbidden, res.Status)
			assert.Equal(t, tc.wantCode, res.Body.Code)
			assert.Equal(t, "Invalid admission", res.Body.Error)
			assert.Equal(t, "Your access has expired or is invalid", res.Body.Message)
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
		})
	}
}

func admSetExpiry(c *wire.AdmissionClaims, at time.Time) {
	c.ExpiresAt = at.UTC().Format(time.RFC3339)
	c.RegisteredClaims.ExpiresAt = jwt.NewNumericDate(at)
}

func TestRequireAdmissionFingerprint(t *testing.T) {
	tests := []struct {
		name             string
		tokenFP, request string
		wantStatus       int
	}{
		{"match", "fp_abc", "fp_abc", 200},
		{"mismatch", "fp_abc", "fp_abd", 403},
		{"token has none", "", "fp_abc", 403},
		{"request has none", "fp_abc", "", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newLocalSetup(t)
			s.opts.Fingerprint = func(r *http.Request) string { return r.Header.Get("X-Device") }
			h := s.handler(admEcho(http.StatusOK))
			req := admRequest(s.token(t, admQueue, "c_fp", func(c *wire.AdmissionClaims) { c.Fingerprint = tc.tokenFP }))
			req.Header.Set("X-Device", tc.request)
			res := admDo(t, h, req)
			assert.Equal(t, tc.wantStatus, res.Status)
			if tc.wantStatus == 403 {
				assert.Equal(t, "ADMISSION_MISMATCH", res.Body.Code)
			}
		})
	}
}

func TestRequireAdmissionDistributionRules(t *testing.T) {
	draw := fanfare.Draw("d_9")
	tests := []struct {
		name       string
		rule       func(o *fanfare.AdmissionOptions)
		token      fanfare.Distribution
		req        func(tok string) *http.Request
		wantStatus int
		wantCode   string
	}{
		{"set: member", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.AnyOf(admQueue, draw)
		}, draw, admRequest, 200, ""},
		{"set: not a member", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.AnyOf(admQueue)
		}, draw, admRequest, 403, "ADMISSION_MISMATCH"},
		{"checkout body: same", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromBody)
		}, draw, func(tok string) *http.Request {
			return admJSONRequest(`{"admissionToken":"` + tok + `","experienceType":"draw","distributionId":"d_9"}`)
		}, 200, ""},
		{"checkout body: another", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromBody)
		}, draw, func(tok string) *http.Request {
			return admJSONRequest(`{"admissionToken":"` + tok + `","experienceType":"auction","distributionId":"d_9"}`)
		}, 403, "ADMISSION_MISMATCH"},
		{"checkout body: none named", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromBody)
		}, draw, func(tok string) *http.Request {
			return admJSONRequest(`{"admissionToken":"` + tok + `"}`)
		}, 403, "ADMISSION_INVALID"},
		{"checkout body: unknown type", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromBody)
		}, draw, func(tok string) *http.Request {
			return admJSONRequest(`{"admissionToken":"` + tok + `","experienceType":"raffle","distributionId":"d_9"}`)
		}, 403, "ADMISSION_INVALID"},
		{"validate body: drawId", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromBody)
		}, draw, func(tok string) *http.Request {
			return admJSONRequest(`{"token":"x","drawId":"d_9"}`)
		}, 200, ""},
		{"validate body: both ids", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromBody)
		}, draw, func(tok string) *http.Request {
			return admJSONRequest(`{"queueId":"q_drop","drawId":"d_9"}`)
		}, 403, "ADMISSION_INVALID"},
		{"validate body: both shapes, even agreeing", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromBody)
		}, draw, func(tok string) *http.Request {
			return admJSONRequest(`{"experienceType":"draw","distributionId":"d_9","drawId":"d_9"}`)
		}, 403, "ADMISSION_INVALID"},
		{"validate body: neither", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromBody)
		}, draw, func(tok string) *http.Request { return admJSONRequest(`{}`) }, 403, "ADMISSION_INVALID"},
		{"func: unavailable", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.DistributionFunc(func(*http.Request) (fanfare.Distribution, error) {
				return fanfare.Distribution{}, fmt.Errorf("catalog down: %w", fanfare.ErrUnavailable)
			})
		}, draw, admRequest, 503, "ADMISSION_UNAVAILABLE"},
		{"func: invalid distribution", func(o *fanfare.AdmissionOptions) {
			o.Distribution = fanfare.DistributionFunc(func(*http.Request) (fanfare.Distribution, error) { return fanfare.Queue(""), nil })
		}, draw, admRequest, 403, "ADMISSION_INVALID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newLocalSetup(t)
			s.opts.Distribution = nil
			tc.rule(&s.opts)
			h := s.handler(admEcho(http.StatusOK))
			tok := s.token(t, tc.token, "c_rule", nil)
			req := tc.req(tok)
			if req.Header.Get("Fanfare-Admission") == "" && !strings.Contains(tc.name, "checkout body") {
				req.Header.Set("Fanfare-Admission", tok)
			}
			res := admDo(t, h, req)
			require.Equal(t, tc.wantStatus, res.Status, "body %s", res.Raw)
			assert.Equal(t, tc.wantCode, res.Body.Code)
		})
	}
}

func TestDistributionFromPath(t *testing.T) {
	s := newLocalSetup(t)
	s.opts.Distribution = nil
	s.opts.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromPath(fanfare.TypeQueue, "queue"))
	mux := http.NewServeMux()
	mux.Handle("POST /queues/{queue}/checkout", s.handler(admEcho(http.StatusOK)))

	for _, tc := range []struct {
		name, path string
		wantStatus int
	}{
		{"the token's queue", "/queues/q_drop/checkout", 200},
		{"another queue", "/queues/q_other/checkout", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.path, nil)
			req.Header.Set("Fanfare-Admission", s.token(t, admQueue, "c_path_"+tc.name, nil))
			assert.Equal(t, tc.wantStatus, admDo(t, mux, req).Status)
		})
	}
	t.Run("outside a pattern", func(t *testing.T) {
		_, err := fanfare.DistributionFromPath(fanfare.TypeQueue, "queue")(httptest.NewRequest("GET", "/", nil))
		require.Error(t, err)
	})
	t.Run("bad arguments panic", func(t *testing.T) {
		assert.PanicsWithValue(t, "fanfare: DistributionFromPath: unknown type or empty wildcard name", func() {
			fanfare.DistributionFromPath("raffle", "x")
		})
	})
}

func TestRequireAdmissionBindConsumer(t *testing.T) {
	type user struct{ consumerID string }
	type userKey struct{}
	tests := []struct {
		name       string
		user       string
		bindErr    error
		wantStatus int
		wantCode   string
	}{
		{"own admission", "c_owner", nil, 200, ""},
		{"someone else's admission", "c_thief", nil, 403, "ADMISSION_MISMATCH"},
		{"binding cannot decide", "c_owner", fanfare.ErrUnavailable, 503, "ADMISSION_UNAVAILABLE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newLocalSetup(t)
			s.opts.BindConsumer = func(r *http.Request, a *fanfare.Admission) error {
				if tc.bindErr != nil {
					return tc.bindErr
				}
				if u, _ := r.Context().Value(userKey{}).(user); u.consumerID != a.ConsumerID {
					return errors.New("admission belongs to another account")
				}
				return nil
			}
			h := s.handler(admEcho(http.StatusOK))
			req := admRequest(s.token(t, admQueue, "c_owner", nil))
			req = req.WithContext(context.WithValue(req.Context(), userKey{}, user{tc.user}))
			res := admDo(t, h, req)
			assert.Equal(t, tc.wantStatus, res.Status)
			assert.Equal(t, tc.wantCode, res.Body.Code)
			if tc.wantStatus == 503 {
				assert.Equal(t, "5", res.RetryAfter)
			}
		})
	}
}

func TestRequireAdmissionSingleUse(t *testing.T) {
	t.Run("used after a 2xx", func(t *testing.T) {
		s := newLocalSetup(t)
		h := s.handler(admEcho(http.StatusCreated))
		tok := s.token(t, admQueue, "c_once", nil)
		assert.Equal(t, http.StatusCreated, admDo(t, h, admRequest(tok)).Status)
		res := admDo(t, h, admRequest(tok))
		assert.Equal(t, http.StatusConflict, res.Status)
		assert.Equal(t, "ADMISSION_USED", res.Body.Code)
		// Another token of the same consumer and distribution is the same
		// admission as far as Fanfare's completion goes.
		other := s.token(t, admQueue, "c_once", func(c *wire.AdmissionClaims) { c.ID = "adm_second" })
		assert.Equal(t, http.StatusConflict, admDo(t, h, admRequest(other)).Status)
		// The used mark lasts until the token expires, then the store forgets.
		s.clock.Advance(11 * time.Minute)
		assert.Equal(t, 0, fanfare.MemoryStoreLen(s.store))
	})

	t.Run("handler error releases", func(t *testing.T) {
		s := newLocalSetup(t)
		status := http.StatusInternalServerError
		h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
		tok := s.token(t, admQueue, "c_retry", nil)
		assert.Equal(t, http.StatusInternalServerError, admDo(t, h, admRequest(tok)).Status)
		status = http.StatusOK
		assert.Equal(t, http.StatusOK, admDo(t, h, admRequest(tok)).Status, "a failed checkout must not burn the admission")
		assert.Equal(t, http.StatusConflict, admDo(t, h, admRequest(tok)).Status)
	})

	t.Run("handler writing nothing is a 200", func(t *testing.T) {
		s := newLocalSetup(t)
		h := s.handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		tok := s.token(t, admQueue, "c_silent", nil)
		assert.Equal(t, http.StatusOK, admDo(t, h, admRequest(tok)).Status)
		assert.Equal(t, http.StatusConflict, admDo(t, h, admRequest(tok)).Status)
	})

	t.Run("handler panic before any answer releases and re-panics", func(t *testing.T) {
		s := newLocalSetup(t)
		panicking := true
		h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if panicking {
				panic(http.ErrAbortHandler)
			}
		}))
		tok := s.token(t, admQueue, "c_panic", nil)
		assert.PanicsWithValue(t, http.ErrAbortHandler, func() { h.ServeHTTP(httptest.NewRecorder(), admRequest(tok)) })
		panicking = false
		assert.Equal(t, http.StatusOK, admDo(t, h, admRequest(tok)).Status)
	})

	t.Run("handler panic after a 2xx spends the admission", func(t *testing.T) {
		s := newLocalSetup(t)
		h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK) // the order was confirmed to the client
			panic(http.ErrAbortHandler)
		}))
		tok := s.token(t, admQueue, "c_panic2xx", nil)
		assert.PanicsWithValue(t, http.ErrAbortHandler, func() { h.ServeHTTP(httptest.NewRecorder(), admRequest(tok)) })
		res := admDo(t, h, admRequest(tok))
		assert.Equal(t, http.StatusConflict, res.Status)
		assert.Equal(t, "ADMISSION_USED", res.Body.Code)
	})

	t.Run("in use while another request checks out", func(t *testing.T) {
		s := newLocalSetup(t)
		entered, leave := make(chan struct{}), make(chan struct{})
		h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-leave
			w.WriteHeader(http.StatusInternalServerError)
		}))
		tok := s.token(t, admQueue, "c_busy", nil)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); h.ServeHTTP(httptest.NewRecorder(), admRequest(tok)) }()
		<-entered
		res := admDo(t, h, admRequest(tok))
		close(leave)
		wg.Wait()
		assert.Equal(t, http.StatusConflict, res.Status)
		assert.Equal(t, "ADMISSION_IN_USE", res.Body.Code)
		assert.Equal(t, "Admission in use", res.Body.Error)
	})

	t.Run("a hold outlives HoldTTL only if the process died", func(t *testing.T) {
		s := newLocalSetup(t)
		s.opts.HoldTTL = time.Minute
		entered, leave := make(chan struct{}), make(chan struct{})
		h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Block") != "" {
				close(entered)
				<-leave
			}
		}))
		tok := s.token(t, admQueue, "c_slow", nil)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := admRequest(tok)
			r.Header.Set("X-Block", "1")
			h.ServeHTTP(httptest.NewRecorder(), r)
		}()
		<-entered
		s.clock.Advance(time.Minute + time.Second)
		assert.Equal(t, http.StatusOK, admDo(t, h, admRequest(tok)).Status)
		close(leave)
		wg.Wait()
	})
}

func TestRequireAdmissionManualCompletion(t *testing.T) {
	s := newLocalSetup(t)
	s.opts.CompleteManually = true
	var completeErr error
	h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := fanfare.AdmissionFromContext(r.Context())
		if r.Header.Get("X-Place-Order") != "" {
			completeErr = a.Complete(r.Context())
			assert.Equal(t, completeErr, a.Complete(r.Context()), "second call returns the first result")
		}
		w.WriteHeader(http.StatusOK)
	}))
	tok := s.token(t, admQueue, "c_manual", nil)

	assert.Equal(t, http.StatusOK, admDo(t, h, admRequest(tok)).Status)
	assert.Equal(t, http.StatusOK, admDo(t, h, admRequest(tok)).Status, "no Complete: released")

	req := admRequest(tok)
	req.Header.Set("X-Place-Order", "1")
	assert.Equal(t, http.StatusOK, admDo(t, h, req).Status)
	require.NoError(t, completeErr, "no client: completion is local only")
	assert.Equal(t, http.StatusConflict, admDo(t, h, admRequest(tok)).Status)

	t.Run("a Complete after the handler returned without one spends nothing", func(t *testing.T) {
		var late *fanfare.Admission
		h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			late, _ = fanfare.AdmissionFromContext(r.Context())
			w.WriteHeader(http.StatusPaymentRequired) // the order failed: released
		}))
		tok := s.token(t, admQueue, "c_late", nil)
		assert.Equal(t, http.StatusPaymentRequired, admDo(t, h, admRequest(tok)).Status)
		require.NotNil(t, late)
		// Another request may hold the admission by now; a late Complete
		// (a goroutine the handler left behind) must not spend it.
		assert.ErrorContains(t, late.Complete(context.Background()), "released")
		assert.Equal(t, http.StatusPaymentRequired, admDo(t, h, admRequest(tok)).Status, "still usable")
	})

	t.Run("an admission built for a test cannot complete", func(t *testing.T) {
		ctx := fanfare.WithAdmission(context.Background(), &fanfare.Admission{ConsumerID: "c_1"})
		a, ok := fanfare.AdmissionFromContext(ctx)
		require.True(t, ok)
		assert.EqualError(t, a.Complete(ctx), "fanfare: complete: the admission did not come from RequireAdmission")
		_, ok = fanfare.AdmissionFromContext(context.Background())
		assert.False(t, ok)
		_, ok = fanfare.AdmissionFromContext(fanfare.WithAdmission(context.Background(), nil))
		assert.False(t, ok)
	})
}

func TestRequireAdmissionOnAdmitted(t *testing.T) {
	t.Run("admitted and refused", func(t *testing.T) {
		s := newLocalSetup(t)
		var admitted []string
		var refused []error
		s.opts.OnAdmitted = func(r *http.Request, a *fanfare.Admission) { admitted = append(admitted, a.ConsumerID) }
		s.opts.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			refused = append(refused, err)
			fanfare.WriteError(w, r, err)
		}
		h := s.handler(admEcho(http.StatusOK))
		tok := s.token(t, admQueue, "c_hooks", nil)
		admDo(t, h, admRequest(tok))
		admDo(t, h, admRequest(tok))
		admDo(t, h, admRequest(""))
		assert.Equal(t, []string{"c_hooks"}, admitted)
		require.Len(t, refused, 2)
		assert.ErrorIs(t, refused[0], fanfare.ErrAdmissionUsed)
		assert.ErrorIs(t, refused[1], fanfare.ErrAdmissionRequired)
	})

	t.Run("a panicking OnAdmitted refuses and releases", func(t *testing.T) {
		s := newLocalSetup(t)
		boom := true
		s.opts.OnAdmitted = func(*http.Request, *fanfare.Admission) {
			if boom {
				panic("metrics exploded")
			}
		}
		ran := false
		h := s.handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))
		tok := s.token(t, admQueue, "c_hookpanic", nil)
		res := admDo(t, h, admRequest(tok))
		assert.Equal(t, http.StatusServiceUnavailable, res.Status)
		assert.Equal(t, "ADMISSION_UNAVAILABLE", res.Body.Code)
		assert.False(t, ran, "handler must not run")
		boom = false
		assert.Equal(t, http.StatusOK, admDo(t, h, admRequest(tok)).Status, "the hold was released")
	})
}

func TestRequireAdmissionErrorHandler(t *testing.T) {
	s := newLocalSetup(t)
	s.opts.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		var ae *fanfare.AdmissionError
		require.ErrorAs(t, err, &ae)
		if errors.Is(err, fanfare.ErrAdmissionExpired) {
			w.WriteHeader(ae.Status)
			_, _ = io.WriteString(w, "your slot is gone")
			return
		}
		fanfare.WriteError(w, r, err)
	}
	h := s.handler(admEcho(http.StatusOK))

	expired := s.token(t, admQueue, "c_eh", func(c *wire.AdmissionClaims) { admSetExpiry(c, admEpoch.Add(-time.Hour)) })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, admRequest(expired))
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Equal(t, "your slot is gone", rec.Body.String())

	res := admDo(t, h, admRequest(""))
	assert.Equal(t, "ADMISSION_REQUIRED", res.Body.Code, "falls back to the default")

	t.Run("default handler on a foreign error", func(t *testing.T) {
		// Not an *AdmissionError: refused all the same, as a failed call.
		rec := httptest.NewRecorder()
		fanfare.WriteError(rec, admRequest(""), errors.New("whatever"))
		assert.Equal(t, http.StatusBadGateway, rec.Code)
		assert.JSONEq(t, `{"error":"Authentication failed"}`, rec.Body.String())
	})
	t.Run("default handler on a wrapped AdmissionError", func(t *testing.T) {
		rec := httptest.NewRecorder()
		fanfare.WriteError(rec, admRequest(""), fmt.Errorf("app: %w", &fanfare.AdmissionError{Status: http.StatusConflict, Code: "ADMISSION_USED", Reason: fanfare.ErrAdmissionUsed}))
		assert.Equal(t, http.StatusConflict, rec.Code)
		assert.Contains(t, rec.Body.String(), `"code":"ADMISSION_USED"`)
	})
}

func TestAdmissionError(t *testing.T) {
	cause := errors.New("cause")
	e := &fanfare.AdmissionError{Status: 403, Code: "ADMISSION_INVALID", Reason: fanfare.ErrAdmissionInvalid, Err: cause}
	assert.Equal(t, "fanfare: admission invalid: cause", e.Error())
	assert.ErrorIs(t, e, fanfare.ErrAdmissionInvalid)
	assert.ErrorIs(t, e, cause)
	assert.NotErrorIs(t, e, fanfare.ErrAdmissionExpired)
	e.Err = nil
	assert.Equal(t, "fanfare: admission invalid", e.Error())
}

func TestRequireAdmissionPanicsOnMisconfiguration(t *testing.T) {
	v, err := fanfare.NewHMACVerifier(admKeys().hmac)
	require.NoError(t, err)
	client, err := fanfare.NewClient(fanfare.Config{APIURL: "http://127.0.0.1:1", OrganizationID: "org_1", SecretKey: "sk_test_1"})
	require.NoError(t, err)
	q := fanfare.Queue("q_1")
	tests := []struct {
		name   string
		client *fanfare.Client
		opts   fanfare.AdmissionOptions
		want   string
	}{
		{"no distribution rule", client, fanfare.AdmissionOptions{}, "no Distribution"},
		{"nil distribution func", client, fanfare.AdmissionOptions{Distribution: fanfare.DistributionFunc(nil)}, "nil DistributionFunc"},
		{"invalid distribution", client, fanfare.AdmissionOptions{Distribution: fanfare.Queue("")}, "invalid distribution"},
		{"nil client", nil, fanfare.AdmissionOptions{Distribution: q}, "nil client"},
		{"remote off without verifier", nil, fanfare.AdmissionOptions{Distribution: q, DisableRemoteValidation: true}, "requires a Verifier"},
		{"outage fallback without verifier", client, fanfare.AdmissionOptions{Distribution: q, AcceptVerifiedDuringOutage: true}, "requires a Verifier"},
		{"negative duration", client, fanfare.AdmissionOptions{Distribution: q, Leeway: -time.Second}, "negative"},
		{"HoldTTL too short to renew", client, fanfare.AdmissionOptions{Distribution: q, HoldTTL: time.Millisecond}, "HoldTTL"},
		{"HoldTTL of forever", client, fanfare.AdmissionOptions{Distribution: q, HoldTTL: math.MaxInt64}, "HoldTTL over 24h"},
		{"Leeway of forever", client, fanfare.AdmissionOptions{Distribution: q, Leeway: math.MaxInt64}, "Leeway over an hour"},
		{"verifier accepting none", client, fanfare.AdmissionOptions{Distribution: q, Verifier: noneVerifier{}}, `"none"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				p := recover()
				require.NotNil(t, p, "want a panic")
				msg := fmt.Sprint(p)
				assert.True(t, strings.HasPrefix(msg, "fanfare: "), "panic %q must start with fanfare: ", msg)
				assert.Contains(t, msg, tc.want)
			}()
			fanfare.RequireAdmission(tc.client, tc.opts)
		})
	}
	t.Run("valid local-only configuration", func(t *testing.T) {
		assert.NotPanics(t, func() {
			fanfare.RequireAdmission(nil, fanfare.AdmissionOptions{Distribution: q, Verifier: v, DisableRemoteValidation: true})
		})
	})
}

type noneVerifier struct{}

func (noneVerifier) Algorithms() []string            { return []string{"none"} }
func (noneVerifier) Keyfunc(*jwt.Token) (any, error) { return jwt.UnsafeAllowNoneSignatureType, nil }

func TestRequireAdmissionResponseWriter(t *testing.T) {
	s := newLocalSetup(t)
	h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints) // informational: not the final status
		rc := http.NewResponseController(w)
		require.NoError(t, rc.SetWriteDeadline(time.Now().Add(time.Minute)), "ResponseController reaches the server's writer")
		_, _ = io.WriteString(w, "part 1;")
		w.(http.Flusher).Flush()
		require.NoError(t, rc.Flush())
		_, _ = io.WriteString(w, "part 2")
	}))
	app := httptest.NewServer(h)
	defer app.Close()
	tok := s.token(t, admQueue, "c_stream", nil)
	req, err := http.NewRequest(http.MethodPost, app.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Fanfare-Admission", tok)
	resp, err := app.Client().Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "part 1;part 2", string(body))
	assert.Equal(t, http.StatusConflict, admDo(t, h, admRequest(tok)).Status, "the streamed 200 completed the admission")
}

// lostHoldStore loses every hold at its first renewal, as a store whose
// lease ran out while the process could not reach it.
type lostHoldStore struct{ fanfare.Store }

func (lostHoldStore) Renew(context.Context, string, string, time.Duration) error {
	return fanfare.ErrHoldLost
}

// renewSignals signals each renewal of a hold after the store made it.
type renewSignals struct {
	fanfare.Store
	renewed chan struct{}
}

func (s renewSignals) Renew(ctx context.Context, key, owner string, ttl time.Duration) error {
	err := s.Store.Renew(ctx, key, owner, ttl)
	select {
	case s.renewed <- struct{}{}:
	default:
	}
	return err
}

// awaitFresh drops the renewals already signalled and waits for n more:
// the last of them began after the call.
func (s renewSignals) awaitFresh(t *testing.T, n int) {
	t.Helper()
	for len(s.renewed) > 0 {
		<-s.renewed
	}
	for range n {
		select {
		case <-s.renewed:
		case <-time.After(10 * time.Second):
			t.Fatal("the hold was not renewed")
		}
	}
}

func TestRequireAdmissionLease(t *testing.T) {
	t.Run("a checkout longer than HoldTTL keeps its hold", func(t *testing.T) {
		s := newLocalSetup(t)
		// The store keeps the manual clock, which the test moves on only
		// between renewals, so the hold lives twice its TTL without the
		// test depending on how promptly a busy machine fires timers.
		store := renewSignals{fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: s.clock.Now}), make(chan struct{}, 64)}
		s.opts.Store = store
		s.opts.HoldTTL = 30 * time.Millisecond
		entered, leave := make(chan struct{}), make(chan struct{})
		h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-leave
			if r.Context().Err() != nil {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}))
		tok := s.token(t, admQueue, "c_lease", nil)
		first := make(chan int, 1)
		go func() { first <- admDo(t, h, admRequest(tok)).Status }()
		<-entered
		for range 4 { // 4 × HoldTTL/2: twice the lease
			store.awaitFresh(t, 2)
			s.clock.Advance(s.opts.HoldTTL / 2)
			res := admDo(t, h, admRequest(tok))
			require.Equal(t, http.StatusConflict, res.Status, "a second request while the first checks out")
			require.Equal(t, "ADMISSION_IN_USE", res.Body.Code)
		}
		close(leave)
		assert.Equal(t, http.StatusOK, <-first, "the long checkout kept its hold and its context")
		assert.Equal(t, "ADMISSION_USED", admDo(t, h, admRequest(tok)).Body.Code)
	})

	t.Run("a lost hold cancels the request", func(t *testing.T) {
		s := newLocalSetup(t)
		s.opts.Store = lostHoldStore{fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: s.clock.Now})}
		s.opts.HoldTTL = 30 * time.Millisecond
		var cause error
		h := s.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
			cause = context.Cause(r.Context())
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		res := admDo(t, h, admRequest(s.token(t, admQueue, "c_lost", nil)))
		assert.Equal(t, http.StatusServiceUnavailable, res.Status)
		assert.ErrorIs(t, cause, fanfare.ErrHoldLost)
	})
}

func TestRequireAdmissionFarExpiryNeverReopens(t *testing.T) {
	s := newLocalSetup(t)
	h := s.handler(admEcho(http.StatusOK))
	tok := s.token(t, admQueue, "c_far", func(c *wire.AdmissionClaims) {
		far := time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)
		c.ExpiresAt = far.Format(time.RFC3339)
		c.RegisteredClaims.ExpiresAt = jwt.NewNumericDate(far)
	})
	first := admDo(t, h, admRequest(tok))
	if first.Status != http.StatusOK {
		// Refusing an absurd lifetime outright is as good as saturating.
		assert.Equal(t, http.StatusForbidden, first.Status, first.Raw)
		return
	}
	s.clock.Advance(time.Hour)
	res := admDo(t, h, admRequest(tok))
	assert.Equal(t, http.StatusConflict, res.Status, "a used mark must not expire at birth: %s", res.Raw)
}
