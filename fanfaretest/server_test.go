package fanfaretest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

func TestCredentials(t *testing.T) {
	t.Run("defaults are random test credentials", func(t *testing.T) {
		a, b := newServer(t, fanfaretest.Options{}), newServer(t, fanfaretest.Options{})
		for _, tt := range []struct{ name, got, other, prefix string }{
			{"organization", a.OrganizationID, b.OrganizationID, "org_test_"},
			{"secret key", a.SecretKey, b.SecretKey, "sk_test_"},
			{"publishable key", a.PublishableKey, b.PublishableKey, "pk_test_"},
		} {
			assert.True(t, strings.HasPrefix(tt.got, tt.prefix), "%s %q: want prefix %q", tt.name, tt.got, tt.prefix)
			assert.NotEqual(t, tt.got, tt.other, "%s must differ between servers", tt.name)
		}
		assert.True(t, strings.HasPrefix(a.URL, "http://127.0.0.1:"), "URL %q", a.URL)
		assert.NotEqual(t, a.KeyID(), b.KeyID(), "each server has its own key")
	})

	t.Run("given credentials are used", func(t *testing.T) {
		srv := newServer(t, fanfaretest.Options{OrganizationID: "org_1", SecretKey: "sk_test_1", PublishableKey: "pk_test_1"})
		assert.Equal(t, "org_1", srv.OrganizationID)
		assert.Equal(t, "sk_test_1", srv.SecretKey)
		assert.Equal(t, "pk_test_1", srv.PublishableKey)
		cfg := srv.Config()
		assert.Equal(t, srv.URL, cfg.APIURL)
		assert.Equal(t, "org_1", cfg.OrganizationID)
		assert.Equal(t, "sk_test_1", cfg.SecretKey)
		assert.Same(t, srv.Client(), srv.Client(), "Client returns one client")
		ok, err := srv.Client().ValidateAdmission(t.Context(), fanfare.Queue("q"), "c", srv.Admit(fanfare.Queue("q"), "c"))
		require.NoError(t, err)
		assert.True(t, ok)
	})

	t.Run("a bad secret key makes Client panic", func(t *testing.T) {
		srv := newServer(t, fanfaretest.Options{SecretKey: "pk_test_oops"})
		assertPanicsFanfare(t, func() { srv.Client() })
	})
}

func TestStartErrors(t *testing.T) {
	busy := newServer(t, fanfaretest.Options{})
	addr := strings.TrimPrefix(busy.URL, "http://")

	_, err := fanfaretest.Start(fanfaretest.Options{Addr: addr})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "fanfare: "), "error %q", err)
	assertPanicsFanfare(t, func() { fanfaretest.NewServer(fanfaretest.Options{Addr: addr}) })

	_, err = fanfaretest.Start(fanfaretest.Options{AdmissionTTL: -time.Second})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "fanfare: "), "error %q", err)
}

func TestStartOnGivenAddr(t *testing.T) {
	srv, err := fanfaretest.Start(fanfaretest.Options{Addr: "localhost:0"})
	require.NoError(t, err)
	defer srv.Close()
	r := do(t, srv, http.MethodGet, wire.PathJWKS, nil, nil)
	assert.Equal(t, http.StatusOK, r.status)
}

func TestServerClock(t *testing.T) {
	clock := fanfaretest.NewClock(start)
	srv := newServer(t, fanfaretest.Options{Clock: clock.Now})
	assert.Equal(t, start, srv.Now())
	clock.Advance(time.Minute)
	assert.Equal(t, start.Add(time.Minute), srv.Now())

	before := time.Now()
	real := newServer(t, fanfaretest.Options{})
	assert.False(t, real.Now().Before(before), "the default clock is time.Now")
}

func TestClock(t *testing.T) {
	c := fanfaretest.NewClock(start)
	assert.Equal(t, start, c.Now())
	c.Advance(90 * time.Second)
	assert.Equal(t, start.Add(90*time.Second), c.Now())
	c.Advance(-30 * time.Second)
	assert.Equal(t, start.Add(time.Minute), c.Now())
	later := start.Add(24 * time.Hour)
	c.Set(later)
	assert.Equal(t, later, c.Now())

	zero := fanfaretest.NewClock(time.Time{})
	assert.Equal(t, time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC), zero.Now(), "a zero start is a fixed date")
}

func TestReset(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	client := srv.Client()
	queue := fanfare.Queue("q1")
	token := srv.Admit(queue, "c1")
	authorize(t, srv, "u1")
	_, err := client.ValidateAdmission(t.Context(), queue, "c1", token)
	require.NoError(t, err)
	require.NoError(t, client.CompleteAdmission(t.Context(), queue, "c1"))
	fresh := srv.Admit(queue, "c2")
	srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: 500})

	srv.Reset()

	for _, e := range []fanfaretest.Endpoint{fanfaretest.EndpointAuthorize, fanfaretest.EndpointValidate, fanfaretest.EndpointComplete} {
		assert.Zero(t, srv.Calls(e), "Calls(%s) after Reset", e)
	}
	assert.Empty(t, srv.Authorizations())
	assert.Empty(t, srv.ValidateCalls())
	assert.Empty(t, srv.Completions())
	assert.True(t, srv.Completed(queue, "c1"), "Reset keeps the state")
	ok, err := client.ValidateAdmission(t.Context(), queue, "c2", fresh)
	require.NoError(t, err, "Reset clears faults")
	assert.True(t, ok, "admissions minted before Reset stay valid")
	ok, err = client.ValidateAdmission(t.Context(), queue, "c1", token)
	require.NoError(t, err)
	assert.False(t, ok, "completed admissions stay completed")
	assert.Zero(t, srv.Calls("nonsense"))
}
