package fanfaretest_test

import (
	"context"
	"fmt"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

func Example() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	ctx := context.Background()
	client := srv.Client()
	drop := fanfare.Queue("q_sneakers")

	token := srv.Admit(drop, "cons_1")
	ok, err := client.ValidateAdmission(ctx, drop, "cons_1", token)
	fmt.Println("valid:", ok, err)

	ok, _ = client.ValidateAdmission(ctx, drop, "cons_2", token)
	fmt.Println("someone else's token:", ok)

	_ = client.CompleteAdmission(ctx, drop, "cons_1")
	ok, _ = client.ValidateAdmission(ctx, drop, "cons_1", token)
	fmt.Println("after completion:", ok, srv.Completed(drop, "cons_1"))
	// Output:
	// valid: true <nil>
	// someone else's token: false
	// after completion: false true
}
