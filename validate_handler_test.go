package fanfare_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

const (
	bodyValid          = `{"valid":true}`
	bodyInvalidToken   = `{"valid":false,"error":"Invalid or expired admission token"}`
	bodyInvalidRequest = `{"error":"Invalid request body"}`
	bodyNoDistribution = `{"error":"queueId or drawId required"}`
	bodyValidationFail = `{"error":"Validation failed"}`
)

func TestValidateAdmissionHandler(t *testing.T) {
	srv := startEmulator(t, fanfaretest.Options{})
	queueToken := srv.Admit(fanfare.Queue("q_1"), "c_1")
	drawToken := srv.Admit(fanfare.Draw("d_1"), "c_2")
	auctionToken := srv.Admit(fanfare.Auction("a_1"), "c_3")
	expired := srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: fanfare.Queue("q_1"), ConsumerID: "c_4", TTL: -time.Minute})

	app := httptest.NewServer(fanfare.NewValidateAdmissionHandler(newTestClient(t, srv, time.Second), fanfare.ValidateAdmissionOptions{}))
	t.Cleanup(app.Close)

	tests := []struct {
		name       string
		method     string
		body       string
		wantStatus int
		wantBody   string
		wantCalls  int // validate calls that reached Fanfare
	}{
		{"queue", "", `{"queueId":"q_1","consumerId":"c_1","token":"` + queueToken + `"}`, 200, bodyValid, 1},
		{"draw", "", `{"drawId":"d_1","consumerId":"c_2","token":"` + drawToken + `"}`, 200, bodyValid, 1},
		{"auction", "", `{"auctionId":"a_1","consumerId":"c_3","token":"` + auctionToken + `"}`, 200, bodyValid, 1},
		{"empty ids ignored", "", `{"queueId":"q_1","drawId":"","auctionId":null,"consumerId":"c_1","token":"` + queueToken + `"}`, 200, bodyValid, 1},
		{"extra fields ignored", "", `{"queueId":"q_1","consumerId":"c_1","token":"` + queueToken + `","cart":[1,2]}`, 200, bodyValid, 1},
		{"other consumer", "", `{"queueId":"q_1","consumerId":"c_9","token":"` + queueToken + `"}`, 403, bodyInvalidToken, 1},
		{"other queue", "", `{"queueId":"q_2","consumerId":"c_1","token":"` + queueToken + `"}`, 403, bodyInvalidToken, 1},
		{"queue token for a draw", "", `{"drawId":"q_1","consumerId":"c_1","token":"` + queueToken + `"}`, 403, bodyInvalidToken, 1},
		{"expired", "", `{"queueId":"q_1","consumerId":"c_4","token":"` + expired + `"}`, 403, bodyInvalidToken, 1},
		{"garbage token", "", `{"queueId":"q_1","consumerId":"c_1","token":"not.a.jwt"}`, 403, bodyInvalidToken, 1},
		{"id needing escape", "", `{"queueId":"../auth/external/authorize?x=1","consumerId":"c_1","token":"t"}`, 403, bodyInvalidToken, 1},
		{"neither id", "", `{"consumerId":"c_1","token":"t"}`, 400, bodyNoDistribution, 0},
		{"empty object", "", `{}`, 400, bodyNoDistribution, 0},
		{"null", "", `null`, 400, bodyNoDistribution, 0},
		{"two ids", "", `{"queueId":"q_1","drawId":"d_1","consumerId":"c_1","token":"t"}`, 400, bodyInvalidRequest, 0},
		{"three ids", "", `{"queueId":"q","drawId":"d","auctionId":"a","consumerId":"c","token":"t"}`, 400, bodyInvalidRequest, 0},
		{"no consumer", "", `{"queueId":"q_1","token":"t"}`, 400, bodyInvalidRequest, 0},
		{"no token", "", `{"queueId":"q_1","consumerId":"c_1"}`, 400, bodyInvalidRequest, 0},
		{"a dot-segment id", "", `{"queueId":"..","consumerId":"c_1","token":"t"}`, 400, bodyInvalidRequest, 0},
		{"empty body", "", ``, 400, bodyInvalidRequest, 0},
		{"malformed", "", `{"queueId":`, 400, bodyInvalidRequest, 0},
		{"array", "", `[{"queueId":"q_1"}]`, 400, bodyInvalidRequest, 0},
		{"number id", "", `{"queueId":1,"consumerId":"c","token":"t"}`, 400, bodyInvalidRequest, 0},
		{"trailing data", "", `{"queueId":"q_1","consumerId":"c_1","token":"t"} {}`, 400, bodyInvalidRequest, 0},
		{"too large", "", `{"queueId":"q_1","consumerId":"c_1","token":"` + strings.Repeat("a", 16<<10) + `"}`, 413, `{"error":"Request body too large"}`, 0},
		{"GET", http.MethodGet, ``, 405, `{"error":"Method not allowed"}`, 0},
		{"DELETE", http.MethodDelete, `{}`, 405, `{"error":"Method not allowed"}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Calls(fanfaretest.EndpointValidate)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			res := send(t, method, app.URL+"/api/validate-admission", strings.NewReader(tt.body))

			assert.Equal(t, tt.wantStatus, res.status, "status; body %s", res.body)
			assert.JSONEq(t, tt.wantBody, res.body, "body")
			assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
			assert.Equal(t, "application/json", res.header.Get("Content-Type"))
			if tt.wantStatus == http.StatusMethodNotAllowed {
				assert.Equal(t, "POST", res.header.Get("Allow"))
			}
			assert.Equal(t, tt.wantCalls, srv.Calls(fanfaretest.EndpointValidate)-before, "validate calls to Fanfare")
		})
	}
}

// TestValidateAdmissionHandlerFanfareFails: every way Fanfare can fail is
// a refusal, never {"valid":true}; unavailability is 503 with Retry-After.
func TestValidateAdmissionHandlerFanfareFails(t *testing.T) {
	tests := []struct {
		name       string
		fault      fanfaretest.Fault
		wrongKey   bool
		wantStatus int
		wantBody   string
		wantErr    error
	}{
		{"500", fanfaretest.Fault{Status: 500}, false, 503, bodyValidationFail, fanfare.ErrUnavailable},
		{"503", fanfaretest.Fault{Status: 503}, false, 503, bodyValidationFail, fanfare.ErrUnavailable},
		{"429", fanfaretest.Fault{Status: 429}, false, 503, bodyValidationFail, fanfare.ErrUnavailable},
		{"dropped", fanfaretest.Fault{Drop: true}, false, 503, bodyValidationFail, fanfare.ErrUnavailable},
		{"too slow", fanfaretest.Fault{Latency: 5 * time.Second}, false, 503, bodyValidationFail, fanfare.ErrUnavailable},
		{"malformed", fanfaretest.Fault{Malformed: true}, false, 503, bodyValidationFail, fanfare.ErrUnavailable},
		{"oversized", fanfaretest.Fault{Oversized: true}, false, 503, bodyValidationFail, fanfare.ErrUnavailable},
		{"401", fanfaretest.Fault{Status: 401}, false, 502, bodyValidationFail, fanfare.ErrUnauthorized},
		{"wrong secret key", fanfaretest.Fault{}, true, 502, bodyValidationFail, fanfare.ErrUnauthorized},
		{"404", fanfaretest.Fault{Status: 404}, false, 403, bodyInvalidToken, fanfare.ErrAdmissionInvalid},
		{"400", fanfaretest.Fault{Status: 400}, false, 403, bodyInvalidToken, fanfare.ErrAdmissionInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startEmulator(t, fanfaretest.Options{})
			token := srv.Admit(fanfare.Queue("q_1"), "c_1")
			if tt.fault != (fanfaretest.Fault{}) {
				srv.InjectFault(fanfaretest.EndpointValidate, tt.fault)
			}
			cfg := srv.Config()
			cfg.AttemptTimeout = 10 * time.Second
			if tt.fault.Latency > 0 {
				cfg.AttemptTimeout = 300 * time.Millisecond
			}
			cfg.Retry = fanfare.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}
			if tt.wrongKey {
				cfg.SecretKey = "sk_test_not_the_right_one"
			}
			client, err := fanfare.NewClient(cfg)
			require.NoError(t, err)
			logger, logs := newLogger()
			var gotErr error
			h := fanfare.NewValidateAdmissionHandler(client, fanfare.ValidateAdmissionOptions{
				Logger: logger,
				ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
					gotErr = err
					fanfare.WriteError(w, r, err)
				},
			})
			app := httptest.NewServer(h)
			t.Cleanup(app.Close)

			res := send(t, http.MethodPost, app.URL, strings.NewReader(`{"queueId":"q_1","consumerId":"c_1","token":"`+token+`"}`))

			assert.Equal(t, tt.wantStatus, res.status, "status; body %s", res.body)
			assert.JSONEq(t, tt.wantBody, res.body, "body")
			if tt.wantStatus == http.StatusServiceUnavailable {
				assert.Equal(t, "1", res.header.Get("Retry-After"))
			}
			assert.ErrorIs(t, gotErr, tt.wantErr, "error given to ErrorHandler")
			assert.NotEmpty(t, logs.String(), "the cause is logged")
			assertNoSecret(t, srv, res.body, "the response body")
			assertNoSecret(t, srv, logs.String(), "the log")
			assert.NotContains(t, logs.String(), token, "the admission token is not logged")
		})
	}
}

func TestValidateAdmissionHandlerErrorHandler(t *testing.T) {
	srv := startEmulator(t, fanfaretest.Options{})
	var gotErr error
	h := fanfare.NewValidateAdmissionHandler(newTestClient(t, srv, time.Second), fanfare.ValidateAdmissionOptions{
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			gotErr = err
			http.Error(w, "custom", http.StatusTeapot)
		},
	})
	tests := []struct {
		name string
		body string
		want error
	}{
		{"refused", `{"queueId":"q","consumerId":"c","token":"t"}`, fanfare.ErrAdmissionInvalid},
		{"no distribution", `{"consumerId":"c","token":"t"}`, fanfare.ErrNoDistribution},
		{"malformed", `{`, fanfare.ErrInvalidRequestBody},
		{"too large", strings.Repeat(" ", 17<<10), nil}, // an *http.MaxBytesError
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotErr = nil
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body)))
			assert.Equal(t, http.StatusTeapot, rec.Code)
			if tt.want == nil {
				var tooLarge *http.MaxBytesError
				assert.ErrorAs(t, gotErr, &tooLarge)
				assert.EqualValues(t, 16<<10, tooLarge.Limit)
			} else {
				assert.ErrorIs(t, gotErr, tt.want)
			}
			assert.True(t, strings.HasPrefix(gotErr.Error(), "fanfare:"), "error %q", gotErr)
		})
	}

	t.Run("wrong method", func(t *testing.T) {
		gotErr = nil
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, "the handler answers a wrong method itself")
		assert.Equal(t, "POST", rec.Header().Get("Allow"))
		assert.JSONEq(t, `{"error":"Method not allowed"}`, rec.Body.String())
		assert.NoError(t, gotErr, "the ErrorHandler is not called")
	})
}

func TestNewValidateAdmissionHandlerPanics(t *testing.T) {
	assert.PanicsWithValue(t, "fanfare: NewValidateAdmissionHandler needs a non-nil *Client", func() {
		fanfare.NewValidateAdmissionHandler(nil, fanfare.ValidateAdmissionOptions{})
	})
}

// FuzzValidateAdmissionBody sends arbitrary bodies through the handler to the
// emulator: the answer is always one of the documented ones, always JSON, a
// body refused as malformed never reaches Fanfare, and {"valid":true} comes
// only with Fanfare's own yes.
func FuzzValidateAdmissionBody(f *testing.F) {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()
	token := srv.Admit(fanfare.Queue("q_1"), "c_1")
	seeds := []string{
		`{"queueId":"q_1","consumerId":"c_1","token":"` + token + `"}`,
		`{"drawId":"d","consumerId":"c","token":"t"}`,
		`{"queueId":"q","drawId":"d","consumerId":"c","token":"t"}`,
		`{"consumerId":"c","token":"t"}`,
		`{"QUEUEID":"q_1","consumerid":"c_1","Token":"x"}`,
		`{"queueId":"q","queueId":"","consumerId":"c","token":"t"}`,
		`{"queueId":"%2e%2e/x","consumerId":"c","token":"t"}`,
		`{"queueId":"q\u0000","consumerId":"c","token":"t"}`,
		`[]`, `null`, `"s"`, `{`, ``, `{"queueId":{}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	cfg := srv.Config()
	cfg.Retry = fanfare.RetryPolicy{MaxAttempts: 1}
	client, err := fanfare.NewClient(cfg)
	if err != nil {
		f.Fatal(err)
	}
	logger, _ := newLogger()
	h := fanfare.NewValidateAdmissionHandler(client, fanfare.ValidateAdmissionOptions{Logger: logger})
	allowed := map[int]bool{200: true, 400: true, 403: true, 413: true}

	f.Fuzz(func(t *testing.T, body []byte) {
		before := srv.Calls(fanfaretest.EndpointValidate)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/validate-admission", bytes.NewReader(body)))
		calls := srv.Calls(fanfaretest.EndpointValidate) - before

		if !allowed[rec.Code] {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", rec.Body)
		}
		if rec.Code == 400 || rec.Code == 413 {
			if calls != 0 {
				t.Fatalf("a refused body reached Fanfare: %q", body)
			}
		}
		if rec.Code == 200 {
			vc := srv.ValidateCalls()
			if calls != 1 || len(vc) == 0 || !vc[len(vc)-1].Valid {
				t.Fatalf("valid without Fanfare's yes: %q", body)
			}
		}
	})
}
