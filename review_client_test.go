package fanfare_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
)

// TestClientDoesNotFollowRedirects: a redirect from the API (a proxy
// misconfigured, an upstream compromised) must neither carry the secret key
// to another host nor let that host answer for Fanfare.
func TestClientDoesNotFollowRedirects(t *testing.T) {
	srv := newEmulator(t)
	var leaked atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Secret-Key") != "" {
			leaked.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("true"))
	}))
	t.Cleanup(elsewhere.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)

	for _, tc := range []struct {
		name string
		hc   *http.Client
	}{
		{"default HTTP client", nil},
		{"caller's HTTP client", &http.Client{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaked.Store(0)
			cfg := srv.Config()
			cfg.APIURL = redirector.URL
			cfg.HTTPClient = tc.hc
			c, err := fanfare.NewClient(cfg)
			require.NoError(t, err)

			ok, err := c.ValidateAdmission(context.Background(), fanfare.Queue("q_1"), "c_1", "tok")
			assert.False(t, ok, "a redirect target answered for Fanfare")
			assert.ErrorIs(t, err, fanfare.ErrUnavailable, "a redirect is not an answer the API gives")
			_, err = c.Authorize(context.Background(), fanfare.AuthorizeRequest{Provider: "p", Issuer: "i", Subject: "s"})
			assert.ErrorIs(t, err, fanfare.ErrUnavailable)
			assert.NotContains(t, err.Error(), cfg.SecretKey)
			assert.Zero(t, leaked.Load(), "the secret key was sent to the redirect target")
		})
	}
}
