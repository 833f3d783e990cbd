package shop

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
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

func TestConsumers(t *testing.T) {
	tests := []struct {
		name      string
		bind      [][2]string // bound first, each must succeed
		user, con string
		wantErr   error
	}{
		{"first use ties", nil, "alice", "c1", nil},
		{"same pair again", [][2]string{{"alice", "c1"}}, "alice", "c1", nil},
		{"consumer of another user", [][2]string{{"alice", "c1"}}, "bob", "c1", errConsumerTaken},
		{"user tied to another consumer", [][2]string{{"alice", "c1"}}, "alice", "c2", errUserBound},
		{"two pairs side by side", [][2]string{{"alice", "c1"}}, "bob", "c2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConsumers()
			for _, p := range tt.bind {
				require.NoError(t, c.Bind(p[0], p[1]))
			}
			assert.ErrorIs(t, c.Check(tt.user, tt.con), tt.wantErr, "Check")
			assert.ErrorIs(t, c.Bind(tt.user, tt.con), tt.wantErr, "Bind")
			got, ok := c.ConsumerOf(tt.user)
			if tt.wantErr == nil {
				assert.True(t, ok)
				assert.Equal(t, tt.con, got, "ConsumerOf after Bind")
			}
		})
	}
	t.Run("Check ties nothing", func(t *testing.T) {
		c := NewConsumers()
		require.NoError(t, c.Check("alice", "c1"))
		assert.NoError(t, c.Bind("bob", "c1"), "c1 is still free after a Check")
	})
}

func TestCheckCart(t *testing.T) {
	many := make([]CartItem, maxCartItems+1)
	for i := range many {
		many[i] = CartItem{SKU: "s", Quantity: 1}
	}
	tests := []struct {
		name string
		cart []CartItem
		ok   bool
	}{
		{"one item", []CartItem{{"sneaker-42", 1}}, true},
		{"max quantity", []CartItem{{"sneaker-42", maxQuantity}}, true},
		{"max items", many[:maxCartItems], true},
		{"empty", nil, false},
		{"too many items", many, false},
		{"zero quantity", []CartItem{{"sneaker-42", 0}}, false},
		{"negative quantity", []CartItem{{"sneaker-42", -1}}, false},
		{"quantity over the limit", []CartItem{{"sneaker-42", maxQuantity + 1}}, false},
		{"no sku", []CartItem{{"", 1}}, false},
		{"sku with a control character", []CartItem{{"a\nb", 1}}, false},
		{"sku too long", []CartItem{{strings.Repeat("s", 65), 1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkCart(tt.cart)
			assert.Equal(t, tt.ok, got == "", "checkCart = %q", got)
		})
	}
}

func TestParseDistribution(t *testing.T) {
	tests := []struct {
		in      string
		want    fanfare.Distribution
		wantErr bool
	}{
		{"queue:q_drop", fanfare.Queue("q_drop"), false},
		{"draw:d_1", fanfare.Draw("d_1"), false},
		{"auction:a:1", fanfare.Auction("a:1"), false},
		{"q_drop", fanfare.Distribution{}, true},
		{"raffle:r_1", fanfare.Distribution{}, true},
		{"queue:", fanfare.Distribution{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDistribution(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSessionsExpire(t *testing.T) {
	clock := fanfaretest.NewClock(time.Time{})
	s := NewSessions(clock.Now)
	cookie := login(t, s, `{"userId":"alice"}`)

	whoami := func() string {
		var got string
		h := s.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := fanfare.IdentityFromContext(r.Context())
			got = id.Subject
		}))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(cookie)
		h.ServeHTTP(httptest.NewRecorder(), r)
		return got
	}
	assert.Equal(t, "alice", whoami(), "fresh session")
	clock.Advance(sessionTTL - time.Second)
	assert.Equal(t, "alice", whoami(), "a second before expiry")
	clock.Advance(time.Second)
	assert.Equal(t, "", whoami(), "at expiry")
}

func TestRequireLogin(t *testing.T) {
	h := RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	tests := []struct {
		name string
		ctx  context.Context
		want int
	}{
		{"anonymous", context.Background(), http.StatusUnauthorized},
		{"empty subject", fanfare.WithIdentity(context.Background(), fanfare.Identity{}), http.StatusUnauthorized},
		{"logged in", fanfare.WithIdentity(context.Background(), fanfare.Identity{Subject: "alice"}), http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", nil).WithContext(tt.ctx))
			assert.Equal(t, tt.want, w.Code)
		})
	}
}

// TestCheckoutFailsClosed: mounted without its middleware, the checkout
// handler refuses rather than sells.
func TestCheckoutFailsClosed(t *testing.T) {
	h := Checkout(NewOrders(), NewConsumers(), nil, slog.New(slog.DiscardHandler))
	body := `{"cart":[{"sku":"s","quantity":1}]}`
	user := fanfare.WithIdentity(context.Background(), fanfare.Identity{Subject: "alice"})
	adm := fanfare.WithAdmission(context.Background(), &fanfare.Admission{ConsumerID: "c1", Distribution: fanfare.Queue("q")})
	for name, ctx := range map[string]context.Context{"no user": adm, "no admission": user} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)).WithContext(ctx))
			assert.Equal(t, http.StatusInternalServerError, w.Code)
		})
	}
}

func TestCheckoutPlacesOrder(t *testing.T) {
	orders, consumers := NewOrders(), NewConsumers()
	h := Checkout(orders, consumers, nil, slog.New(slog.DiscardHandler))
	w := serveCheckout(h, "alice", "c1", []byte(`{"admissionToken":"x","cart":[{"sku":"sneaker-42","quantity":2}]}`))
	require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body)
	var resp CheckoutResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
	assert.True(t, resp.Success)
	o, ok := orders.Get(resp.OrderID)
	require.True(t, ok, "the order is stored")
	assert.Equal(t, "alice", o.UserID)
	assert.Equal(t, "c1", o.ConsumerID)
	assert.Equal(t, []CartItem{{"sneaker-42", 2}}, o.Cart)
	assert.Equal(t, []string{resp.OrderID}, orders.ByUser("alice"))
	assert.True(t, orders.Bought(fanfare.Queue("q"), "c1"), "Bought after the order")
	assert.False(t, orders.Bought(fanfare.Queue("other"), "c1"), "Bought in another drop")

	w = serveCheckout(h, "bob", "c1", []byte(`{"cart":[{"sku":"sneaker-42","quantity":1}]}`))
	assert.Equal(t, http.StatusForbidden, w.Code, "bob cannot buy with alice's consumer")
	assert.Equal(t, 1, orders.Len())
}

func FuzzLogin(f *testing.F) {
	for _, seed := range []string{
		`{"userId":"alice","email":"alice@example.com"}`,
		`{"userId":""}`,
		`{"userId":"a\u0000b"}`,
		`{"userId":1}`,
		`{"userId":"alice"} {"userId":"bob"}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(seed))
	}
	s := NewSessions(nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		s.Login(w, httptest.NewRequest(http.MethodPost, "/login", bytes.NewReader(body)))
		switch w.Code {
		case http.StatusOK:
			var req LoginRequest
			require.NoError(t, json.Unmarshal(body, &req), "accepted a body that is not JSON")
			require.True(t, validField(req.UserID, 1, 64), "accepted user id %q", req.UserID)
			require.Len(t, w.Result().Cookies(), 1)
		case http.StatusBadRequest:
			require.Empty(t, w.Result().Cookies(), "a refused login sets a cookie")
		default:
			t.Fatalf("status %d, want 200 or 400", w.Code)
		}
	})
}

func FuzzCheckout(f *testing.F) {
	for _, seed := range []string{
		`{"admissionToken":"x","consumerId":"c1","experienceType":"queue","distributionId":"q","cart":[{"sku":"s","quantity":1}]}`,
		`{"cart":[]}`,
		`{"cart":[{"sku":"s","quantity":1e9}]}`,
		`{"cart":[{"sku":"s","quantity":"1"}]}`,
		`{"cart":null}`,
		`not json`, ``,
	} {
		f.Add([]byte(seed))
	}
	h := Checkout(NewOrders(), NewConsumers(), nil, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, body []byte) {
		w := serveCheckout(h, "alice", "c1", body)
		switch w.Code {
		case http.StatusOK:
			var req CheckoutRequest
			require.NoError(t, json.Unmarshal(body, &req), "sold on a body that is not JSON")
			require.Empty(t, checkCart(req.Cart), "sold a cart checkCart refuses")
		case http.StatusBadRequest:
		default:
			t.Fatalf("status %d, want 200 or 400 (body %s)", w.Code, w.Body)
		}
		require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	})
}

// serveCheckout runs h as if RequireLogin and RequireAdmission had let the
// request through for user with an admission of consumer.
func serveCheckout(h http.Handler, user, consumer string, body []byte) *httptest.ResponseRecorder {
	ctx := fanfare.WithIdentity(context.Background(), fanfare.Identity{Subject: user})
	ctx = fanfare.WithAdmission(ctx, &fanfare.Admission{ConsumerID: consumer, Distribution: fanfare.Queue("q")})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/checkout", bytes.NewReader(body)).WithContext(ctx))
	return w
}

// login logs in with body and returns the session cookie.
func login(t *testing.T, s *Sessions, body string) *http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	s.Login(w, httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body)))
	require.Equal(t, http.StatusOK, w.Code, "login: %s", w.Body)
	cookies := w.Result().Cookies()
	require.Len(t, cookies, 1)
	return cookies[0]
}
