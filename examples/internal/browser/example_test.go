package browser_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/examples/internal/browser"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// A browser walks the guide's flow one step at a time.
func ExampleNew() {
	emu := fanfaretest.NewServer(fanfaretest.Options{})
	defer emu.Close()
	s, err := shop.New(shop.Config{Client: emu.Client(), Fanfare: emu.Config(), Distribution: fanfare.Queue("q_drop"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	o := s.Options()
	mux := http.NewServeMux() // the shop's routes this example calls
	mux.Handle("GET /api/config", s.ConfigHandler())
	mux.HandleFunc("POST /login", s.Sessions.Login)
	mux.Handle("POST /api/fanfare/authorize", s.Sessions.Authenticate(fanfare.NewAuthorizeHandler(s.Client(), o.Authorize)))
	mux.Handle("POST /api/checkout", s.Sessions.Authenticate(shop.RequireLogin(fanfare.RequireAdmission(s.Client(), o.Admission)(s.Checkout()))))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := context.Background()
	b := browser.New(srv.URL)
	if _, err := b.LoadConfig(ctx); err != nil {
		log.Fatal(err)
	}
	resp, _ := b.Login(ctx, "alice", "alice@example.com")
	fmt.Println("login", resp.Status)
	resp, _ = b.Authorize(ctx)
	fmt.Println("authorize", resp.Status)
	resp, _ = b.Exchange(ctx, resp.Field("exchangeCode"))
	fmt.Println("exchange", resp.Status)
	resp, adm, _ := b.Enter(ctx)
	fmt.Println("enter", resp.Status, *adm.Position)
	resp, _ = b.Checkout(ctx, adm, browser.CartItem{SKU: "sneaker-42", Quantity: 1})
	fmt.Println("checkout", resp.Status)
	// Output:
	// login 200
	// authorize 200
	// exchange 200
	// enter 200 1
	// checkout 200
}
