package fanfaretest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

// start is the epoch of the manual clocks in these tests.
var start = time.Date(2030, time.March, 1, 12, 0, 0, 0, time.UTC)

// newServer starts an emulator that is closed when the test ends.
func newServer(t *testing.T, opts fanfaretest.Options) *fanfaretest.Server {
	t.Helper()
	srv := fanfaretest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// newClockedServer starts an emulator on a manual clock.
func newClockedServer(t *testing.T, opts fanfaretest.Options) (*fanfaretest.Server, *fanfaretest.Clock) {
	t.Helper()
	clock := fanfaretest.NewClock(start)
	opts.Clock = clock.Now
	return newServer(t, opts), clock
}

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the "error" field of an error body.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var e wire.ErrorBody
	require.NoError(t, json.Unmarshal(r.body, &e), "body %q", r.body)
	return e.Error
}

// secret returns the headers of a server-side call to srv.
func secret(srv *fanfaretest.Server) http.Header {
	h := http.Header{}
	h.Set(wire.HeaderOrganizationID, srv.OrganizationID)
	h.Set(wire.HeaderSecretKey, srv.SecretKey)
	return h
}

// bearer returns an Authorization header carrying token.
func bearer(token string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	return h
}

// do sends a request to srv and reads the answer. body is sent as is when
// it is a string or []byte, JSON-encoded otherwise.
func do(t *testing.T, srv *fanfaretest.Server, method, path string, h http.Header, body any) response {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, bytes.NewReader(raw))
	require.NoError(t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: got}
}

// post is do with POST.
func post(t *testing.T, srv *fanfaretest.Server, path string, h http.Header, body any) response {
	t.Helper()
	return do(t, srv, http.MethodPost, path, h, body)
}

// decode unmarshals a 2xx body into v.
func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(r.body, &v), "body %q", r.body)
	return v
}

// authorize runs an authorize call and returns the exchange code.
func authorize(t *testing.T, srv *fanfaretest.Server, subject string) string {
	t.Helper()
	r := post(t, srv, wire.PathAuthorize, secret(srv), wire.AuthorizeRequest{
		Provider: "shop", Issuer: "https://shop.example", Subject: subject,
		Claims: mustRawJSON(t, map[string]any{"email": subject + "@shop.example"}),
	})
	require.Equal(t, http.StatusOK, r.status, "authorize: body %s", r.body)
	return decode[wire.AuthorizeResponse](t, r).ExchangeCode
}

// exchange trades code for an access token, optionally as the consumer of
// current (an access token; "" for none).
func exchange(t *testing.T, srv *fanfaretest.Server, code, current string) response {
	t.Helper()
	var h http.Header
	if current != "" {
		h = bearer(current)
	}
	return post(t, srv, wire.PathExchange, h, wire.ExchangeRequest{ExchangeCode: code})
}

// signIn runs authorize and exchange and returns the exchange answer.
func signIn(t *testing.T, srv *fanfaretest.Server, subject string) wire.ExchangeResponse {
	t.Helper()
	r := exchange(t, srv, authorize(t, srv, subject), "")
	require.Equal(t, http.StatusOK, r.status, "exchange: body %s", r.body)
	return decode[wire.ExchangeResponse](t, r)
}

// claimsOf decodes a token's payload without verifying it.
func claimsOf[T jwt.Claims](t *testing.T, token string, into T) T {
	t.Helper()
	_, _, err := jwt.NewParser().ParseUnverified(token, into)
	require.NoError(t, err)
	return into
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func itoa(i int) string { return strconv.Itoa(i) }

// mustRawJSON encodes v for a wire.AuthorizeRequest's raw claims.
func mustRawJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
