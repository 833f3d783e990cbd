package fanfare_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

func ExampleNewClient() {
	// In production: fanfare.NewClient(fanfare.ConfigFromEnv()).
	_, err := fanfare.NewClient(fanfare.Config{OrganizationID: "org_1", SecretKey: "pk_live_123"})
	fmt.Println(err)
	// Output: fanfare: invalid config: SecretKey is a publishable key (pk_...): publishable keys belong in the browser; the server needs the secret key (sk_...)
}

func ExampleClient_Authorize() {
	srv := fanfaretest.NewServer(fanfaretest.Options{}) // stands in for api.fanfare.io
	defer srv.Close()
	client := srv.Client()

	// Claims go through a policy first: the client sends only the JSON a
	// ClaimsPolicy produced, byte for byte.
	claims, err := fanfare.ClaimsPolicy{}.Sanitize(map[string]any{"email": "ada@example.com", "password": "hunter2"})
	if err != nil {
		log.Fatal(err)
	}
	code, err := client.Authorize(context.Background(), fanfare.AuthorizeRequest{
		Provider: "your-platform",
		Issuer:   "https://your-domain.com",
		Subject:  "user-42",
		Claims:   claims,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(code.Code != "", code.ExpiresAt.Sub(srv.Now()).Round(time.Minute))
	fmt.Println(srv.Authorizations()[0].Claims)
	// Output:
	// true 1m0s
	// map[email:ada@example.com]
}

func ExampleClient_ValidateAdmission() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()
	client := srv.Client()
	queue := fanfare.Queue("q_drop")
	token := srv.Admit(queue, "cons_1") // what the browser receives once admitted

	ok, err := client.ValidateAdmission(context.Background(), queue, "cons_1", token)
	switch {
	case errors.Is(err, fanfare.ErrUnavailable):
		fmt.Println("503: Fanfare could not answer; let the consumer retry")
	case err != nil || !ok:
		fmt.Println("403: not admitted")
	default:
		fmt.Println("admitted")
	}
	// Output: admitted
}

func ExampleClient_CompleteAdmission() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()
	client := srv.Client()
	draw := fanfare.Draw("d_1")
	token := srv.Admit(draw, "cons_1")

	// ... the order succeeded:
	if err := client.CompleteAdmission(context.Background(), draw, "cons_1"); err != nil {
		log.Fatal(err)
	}
	ok, _ := client.ValidateAdmission(context.Background(), draw, "cons_1", token)
	fmt.Println("still valid after completion:", ok)
	// Output: still valid after completion: false
}
