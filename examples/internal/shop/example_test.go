package shop_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/examples/internal/browser"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// The shop's pieces mounted on an http.ServeMux with the library, as
// examples/checkout/main.go mounts them (there with alice), against an
// emulator, driven by a scripted browser.
func ExampleShop_Options() {
	emu := fanfaretest.NewServer(fanfaretest.Options{})
	defer emu.Close()
	app, err := newApp(shop.Config{
		Client:         emu.Client(),
		Fanfare:        emu.Config(),
		Distribution:   fanfare.Queue("q_drop"),
		PublishableKey: emu.PublishableKey,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(app)
	defer srv.Close()

	ctx := context.Background()
	b := browser.New(srv.URL)
	adm, err := b.Admit(ctx, "alice") // log in, authorize, exchange, enter
	if err != nil {
		log.Fatal(err)
	}
	resp, err := b.Checkout(ctx, adm, browser.CartItem{SKU: "sneaker-42", Quantity: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, resp.Field("orderId") != "")
	// Output:
	// 200 true
}

// newApp mounts the shop's routes on an http.ServeMux with the options of
// [shop.Shop.Options].
func newApp(cfg shop.Config) (http.Handler, error) {
	s, err := shop.New(cfg)
	if err != nil {
		return nil, err
	}
	o := s.Options()
	authed := func(h http.Handler) http.Handler { return s.Sessions.Authenticate(h) }
	mux := http.NewServeMux()
	mux.Handle("GET /api/config", s.ConfigHandler())
	mux.HandleFunc("POST /login", s.Sessions.Login)
	mux.Handle("POST /api/fanfare/authorize", authed(fanfare.SanitizeClaims(o.Claims)(
		fanfare.RateLimitAuthorize(o.RateLimit)(fanfare.NewAuthorizeHandler(s.Client(), o.Authorize)))))
	mux.Handle("POST /api/validate-admission", fanfare.NewValidateAdmissionHandler(s.Client(), o.Validate))
	mux.Handle("POST /api/checkout", authed(shop.RequireLogin(
		fanfare.RequireAdmission(s.Client(), o.Admission)(s.Checkout()))))
	return mux, nil
}

// The toy login turns its session cookie into a fanfare.Identity, as your
// own auth middleware would.
func ExampleSessions() {
	sessions := shop.NewSessions(nil)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", sessions.Login)
	mux.Handle("GET /me", sessions.Authenticate(shop.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := fanfare.IdentityFromContext(r.Context())
		fmt.Fprint(w, id.Subject, " ", id.Email)
	}))))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b := browser.New(srv.URL)
	me := func() {
		resp, err := b.Do(context.Background(), http.MethodGet, srv.URL+"/me", nil, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(resp.Status, strings.TrimSpace(string(resp.Body)))
	}
	me()
	if _, err := b.Login(context.Background(), "alice", "alice@example.com"); err != nil {
		log.Fatal(err)
	}
	me()
	// Output:
	// 401 {"error":"Unauthorized"}
	// 200 alice alice@example.com
}

// Consumers ties a user to the first consumer they check out as.
func ExampleConsumers() {
	c := shop.NewConsumers()
	fmt.Println(c.Bind("alice", "cons_1")) // first checkout: tied
	fmt.Println(c.Bind("bob", "cons_1"))   // alice's consumer
	fmt.Println(c.Bind("alice", "cons_2")) // alice checks out as cons_1 only
	// Output:
	// <nil>
	// shop: this Fanfare consumer belongs to another user
	// shop: this user checks out as another Fanfare consumer
}

func ExampleOrders() {
	orders := shop.NewOrders()
	o, err := orders.Place(shop.Order{UserID: "alice", ConsumerID: "cons_1", Cart: []shop.CartItem{{SKU: "sneaker-42", Quantity: 1}}})
	if err != nil {
		log.Fatal(err)
	}
	got, _ := orders.Get(o.ID)
	fmt.Println(strings.HasPrefix(o.ID, "ord_"), got.UserID, orders.Len())
	// Output:
	// true alice 1
}

// With emulate set (or no FANFARE_SECRET_KEY), the backend is an embedded
// emulator.
func ExampleOpenBackend() {
	backend, err := shop.OpenBackend(true)
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Close()
	fmt.Println(backend.Emulator != nil, strings.HasPrefix(backend.Config.APIURL, "http://127.0.0.1:"))
	// Output:
	// true true
}
