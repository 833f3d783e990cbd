package fanfaretest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

// admin calls the admin API of srv over HTTP.
func admin(t *testing.T, srv *fanfaretest.Server, method, path string, body any) response {
	t.Helper()
	return do(t, srv, method, "/_emulator/"+path, nil, body)
}

// adminOK calls the admin API and requires a 200, decoding the answer.
func adminOK[T any](t *testing.T, srv *fanfaretest.Server, method, path string, body any) T {
	t.Helper()
	r := admin(t, srv, method, path, body)
	require.Equal(t, http.StatusOK, r.status, "%s %s: body %s", method, path, r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	return decode[T](t, r)
}

// requireBadRequest requires a 400 bad_request whose message holds want.
func requireBadRequest(t *testing.T, r response, want string) {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, r.status, "body %s", r.body)
	var e wire.ErrorBody
	require.NoError(t, jsonUnmarshal(r.body, &e))
	assert.Equal(t, wire.CodeBadRequest, e.Error)
	assert.Contains(t, e.Message, want)
}

type admitAnswer struct {
	Token            string `json:"token"`
	ConsumerID       string `json:"consumerId"`
	DistributionID   string `json:"distributionId"`
	DistributionType string `json:"distributionType"`
	Position         *int   `json:"position"`
	AdmittedAt       string `json:"admittedAt"`
	ExpiresAt        string `json:"expiresAt"`
}

type faultList struct {
	Faults []map[string]any `json:"faults"`
}

func TestAdminURL(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	assert.Equal(t, srv.URL+"/_emulator", srv.AdminURL())
}

func TestAdminInfo(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{HoldEntries: true, ManualClock: fanfaretest.NewClock(start), FingerprintHeader: "x-device-id"})
	for _, path := range []string{"/_emulator", "/_emulator/"} {
		r := do(t, srv, http.MethodGet, path, nil, nil)
		require.Equal(t, http.StatusOK, r.status, "%s: body %s", path, r.body)
		info := decode[map[string]any](t, r)
		assert.Equal(t, map[string]any{
			"url": srv.URL, "organizationId": srv.OrganizationID, "publishableKey": srv.PublishableKey,
			"jwksUrl": srv.JWKSURL(), "signing": "ES256", "holdEntries": true, "manualClock": true,
			"fingerprintHeader": "X-Device-Id", "admissionTtl": "10m0s", "now": "2030-03-01T12:00:00Z",
		}, info)
		assert.NotContains(t, string(r.body), srv.SecretKey, "the secret key is never in a response")
	}
	hs := newServer(t, fanfaretest.Options{HS256Secret: []byte("0123456789abcdef0123456789abcdef")})
	assert.Equal(t, "HS256", adminOK[map[string]any](t, hs, http.MethodGet, "", nil)["signing"])
}

func TestAdminAdmit(t *testing.T) {
	srv, clock := newClockedManualServer(t, fanfaretest.Options{AdmissionTTL: 5 * time.Minute})
	client := srv.Client()
	queue := fanfare.Queue("q_1")

	t.Run("queue: next position, default TTL", func(t *testing.T) {
		got := adminOK[admitAnswer](t, srv, http.MethodPost, "admit", `{"type":"queue","id":"q_1","consumerId":"cons_1"}`)
		require.NotNil(t, got.Position)
		assert.Equal(t, 1, *got.Position)
		assert.Equal(t, admitAnswer{
			Token: got.Token, ConsumerID: "cons_1", DistributionID: "q_1", DistributionType: "queue", Position: got.Position,
			AdmittedAt: start.Format(time.RFC3339), ExpiresAt: start.Add(5 * time.Minute).Format(time.RFC3339),
		}, got)
		ok, err := client.ValidateAdmission(t.Context(), queue, "cons_1", got.Token)
		require.NoError(t, err)
		assert.True(t, ok, "an admitted token validates")
		ok, err = client.ValidateAdmission(t.Context(), queue, "cons_2", got.Token)
		require.NoError(t, err)
		assert.False(t, ok, "for its consumer only")
	})

	t.Run("position, ttl and fingerprint", func(t *testing.T) {
		got := adminOK[admitAnswer](t, srv, http.MethodPost, "admit",
			`{"type":"queue","id":"q_1","consumerId":"cons_2","position":42,"ttl":"90s","fingerprint":"fp_1"}`)
		c := claimsOf(t, got.Token, &wire.AdmissionClaims{})
		assert.Equal(t, 42, *c.Position)
		assert.Equal(t, "fp_1", c.Fingerprint)
		assert.Equal(t, start.Add(90*time.Second).Format(time.RFC3339), c.ExpiresAt)
	})

	t.Run("expiresAt", func(t *testing.T) {
		exp := start.Add(time.Hour).Format(time.RFC3339)
		got := adminOK[admitAnswer](t, srv, http.MethodPost, "admit", map[string]any{
			"type": "draw", "id": "d_1", "consumerId": "cons_3", "expiresAt": exp,
		})
		assert.Equal(t, exp, got.ExpiresAt)
		assert.Nil(t, got.Position, "draws carry no position")
		clock.Advance(time.Hour)
		defer clock.Set(start)
		ok, err := client.ValidateAdmission(t.Context(), fanfare.Draw("d_1"), "cons_3", got.Token)
		require.NoError(t, err)
		assert.False(t, ok, "expired at expiresAt")
	})

	t.Run("negative ttl mints an expired token", func(t *testing.T) {
		got := adminOK[admitAnswer](t, srv, http.MethodPost, "admit", `{"type":"auction","id":"a_1","consumerId":"cons_4","ttl":"-1s"}`)
		ok, err := client.ValidateAdmission(t.Context(), fanfare.Auction("a_1"), "cons_4", got.Token)
		require.NoError(t, err)
		assert.False(t, ok)
	})

	for _, tt := range []struct{ name, body, want string }{
		{"no body", ``, "JSON object body is required"},
		{"not an object", `["queue"]`, "must be a JSON object"},
		{"truncated", `{"type":"queue"`, "not valid JSON"},
		{"trailing data", `{"type":"queue","id":"q_1","consumerId":"c"} {}`, "data after the JSON object"},
		{"unknown field", `{"type":"queue","id":"q_1","consumerId":"c","queue":"q_2"}`, `unknown field "queue"`},
		{"field in another case", `{"type":"queue","id":"q_1","ConsumerId":"c"}`, `unknown field "ConsumerId"`},
		{"repeated field", `{"type":"queue","id":"q_1","id":"q_2","consumerId":"c"}`, `field "id" given twice`},
		{"wrong type", `{"type":"queue","id":"q_1","consumerId":"c","position":"3"}`, `"position" must be an integer`},
		{"no type", `{"id":"q_1","consumerId":"c"}`, `"type" is required`},
		{"unknown type", `{"type":"raffle","id":"q_1","consumerId":"c"}`, `"type" must be queue, draw or auction`},
		{"no id", `{"type":"queue","consumerId":"c"}`, `"id" is required`},
		{"no consumer", `{"type":"queue","id":"q_1"}`, `"consumerId" is required`},
		{"position on a draw", `{"type":"draw","id":"d","consumerId":"c","position":2}`, "queues only"},
		{"position zero", `{"type":"queue","id":"q_1","consumerId":"c","position":0}`, "at least 1"},
		{"ttl and expiresAt", `{"type":"queue","id":"q_1","consumerId":"c","ttl":"1m","expiresAt":"2030-03-01T13:00:00Z"}`, "not both"},
		{"zero ttl", `{"type":"queue","id":"q_1","consumerId":"c","ttl":"0s"}`, "must not be zero"},
		{"bad ttl", `{"type":"queue","id":"q_1","consumerId":"c","ttl":"ten minutes"}`, `"ttl" must be a duration`},
		{"ttl as a number", `{"type":"queue","id":"q_1","consumerId":"c","ttl":600}`, `"ttl" must be a string`},
		{"bad expiresAt", `{"type":"queue","id":"q_1","consumerId":"c","expiresAt":"tomorrow"}`, "RFC 3339"},
		{"fingerprint too long", `{"type":"queue","id":"q_1","consumerId":"c","fingerprint":"` + strings.Repeat("f", 1025) + `"}`, "1 KiB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			requireBadRequest(t, admin(t, srv, http.MethodPost, "admit", tt.body), tt.want)
		})
	}

	t.Run("a refused admit changes nothing", func(t *testing.T) {
		got := adminOK[admitAnswer](t, srv, http.MethodPost, "admit", `{"type":"queue","id":"q_1","consumerId":"cons_5"}`)
		assert.Equal(t, 2, *got.Position, "the refused requests took no place in line")
	})

	t.Run("query refused", func(t *testing.T) {
		requireBadRequest(t, admin(t, srv, http.MethodPost, "admit?type=queue", `{"type":"queue","id":"q_1","consumerId":"c"}`), `unknown query parameter "type"`)
	})

	t.Run("body too large", func(t *testing.T) {
		r := admin(t, srv, http.MethodPost, "admit", `{"type":"queue","id":"q_1","consumerId":"`+strings.Repeat("c", 70<<10)+`"}`)
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
	})

	t.Run("GET", func(t *testing.T) {
		r := admin(t, srv, http.MethodGet, "admit", nil)
		assert.Equal(t, http.StatusMethodNotAllowed, r.status)
		assert.Equal(t, "POST", r.header.Get("Allow"))
	})
}

// newClockedManualServer starts an emulator on a manual clock the admin API
// can move.
func newClockedManualServer(t *testing.T, opts fanfaretest.Options) (*fanfaretest.Server, *fanfaretest.Clock) {
	t.Helper()
	clock := fanfaretest.NewClock(start)
	opts.ManualClock = clock
	return newServer(t, opts), clock
}

func TestAdminFaults(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	client := singleShot(t, srv)
	queue := fanfare.Queue("q_1")
	srv.Admit(queue, "cons_1")

	got := adminOK[faultList](t, srv, http.MethodPost, "faults", `{"endpoint":"complete","status":503,"times":2}`)
	assert.Equal(t, []map[string]any{{"endpoint": "complete", "status": 503.0, "times": 2.0, "remaining": 2.0}}, got.Faults)

	err := client.CompleteAdmission(t.Context(), queue, "cons_1")
	assert.ErrorIs(t, err, fanfare.ErrUnavailable, "the injected 503")
	got = adminOK[faultList](t, srv, http.MethodGet, "faults", nil)
	require.Len(t, got.Faults, 1)
	assert.Equal(t, 1.0, got.Faults[0]["remaining"])
	require.Error(t, client.CompleteAdmission(t.Context(), queue, "cons_1"))
	require.NoError(t, client.CompleteAdmission(t.Context(), queue, "cons_1"), "the fault is spent after times calls")
	assert.Empty(t, adminOK[faultList](t, srv, http.MethodGet, "faults", nil).Faults)
	assert.Equal(t, 3, srv.Calls(fanfaretest.EndpointComplete))

	t.Run("every field", func(t *testing.T) {
		got := adminOK[faultList](t, srv, http.MethodPost, "faults",
			`{"endpoint":"validate","latency":"1ms","malformed":true,"times":5,"fraction":0.5}`)
		assert.Equal(t, []map[string]any{{
			"endpoint": "validate", "latency": "1ms", "malformed": true, "times": 5.0, "fraction": 0.5, "remaining": 5.0,
		}}, got.Faults)
		adminOK[faultList](t, srv, http.MethodPost, "faults", `{"endpoint":"jwks","drop":true}`)
		adminOK[faultList](t, srv, http.MethodPost, "faults", `{"endpoint":"enter","oversized":true}`)
		adminOK[faultList](t, srv, http.MethodPost, "faults", `{"endpoint":"authorize","latency":"2s"}`)
		got = adminOK[faultList](t, srv, http.MethodPost, "faults", `{"endpoint":"exchange","status":429}`)
		var names []any
		for _, f := range got.Faults {
			names = append(names, f["endpoint"])
		}
		assert.Equal(t, []any{"authorize", "exchange", "enter", "validate", "jwks"}, names)
	})

	t.Run("DELETE one endpoint", func(t *testing.T) {
		got := adminOK[faultList](t, srv, http.MethodDelete, "faults?endpoint=validate", nil)
		for _, f := range got.Faults {
			assert.NotEqual(t, "validate", f["endpoint"])
		}
		assert.Len(t, got.Faults, 4)
		requireBadRequest(t, admin(t, srv, http.MethodDelete, "faults?endpoint=checkout", nil), `"endpoint" must be one of authorize, exchange, enter, validate, complete, jwks`)
		requireBadRequest(t, admin(t, srv, http.MethodDelete, "faults?endpoint=jwks&endpoint=enter", nil), "given twice")
		requireBadRequest(t, admin(t, srv, http.MethodDelete, "faults?all=1", nil), `unknown query parameter "all"`)
		requireBadRequest(t, admin(t, srv, http.MethodDelete, "faults", `{"endpoint":"jwks"}`), "takes no body")
		assert.Len(t, adminOK[faultList](t, srv, http.MethodGet, "faults", nil).Faults, 4, "refused deletes clear nothing")
	})

	t.Run("DELETE all", func(t *testing.T) {
		assert.Empty(t, adminOK[faultList](t, srv, http.MethodDelete, "faults", nil).Faults)
		ok, err := client.ValidateAdmission(t.Context(), queue, "cons_1", "x")
		require.NoError(t, err)
		assert.False(t, ok)
	})

	for _, tt := range []struct{ name, body, want string }{
		{"no endpoint", `{"status":503}`, `"endpoint" is required`},
		{"unknown endpoint", `{"endpoint":"checkout","status":503}`, `"endpoint" must be one of`},
		{"status 99", `{"endpoint":"complete","status":99}`, "between 200 and 599"},
		{"status 600", `{"endpoint":"complete","status":600}`, "between 200 and 599"},
		{"negative times", `{"endpoint":"complete","status":503,"times":-1}`, `"times" must not be negative`},
		{"negative latency", `{"endpoint":"complete","latency":"-1s"}`, `"latency" must not be negative`},
		{"bad latency", `{"endpoint":"complete","latency":"soon"}`, `"latency" must be a duration`},
		{"fraction above 1", `{"endpoint":"complete","status":503,"fraction":1.5}`, "between 0 and 1"},
		{"negative fraction", `{"endpoint":"complete","status":503,"fraction":-0.5}`, "between 0 and 1"},
		{"two answers", `{"endpoint":"complete","status":503,"drop":true}`, "at most one"},
		{"does nothing", `{"endpoint":"complete","times":2}`, "does nothing"},
		{"misspelt field", `{"endpoint":"complete","statuscode":503}`, `unknown field "statuscode"`},
		{"field in another case", `{"endpoint":"complete","Status":503}`, `unknown field "Status"`},
		{"remaining is not an input", `{"endpoint":"complete","status":503,"remaining":2}`, `unknown field "remaining"`},
		{"status as a string", `{"endpoint":"complete","status":"503"}`, `"status" must be an integer`},
		{"drop as a string", `{"endpoint":"complete","drop":"yes"}`, `"drop" must be true or false`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			requireBadRequest(t, admin(t, srv, http.MethodPost, "faults", tt.body), tt.want)
			assert.Empty(t, adminOK[faultList](t, srv, http.MethodGet, "faults", nil).Faults, "a refused fault is not injected")
		})
	}

	t.Run("PUT", func(t *testing.T) {
		r := admin(t, srv, http.MethodPut, "faults", `{"endpoint":"complete","status":503}`)
		assert.Equal(t, http.StatusMethodNotAllowed, r.status)
		assert.Equal(t, "GET, POST, DELETE", r.header.Get("Allow"))
	})
}

func TestAdminFaultLatencyAndDrop(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	adminOK[faultList](t, srv, http.MethodPost, "faults", `{"endpoint":"validate","latency":"150ms","times":1}`)
	began := time.Now()
	_, _, err := rawValidate(t.Context(), srv, "t")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(began), 150*time.Millisecond, "the injected latency")

	adminOK[faultList](t, srv, http.MethodPost, "faults", `{"endpoint":"validate","drop":true}`)
	_, _, err = rawValidate(t.Context(), srv, "t")
	assert.Error(t, err, "the connection is dropped")
}

func TestAdminInspection(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	client := srv.Client()
	queue := fanfare.Queue("q_1")
	token := srv.Admit(queue, "cons_1")
	authorize(t, srv, "alice")
	ok, err := client.ValidateAdmission(t.Context(), queue, "cons_1", token)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, client.CompleteAdmission(t.Context(), queue, "cons_1"))

	calls := adminOK[map[string]map[string]int](t, srv, http.MethodGet, "calls", nil)
	assert.Equal(t, map[string]int{"authorize": 1, "exchange": 0, "enter": 0, "validate": 1, "complete": 1, "jwks": 0}, calls["calls"],
		"admin requests are not counted")

	completions := adminOK[map[string][]map[string]any](t, srv, http.MethodGet, "completions", nil)["completions"]
	require.Len(t, completions, 1)
	assert.Equal(t, "queue", completions[0]["type"])
	assert.Equal(t, "q_1", completions[0]["id"])
	assert.Equal(t, "cons_1", completions[0]["consumerId"])
	at, err := time.Parse(time.RFC3339Nano, completions[0]["at"].(string))
	require.NoError(t, err)
	assert.Equal(t, srv.Completions()[0].At.UTC(), at)

	type completed struct{ Completed bool }
	assert.True(t, adminOK[completed](t, srv, http.MethodGet, "completed?type=queue&id=q_1&consumerId=cons_1", nil).Completed)
	assert.False(t, adminOK[completed](t, srv, http.MethodGet, "completed?type=queue&id=q_1&consumerId=cons_2", nil).Completed)
	assert.False(t, adminOK[completed](t, srv, http.MethodGet, "completed?type=draw&id=q_1&consumerId=cons_1", nil).Completed)
	requireBadRequest(t, admin(t, srv, http.MethodGet, "completed?type=queue&id=q_1", nil), `"consumerId" is required`)
	requireBadRequest(t, admin(t, srv, http.MethodGet, "completed?id=q_1&consumerId=c", nil), `"type" is required`)
	requireBadRequest(t, admin(t, srv, http.MethodGet, "completed?type=queue&id=q_1&consumerId=c&x=1", nil), `unknown query parameter "x"`)

	auths := adminOK[map[string][]map[string]any](t, srv, http.MethodGet, "authorizations", nil)["authorizations"]
	require.Len(t, auths, 1)
	assert.Equal(t, "shop", auths[0]["provider"])
	assert.Equal(t, "alice", auths[0]["subject"])
	assert.Equal(t, map[string]any{"email": "alice@shop.example"}, auths[0]["claims"])
	assert.Equal(t, srv.Authorizations()[0].ExchangeCode, auths[0]["exchangeCode"])

	validations := adminOK[map[string][]map[string]any](t, srv, http.MethodGet, "validations", nil)["validations"]
	assert.Equal(t, []map[string]any{{"type": "queue", "id": "q_1", "consumerId": "cons_1", "token": token, "valid": true}}, validations)

	for _, path := range []string{"calls?endpoint=validate", "completions?type=queue", "validations?x", "authorizations?x=1"} {
		requireBadRequest(t, admin(t, srv, http.MethodGet, path, nil), "unknown query parameter")
	}
	requireBadRequest(t, admin(t, srv, http.MethodGet, "calls", `{"endpoint":"validate"}`), "takes no body")
	r := admin(t, srv, http.MethodPost, "calls", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
}

func TestAdminReset(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	queue := fanfare.Queue("q_1")
	token := srv.Admit(queue, "cons_1")
	require.NoError(t, srv.Client().CompleteAdmission(t.Context(), queue, "cons_1"))
	srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: 500})

	requireBadRequest(t, admin(t, srv, http.MethodPost, "reset", `{"faults":true}`), `unknown field "faults": this endpoint takes no fields`)
	assert.Len(t, srv.Completions(), 1, "a refused reset resets nothing")

	assert.Equal(t, map[string]bool{"reset": true}, adminOK[map[string]bool](t, srv, http.MethodPost, "reset", nil))
	assert.Empty(t, srv.Completions())
	assert.Zero(t, srv.Calls(fanfaretest.EndpointComplete))
	assert.Empty(t, adminOK[faultList](t, srv, http.MethodGet, "faults", nil).Faults)
	assert.True(t, srv.Completed(queue, "cons_1"), "reset keeps the state")
	ok, err := srv.Client().ValidateAdmission(t.Context(), queue, "cons_1", token)
	require.NoError(t, err)
	assert.False(t, ok)
	adminOK[map[string]bool](t, srv, http.MethodPost, "reset", `{}`)
}

func TestAdminClock(t *testing.T) {
	srv, clock := newClockedManualServer(t, fanfaretest.Options{})
	type clockAnswer struct {
		Now    string
		Manual bool
	}
	assert.Equal(t, clockAnswer{"2030-03-01T12:00:00Z", true}, adminOK[clockAnswer](t, srv, http.MethodGet, "clock", nil))

	token := srv.Admit(fanfare.Queue("q_1"), "cons_1") // lives 10 minutes
	got := adminOK[clockAnswer](t, srv, http.MethodPost, "clock", `{"advance":"9m59s"}`)
	assert.Equal(t, "2030-03-01T12:09:59Z", got.Now)
	assert.Equal(t, start.Add(9*time.Minute+59*time.Second), clock.Now())
	ok, err := srv.Client().ValidateAdmission(t.Context(), fanfare.Queue("q_1"), "cons_1", token)
	require.NoError(t, err)
	assert.True(t, ok)
	adminOK[clockAnswer](t, srv, http.MethodPost, "clock", `{"advance":"1s"}`)
	ok, err = srv.Client().ValidateAdmission(t.Context(), fanfare.Queue("q_1"), "cons_1", token)
	require.NoError(t, err)
	assert.False(t, ok, "expired once the clock reached its expiry")

	got = adminOK[clockAnswer](t, srv, http.MethodPost, "clock", `{"set":"2031-01-01T00:00:00.5Z"}`)
	assert.Equal(t, "2031-01-01T00:00:00.5Z", got.Now)
	got = adminOK[clockAnswer](t, srv, http.MethodPost, "clock", `{"advance":"-500ms"}`)
	assert.Equal(t, "2031-01-01T00:00:00Z", got.Now)

	for _, tt := range []struct{ name, body, want string }{
		{"both", `{"advance":"1s","set":"2031-01-01T00:00:00Z"}`, "not both"},
		{"neither", `{}`, `give "advance"`},
		{"bad advance", `{"advance":"30"}`, `"advance" must be a duration`},
		{"advance as a number", `{"advance":30}`, `"advance" must be a string`},
		{"bad set", `{"set":"2031-01-01"}`, "RFC 3339"},
		{"unknown field", `{"forward":"1s"}`, `unknown field "forward"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			requireBadRequest(t, admin(t, srv, http.MethodPost, "clock", tt.body), tt.want)
			assert.Equal(t, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), clock.Now(), "a refused move moves nothing")
		})
	}

	t.Run("real clock", func(t *testing.T) {
		real := newServer(t, fanfaretest.Options{})
		assert.False(t, adminOK[clockAnswer](t, real, http.MethodGet, "clock", nil).Manual)
		r := admin(t, real, http.MethodPost, "clock", `{"advance":"30s"}`)
		assert.Equal(t, http.StatusConflict, r.status)
		assert.Equal(t, "clock_not_manual", r.errorCode(t))

		fixed := newServer(t, fanfaretest.Options{Clock: fanfaretest.NewClock(start).Now})
		r = admin(t, fixed, http.MethodPost, "clock", `{"advance":"30s"}`)
		assert.Equal(t, http.StatusConflict, r.status, "Options.Clock is the test's to move, not the admin API's")
	})
}

func TestAdminHeldEntries(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{HoldEntries: true})
	alice, aliceID := srv.AccessToken("shop", "iss", "alice")
	bob, _ := srv.AccessToken("shop", "iss", "bob")
	enter := func(token string) response {
		t.Helper()
		return post(t, srv, "/queues/q_hold/enter", bearer(token), nil)
	}
	require.Equal(t, http.StatusAccepted, enter(alice).status)
	require.Equal(t, http.StatusAccepted, enter(bob).status)

	type waiting struct{ Waiting int }
	type admitted struct{ Admitted int }
	assert.Equal(t, 2, adminOK[waiting](t, srv, http.MethodGet, "waiting?type=queue&id=q_hold", nil).Waiting)
	assert.Equal(t, 0, adminOK[waiting](t, srv, http.MethodGet, "waiting?type=queue&id=q_other", nil).Waiting)

	requireBadRequest(t, admin(t, srv, http.MethodPost, "admit-waiting", `{"type":"queue","id":"q_hold","count":0}`), "at least 1")
	requireBadRequest(t, admin(t, srv, http.MethodPost, "admit-waiting", `{"type":"queue"}`), `"id" is required`)
	requireBadRequest(t, admin(t, srv, http.MethodPost, "admit-waiting", `{"type":"queue","id":"q_hold","all":true}`), `unknown field "all"`)
	assert.Equal(t, 2, srv.Waiting(fanfare.Queue("q_hold")), "refused requests admit nobody")

	assert.Equal(t, 1, adminOK[admitted](t, srv, http.MethodPost, "admit-waiting", `{"type":"queue","id":"q_hold","count":1}`).Admitted)
	assert.Equal(t, 1, adminOK[waiting](t, srv, http.MethodGet, "waiting?type=queue&id=q_hold", nil).Waiting)
	r := enter(alice)
	require.Equal(t, http.StatusOK, r.status, "the first in line was admitted; body %s", r.body)
	assert.Equal(t, aliceID, decode[wire.EnterResponse](t, r).ConsumerID)
	assert.Equal(t, http.StatusAccepted, enter(bob).status, "the second still waits")

	assert.Equal(t, 1, adminOK[admitted](t, srv, http.MethodPost, "admit-waiting", `{"type":"queue","id":"q_hold"}`).Admitted)
	assert.Equal(t, http.StatusOK, enter(bob).status)
	assert.Equal(t, 0, adminOK[admitted](t, srv, http.MethodPost, "admit-waiting", `{"type":"queue","id":"q_hold","count":5}`).Admitted)

	t.Run("not holding entries", func(t *testing.T) {
		open := newServer(t, fanfaretest.Options{})
		r := admin(t, open, http.MethodPost, "admit-waiting", `{"type":"queue","id":"q_hold"}`)
		assert.Equal(t, http.StatusConflict, r.status)
		assert.Equal(t, "entries_not_held", r.errorCode(t))
		r = admin(t, open, http.MethodGet, "waiting?type=queue&id=q_hold", nil)
		assert.Equal(t, http.StatusConflict, r.status)
	})
}

func TestAdminNext(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{HoldEntries: true})
	queue := fanfare.Queue("q")
	for _, who := range []string{"a", "b", "c"} {
		tok, _ := srv.AccessToken("shop", "iss", who)
		require.Equal(t, http.StatusAccepted, post(t, srv, "/queues/q/enter", bearer(tok), nil).status)
	}
	assert.Equal(t, 2, srv.AdmitNext(queue, 2))
	assert.Equal(t, 1, srv.Waiting(queue))
	assert.Zero(t, srv.AdmitNext(queue, 0))
	assert.Equal(t, 1, srv.AdmitNext(queue, 9))
	assert.Zero(t, srv.Waiting(queue))
	assertPanicsFanfare(t, func() { srv.AdmitNext(queue, -1) })
}

func TestClearFault(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: 500})
	srv.InjectFault(fanfaretest.EndpointComplete, fanfaretest.Fault{Status: 500})
	srv.ClearFault(fanfaretest.EndpointValidate)
	ok, err := singleShot(t, srv).ValidateAdmission(t.Context(), fanfare.Queue("q"), "c", "t")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Error(t, singleShot(t, srv).CompleteAdmission(t.Context(), fanfare.Queue("q"), "c"), "the other fault stays")
	assertPanicsFanfare(t, func() { srv.ClearFault("checkout") })
}

// serveDirect runs one request through srv's handler, as from remote with
// Host host, and returns the recorded answer.
func serveDirect(srv *fanfaretest.Server, method, path, remote, host string, body string, h http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remote
	req.Host = host
	for k, v := range h {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

func TestAdminRefusesOutsiders(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	const fault = `{"endpoint":"validate","status":503}`
	for _, tt := range []struct {
		name, remote, host string
		header             http.Header
		want               string
	}{
		{"remote client", "192.0.2.10:40000", "127.0.0.1:7070", nil, "loopback clients only"},
		{"private network client", "10.0.0.5:40000", "localhost:7070", nil, "loopback clients only"},
		{"unparsable RemoteAddr", "somewhere", "127.0.0.1:7070", nil, "loopback clients only"},
		{"empty RemoteAddr", "", "127.0.0.1:7070", nil, "loopback clients only"},
		{"DNS rebinding: foreign Host", "127.0.0.1:40000", "attacker.example:7070", nil, "addressed to localhost"},
		{"empty Host", "127.0.0.1:40000", "", nil, "addressed to localhost"},
		{"cross-site browser request", "127.0.0.1:40000", "127.0.0.1:7070", http.Header{"Sec-Fetch-Site": {"cross-site"}}, "cross-origin"},
		{"same-site browser request", "127.0.0.1:40000", "127.0.0.1:7070", http.Header{"Sec-Fetch-Site": {"same-site"}}, "cross-origin"},
		{"foreign Origin", "127.0.0.1:40000", "127.0.0.1:7070", http.Header{"Origin": {"http://localhost:3000"}}, "cross-origin"},
		{"opaque Origin", "127.0.0.1:40000", "127.0.0.1:7070", http.Header{"Origin": {"null"}}, "cross-origin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := serveDirect(srv, http.MethodPost, "/_emulator/faults", tt.remote, tt.host, fault, tt.header)
			require.Equal(t, http.StatusForbidden, rec.Code, "body %s", rec.Body)
			var e wire.ErrorBody
			require.NoError(t, jsonUnmarshal(rec.Body.Bytes(), &e))
			assert.Equal(t, "forbidden", e.Error)
			assert.Contains(t, e.Message, tt.want)
			assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
		})
	}
	rec := serveDirect(srv, http.MethodGet, "/_emulator/calls", "203.0.113.9:1", "127.0.0.1", "", nil)
	assert.Equal(t, http.StatusForbidden, rec.Code, "reads are refused too")
	ok, err := singleShot(t, srv).ValidateAdmission(t.Context(), fanfare.Queue("q"), "c", "t")
	require.NoError(t, err, "no refused request injected a fault")
	assert.False(t, ok)

	t.Run("loopback clients", func(t *testing.T) {
		for _, tt := range []struct {
			remote, host string
			header       http.Header
		}{
			{"127.0.0.1:40000", "127.0.0.1:7070", nil},
			{"127.8.9.10:40000", "localhost", nil},
			{"[::1]:40000", "[::1]:7070", nil},
			{"[::ffff:127.0.0.1]:40000", "LOCALHOST:7070", nil},
			{"127.0.0.1:40000", "127.0.0.1:7070", http.Header{"Sec-Fetch-Site": {"same-origin"}}},
			{"127.0.0.1:40000", "127.0.0.1:7070", http.Header{"Sec-Fetch-Site": {"none"}}},
			{"127.0.0.1:40000", "127.0.0.1:7070", http.Header{"Origin": {"http://127.0.0.1:7070"}}},
		} {
			rec := serveDirect(srv, http.MethodGet, "/_emulator/faults", tt.remote, tt.host, "", tt.header)
			assert.Equal(t, http.StatusOK, rec.Code, "%s with Host %s: body %s", tt.remote, tt.host, rec.Body)
		}
	})

	t.Run("preflight gets no CORS", func(t *testing.T) {
		rec := serveDirect(srv, http.MethodOptions, "/_emulator/faults", "127.0.0.1:1", "127.0.0.1", "",
			http.Header{"Origin": {"http://127.0.0.1"}, "Access-Control-Request-Method": {"POST"}})
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
		assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
	})
}

func TestAdminUnknownPaths(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	for _, path := range []string{"/_emulator/nope", "/_emulator/faults/", "/_emulator/admit/x", "/_emulatorx"} {
		r := do(t, srv, http.MethodGet, path, nil, nil)
		assert.Equal(t, http.StatusNotFound, r.status, path)
		assert.Equal(t, wire.CodeNotFound, r.errorCode(t), path)
	}
}

func TestFingerprintHeader(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{FingerprintHeader: "x-device-id"})
	tok, _ := srv.AccessToken("shop", "iss", "alice")
	h := bearer(tok)
	h.Set("X-Device-Id", "dev_42")
	r := post(t, srv, "/queues/q/enter", h, nil)
	require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
	assert.Equal(t, "dev_42", claimsOf(t, decode[wire.EnterResponse](t, r).AdmissionToken, &wire.AdmissionClaims{}).Fingerprint)

	r = post(t, srv, "/queues/q/enter", bearer(tok), nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Empty(t, claimsOf(t, decode[wire.EnterResponse](t, r).AdmissionToken, &wire.AdmissionClaims{}).Fingerprint, "no header, no claim")

	h.Set("X-Device-Id", strings.Repeat("d", 1025))
	r = post(t, srv, "/queues/q/enter", h, nil)
	assert.Equal(t, http.StatusBadRequest, r.status)

	pre := do(t, srv, http.MethodOptions, "/queues/q/enter", nil, nil)
	assert.Equal(t, "Authorization, Content-Type, X-Device-Id", pre.header.Get("Access-Control-Allow-Headers"))

	t.Run("held entries keep the first fingerprint", func(t *testing.T) {
		held := newServer(t, fanfaretest.Options{FingerprintHeader: "X-Device-Id", HoldEntries: true})
		tok, _ := held.AccessToken("shop", "iss", "bob")
		h := bearer(tok)
		h.Set("X-Device-Id", "dev_1")
		require.Equal(t, http.StatusAccepted, post(t, held, "/draws/d/enter", h, nil).status)
		held.AdmitWaiting(fanfare.Draw("d"))
		r := post(t, held, "/draws/d/enter", bearer(tok), nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "dev_1", claimsOf(t, decode[wire.EnterResponse](t, r).AdmissionToken, &wire.AdmissionClaims{}).Fingerprint)
	})

	t.Run("without the option the header is ignored", func(t *testing.T) {
		plain := newServer(t, fanfaretest.Options{})
		tok, _ := plain.AccessToken("shop", "iss", "carol")
		h := bearer(tok)
		h.Set("X-Device-Id", "dev_1")
		r := post(t, plain, "/queues/q/enter", h, nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Empty(t, claimsOf(t, decode[wire.EnterResponse](t, r).AdmissionToken, &wire.AdmissionClaims{}).Fingerprint)
	})
}

func TestOptionsRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts fanfaretest.Options
	}{
		{"Clock and ManualClock", fanfaretest.Options{Clock: time.Now, ManualClock: fanfaretest.NewClock(start)}},
		{"bad FingerprintHeader", fanfaretest.Options{FingerprintHeader: "X Device"}},
		{"FingerprintHeader with a colon", fanfaretest.Options{FingerprintHeader: "X-Device:"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fanfaretest.Start(tt.opts)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "fanfare: "), "error %q", err)
		})
	}
}

func TestCloseCutsStalledClient(t *testing.T) {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/queues/q1/validate", pr)
	require.NoError(t, err)
	req.Header = secret(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	_, err = pw.Write([]byte(`{"consumerId":"c1",`)) // and never the rest
	require.NoError(t, err)
	require.Eventually(t, func() bool { return srv.Calls(fanfaretest.EndpointValidate) == 1 }, 5*time.Second, time.Millisecond)

	closed := make(chan struct{})
	began := time.Now()
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close hangs on a client that never finishes its body")
	}
	assert.GreaterOrEqual(t, time.Since(began), time.Second, "Close gave the request its grace first")
	cancel()
	_ = pw.CloseWithError(io.ErrUnexpectedEOF) // lets the transport's body writer end
	<-done
}
