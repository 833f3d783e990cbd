// Package contract is the black-box HTTP contract every checkout example
// (net/http, gin, echo, chi) must answer. Each example's test starts its app
// against a fanfaretest emulator and calls [Run] with the app's URL.
package contract

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/examples/internal/browser"
	"github.com/waitify-io/fanfare-go/examples/internal/demo"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// Run drives the app at appURL through the whole contract over HTTP. The
// app must talk to emu and sell the distribution its /api/config names.
// Subtests run one after another: some inject faults into emu. Each
// subtest uses users of its own; the last one runs the demo, whose user is
// "alice".
func Run(t *testing.T, appURL string, emu *fanfaretest.Server) {
	t.Helper()
	c := &suite{app: appURL, emu: emu, run: randomHex(4)}

	t.Run("config", c.config)
	t.Run("login", c.login)
	t.Run("authorize", c.authorize)
	t.Run("checkout", c.checkout)
	t.Run("checkout refusals", c.checkoutRefusals)
	t.Run("another user's admission", c.anotherUsersAdmission)
	t.Run("concurrent checkouts with one admission", c.concurrentCheckouts)
	t.Run("fanfare unavailable", c.fanfareUnavailable)
	t.Run("validate admission", c.validateAdmission)
	t.Run("methods", c.methods)
	t.Run("rate limit", c.rateLimit)
	t.Run("demo", func(t *testing.T) {
		var out strings.Builder
		require.NoError(t, demo.Run(context.Background(), &out, appURL), "demo output:\n%s", out.String())
	})
}

type suite struct {
	app string
	emu *fanfaretest.Server
	run string // makes user ids unique per Run
	n   int
}

// user returns a user id no other subtest uses.
func (c *suite) user(name string) string {
	c.n++
	return name + "-" + c.run + "-" + strconv.Itoa(c.n)
}

// browser returns a browser with the app's config loaded.
func (c *suite) browser(t *testing.T) *browser.Browser {
	t.Helper()
	b := browser.New(c.app)
	_, err := b.LoadConfig(context.Background())
	require.NoError(t, err)
	return b
}

// admitted returns a browser signed in as a fresh user and its admission.
func (c *suite) admitted(t *testing.T, name string) (*browser.Browser, browser.Admission) {
	t.Helper()
	b := c.browser(t)
	a, err := b.Admit(context.Background(), c.user(name))
	require.NoError(t, err)
	return b, a
}

// must returns a function that fails t on a transport error and on any
// answer that shows the secret key, and passes the answer on:
// must(b.Authorize(ctx)).
func (c *suite) must(t *testing.T) func(*browser.Response, error) *browser.Response {
	return func(resp *browser.Response, err error) *browser.Response {
		t.Helper()
		c.noLeak(t, resp, err)
		return resp
	}
}

func (c *suite) noLeak(t *testing.T, resp *browser.Response, err error) {
	t.Helper()
	require.NoError(t, err)
	require.NotContains(t, string(resp.Body), c.emu.SecretKey, "a response body shows the secret key")
	for k, vs := range resp.Header {
		for _, v := range vs {
			require.NotContains(t, v, c.emu.SecretKey, "response header %s shows the secret key", k)
		}
	}
}

// wantError asserts an error answer: status, JSON, no-store, and the code
// when want names one.
func wantError(t *testing.T, resp *browser.Response, status int, code string) {
	t.Helper()
	assert.Equal(t, status, resp.Status, "status; body %s", resp)
	assert.Contains(t, resp.Header.Get("Content-Type"), "application/json", "Content-Type of %s", resp)
	assert.NotEmpty(t, resp.Field("error"), "error field of %s", resp)
	if code != "" {
		assert.Equal(t, code, resp.Field("code"), "code of %s", resp)
	}
}

func (c *suite) distribution(b *browser.Browser) fanfare.Distribution {
	return fanfare.Distribution{Type: fanfare.DistributionType(b.Config.DistributionType), ID: b.Config.DistributionID}
}

func (c *suite) config(t *testing.T) {
	must := c.must(t)
	b := browser.New(c.app)
	resp := must(b.LoadConfig(context.Background()))
	assert.Equal(t, http.StatusOK, resp.Status)
	assert.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	got := b.Config
	assert.Equal(t, c.emu.OrganizationID, got.OrganizationID, "organizationId")
	assert.Equal(t, c.emu.PublishableKey, got.PublishableKey, "publishableKey")
	assert.Equal(t, c.emu.URL, got.APIURL, "apiUrl")
	assert.NoError(t, c.distribution(b).Validate(), "distributionType and distributionId")
}

func (c *suite) login(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		body any
		want int
	}{
		{"user and email", map[string]string{"userId": c.user("login"), "email": "a@example.com"}, http.StatusOK},
		{"user only", map[string]string{"userId": c.user("login")}, http.StatusOK},
		{"no user", map[string]string{"email": "a@example.com"}, http.StatusBadRequest},
		{"user id too long", map[string]string{"userId": strings.Repeat("x", 65)}, http.StatusBadRequest},
		{"not JSON", []byte("userId=alice"), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			must := c.must(t)
			b := browser.New(c.app)
			resp := must(b.Do(ctx, http.MethodPost, c.app+"/login", tt.body, nil))
			assert.Equal(t, tt.want, resp.Status, "body %s", resp)
			cookies := (&http.Response{Header: resp.Header}).Cookies()
			if tt.want != http.StatusOK {
				assert.Empty(t, cookies, "a refused login sets no cookie")
				return
			}
			require.Len(t, cookies, 1, "session cookie")
			assert.True(t, cookies[0].HttpOnly, "session cookie is HttpOnly")
		})
	}
}

func (c *suite) authorize(t *testing.T) {
	ctx := context.Background()
	t.Run("without login", func(t *testing.T) {
		must := c.must(t)
		resp := must(c.browser(t).Authorize(ctx))
		wantError(t, resp, http.StatusUnauthorized, "")
		assert.Equal(t, "Unauthorized", resp.Field("error"))
	})
	t.Run("with a session cookie the app does not know", func(t *testing.T) {
		must := c.must(t)
		b := c.browser(t)
		u, _ := http.NewRequest(http.MethodGet, c.app, nil)
		b.HTTP.Jar.SetCookies(u.URL, []*http.Cookie{{Name: "shop_session", Value: "forged"}})
		wantError(t, must(b.Authorize(ctx)), http.StatusUnauthorized, "")
	})
	t.Run("logged in", func(t *testing.T) {
		must := c.must(t)
		b := c.browser(t)
		user := c.user("authorize")
		must(b.Login(ctx, user, "a@example.com"))
		resp := must(b.Authorize(ctx))
		require.Equal(t, http.StatusOK, resp.Status, "body %s", resp)
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "an exchange code must not be cached")
		code := resp.Field("exchangeCode")
		require.NotEmpty(t, code)
		exp, err := time.Parse(time.RFC3339, resp.Field("expiresAt"))
		require.NoError(t, err, "expiresAt")
		assert.WithinDuration(t, c.emu.Now().Add(time.Minute), exp, 5*time.Second, "the code lives 60 s")

		var got *fanfaretest.Authorization
		for _, a := range c.emu.Authorizations() {
			if a.ExchangeCode == code {
				got = &a
			}
		}
		require.NotNil(t, got, "the emulator issued the code")
		assert.Equal(t, user, got.Subject, "the subject Fanfare sees is the logged-in user")
		assert.Equal(t, "a@example.com", got.Claims["email"], "claims carry the email")

		resp = must(b.Exchange(ctx, code))
		assert.Equal(t, http.StatusOK, resp.Status, "the browser can exchange the code: %s", resp)
	})
}

func (c *suite) checkout(t *testing.T) {
	must := c.must(t)
	ctx := context.Background()
	b, a := c.admitted(t, "buyer")
	cart := browser.CartItem{SKU: "sneaker-42", Quantity: 1}

	resp := must(b.Checkout(ctx, a, cart))
	require.Equal(t, http.StatusOK, resp.Status, "body %s", resp)
	var ok struct {
		Success bool   `json:"success"`
		OrderID string `json:"orderId"`
	}
	require.NoError(t, resp.Decode(&ok))
	assert.True(t, ok.Success, "success")
	assert.NotEmpty(t, ok.OrderID, "orderId")
	assert.True(t, c.emu.Completed(c.distribution(b), a.ConsumerID), "the admission is completed with Fanfare")

	t.Run("same admission again", func(t *testing.T) {
		must := c.must(t)
		resp := must(b.Checkout(ctx, a, cart))
		wantError(t, resp, http.StatusConflict, "ADMISSION_USED")
	})
}

func (c *suite) checkoutRefusals(t *testing.T) {
	ctx := context.Background()
	cart := []browser.CartItem{{SKU: "sneaker-42", Quantity: 1}}

	t.Run("without login", func(t *testing.T) {
		must := c.must(t)
		_, a := c.admitted(t, "anon")
		anon := c.browser(t)
		wantError(t, must(anon.Checkout(ctx, a, cart...)), http.StatusUnauthorized, "")
	})

	b := c.browser(t)
	require.NoError(t, b.SignIn(ctx, c.user("refused")))
	d := c.distribution(b)
	body := func(token string, mod func(*browser.CheckoutRequest)) browser.CheckoutRequest {
		r := browser.CheckoutRequest{
			AdmissionToken: token, ConsumerID: b.ConsumerID,
			ExperienceType: string(d.Type), DistributionID: d.ID, Cart: cart,
		}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	expired := c.emu.AdmitWith(fanfaretest.AdmitOptions{Distribution: d, ConsumerID: b.ConsumerID, TTL: -time.Minute})
	otherDrop := fanfare.Distribution{Type: d.Type, ID: d.ID + "-elsewhere"}
	forOtherDrop := c.emu.Admit(otherDrop, b.ConsumerID)

	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"no admission token", body("", nil), http.StatusForbidden, "ADMISSION_REQUIRED"},
		{"garbage token", body("not-a-jwt", nil), http.StatusForbidden, "ADMISSION_INVALID"},
		{"token cut short", body(c.emu.Admit(d, b.ConsumerID)[:40], nil), http.StatusForbidden, "ADMISSION_INVALID"},
		{"expired admission", body(expired, nil), http.StatusForbidden, "ADMISSION_EXPIRED"},
		{"admission to another drop, body naming it", body(forOtherDrop, func(r *browser.CheckoutRequest) { r.DistributionID = otherDrop.ID }), http.StatusForbidden, ""},
		{"admission to another drop, body naming this one", body(forOtherDrop, nil), http.StatusForbidden, "ADMISSION_MISMATCH"},
		{"body names another consumer", body(c.emu.Admit(d, b.ConsumerID), func(r *browser.CheckoutRequest) { r.ConsumerID = "cons_someone_else" }), http.StatusForbidden, "ADMISSION_MISMATCH"},
		{"unknown experience type", body(c.emu.Admit(d, b.ConsumerID), func(r *browser.CheckoutRequest) { r.ExperienceType = "raffle" }), http.StatusForbidden, ""},
		{"not JSON", []byte("admissionToken=x"), http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			must := c.must(t)
			wantError(t, must(b.CheckoutBody(ctx, tt.body)), tt.status, tt.code)
		})
	}

	t.Run("bad cart leaves the admission usable", func(t *testing.T) {
		must := c.must(t)
		b, a := c.admitted(t, "cart")
		wantError(t, must(b.Checkout(ctx, a)), http.StatusBadRequest, "")
		wantError(t, must(b.Checkout(ctx, a, browser.CartItem{SKU: "x", Quantity: 1000})), http.StatusBadRequest, "")
		assert.False(t, c.emu.Completed(c.distribution(b), a.ConsumerID), "a failed checkout completes nothing")
		resp := must(b.Checkout(ctx, a, cart...))
		assert.Equal(t, http.StatusOK, resp.Status, "retry with a good cart: %s", resp)
	})
}

func (c *suite) anotherUsersAdmission(t *testing.T) {
	must := c.must(t)
	ctx := context.Background()
	cart := browser.CartItem{SKU: "sneaker-42", Quantity: 1}

	// Alice buys once: from now on her consumer is hers.
	alice, a1 := c.admitted(t, "alice")
	require.Equal(t, http.StatusOK, must(alice.Checkout(ctx, a1, cart)).Status)
	_, a2, err := alice.Enter(ctx)
	require.NoError(t, err)

	bob, b1 := c.admitted(t, "bob")

	t.Run("bob with alice's admission", func(t *testing.T) {
		must := c.must(t)
		wantError(t, must(bob.Checkout(ctx, a2, cart)), http.StatusForbidden, "ADMISSION_MISMATCH")
	})
	t.Run("bob with alice's admission, claiming to be her consumer in the body only", func(t *testing.T) {
		must := c.must(t)
		lie := a2
		lie.ConsumerID = bob.ConsumerID
		wantError(t, must(bob.Checkout(ctx, lie, cart)), http.StatusForbidden, "ADMISSION_MISMATCH")
	})
	t.Run("alice with bob's admission", func(t *testing.T) {
		must := c.must(t)
		wantError(t, must(alice.Checkout(ctx, b1, cart)), http.StatusForbidden, "ADMISSION_MISMATCH")
	})
	t.Run("bob's own admission still works", func(t *testing.T) {
		must := c.must(t)
		resp := must(bob.Checkout(ctx, b1, cart))
		assert.Equal(t, http.StatusOK, resp.Status, "body %s", resp)
	})
}

func (c *suite) concurrentCheckouts(t *testing.T) {
	const n = 8
	b, a := c.admitted(t, "rush")
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := b.Checkout(context.Background(), a, browser.CartItem{SKU: "sneaker-42", Quantity: 1})
			if err == nil {
				statuses[i] = resp.Status
			}
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	assert.Equal(t, 1, count[http.StatusOK], "exactly one checkout succeeds; statuses %v", statuses)
	assert.Equal(t, n-1, count[http.StatusConflict]+count[http.StatusForbidden], "the others are refused (409 or 403); statuses %v", statuses)
}

func (c *suite) fanfareUnavailable(t *testing.T) {
	must := c.must(t)
	ctx := context.Background()
	b, a := c.admitted(t, "outage")
	cart := browser.CartItem{SKU: "sneaker-42", Quantity: 1}

	c.emu.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: http.StatusServiceUnavailable})
	t.Cleanup(c.emu.ClearFaults)
	resp := must(b.Checkout(ctx, a, cart))
	wantError(t, resp, http.StatusServiceUnavailable, "ADMISSION_UNAVAILABLE")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"), "Retry-After")

	c.emu.ClearFaults()
	resp = must(b.Checkout(ctx, a, cart))
	assert.Equal(t, http.StatusOK, resp.Status, "the admission survives the outage: %s", resp)
}

func (c *suite) validateAdmission(t *testing.T) {
	must := c.must(t)
	ctx := context.Background()
	b, a := c.admitted(t, "validate")
	d := c.distribution(b)
	idField := map[fanfare.DistributionType]string{fanfare.TypeQueue: "queueId", fanfare.TypeDraw: "drawId", fanfare.TypeAuction: "auctionId"}[d.Type]

	tests := []struct {
		name   string
		body   any
		status int
		valid  string // "true", "false" or "" when the body carries no valid field
		errMsg string
	}{
		{"valid", map[string]string{idField: d.ID, "consumerId": a.ConsumerID, "token": a.Token}, http.StatusOK, "true", ""},
		{"neither queueId nor drawId", map[string]string{"consumerId": a.ConsumerID, "token": a.Token}, http.StatusBadRequest, "", "queueId or drawId required"},
		{"garbage token", map[string]string{idField: d.ID, "consumerId": a.ConsumerID, "token": "garbage"}, http.StatusForbidden, "false", ""},
		{"another consumer", map[string]string{idField: d.ID, "consumerId": "cons_other", "token": a.Token}, http.StatusForbidden, "false", ""},
		{"another distribution", map[string]string{idField: d.ID + "-x", "consumerId": a.ConsumerID, "token": a.Token}, http.StatusForbidden, "false", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			must := c.must(t)
			resp := must(b.ValidateAdmission(ctx, tt.body))
			assert.Equal(t, tt.status, resp.Status, "body %s", resp)
			var got map[string]any
			require.NoError(t, resp.Decode(&got))
			if tt.valid != "" {
				assert.Equal(t, tt.valid == "true", got["valid"], "valid field of %s", resp)
			}
			if tt.errMsg != "" {
				assert.Equal(t, tt.errMsg, got["error"])
			}
		})
	}
	// Validating consumes nothing: the admission still buys an order.
	resp := must(b.Checkout(ctx, a, browser.CartItem{SKU: "sneaker-42", Quantity: 1}))
	assert.Equal(t, http.StatusOK, resp.Status, "checkout after validate: %s", resp)
}

func (c *suite) methods(t *testing.T) {
	ctx := context.Background()
	tests := []struct{ method, path, allow string }{
		{http.MethodGet, "/api/fanfare/authorize", http.MethodPost},
		{http.MethodGet, "/api/checkout", http.MethodPost},
		{http.MethodPut, "/api/checkout", http.MethodPost},
		{http.MethodGet, "/api/validate-admission", http.MethodPost},
		{http.MethodGet, "/login", http.MethodPost},
		{http.MethodPost, "/api/config", http.MethodGet},
	}
	b := browser.New(c.app)
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			must := c.must(t)
			resp := must(b.Do(ctx, tt.method, c.app+tt.path, nil, nil))
			assert.Equal(t, http.StatusMethodNotAllowed, resp.Status, "body %s", resp)
			assert.Contains(t, resp.Header.Get("Allow"), tt.allow, "Allow header")
		})
	}
}

func (c *suite) rateLimit(t *testing.T) {
	must := c.must(t)
	ctx := context.Background()
	b := c.browser(t)
	must(b.Login(ctx, c.user("eager"), ""))
	for i := range demo.AuthorizeLimit {
		resp := must(b.Authorize(ctx))
		require.Equal(t, http.StatusOK, resp.Status, "request %d of %d: %s", i+1, demo.AuthorizeLimit, resp)
	}
	resp := must(b.Authorize(ctx))
	wantError(t, resp, http.StatusTooManyRequests, "")
	assert.Equal(t, "Too many auth requests", resp.Field("error"))
	assert.NotEmpty(t, resp.Header.Get("Retry-After"), "Retry-After")

	other := c.browser(t)
	must(other.Login(ctx, c.user("patient"), ""))
	resp = must(other.Authorize(ctx))
	assert.Equal(t, http.StatusOK, resp.Status, "another user has a budget of their own: %s", resp)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
