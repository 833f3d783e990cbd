package fanfare_test

import (
	"fmt"
	"log"
	"net/http"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// Completing by hand, as the guide's checkout does once the order exists.
func ExampleAdmission_Complete() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	h := fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution:     fanfare.Auction("a_1"),
		CompleteManually: true,
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := fanfare.AdmissionFromContext(r.Context())
		// ... place the order; then:
		if err := a.Complete(r.Context()); err != nil {
			log.Print(err) // the order stands; reconcile later
		}
		fmt.Fprint(w, "order placed")
	}))
	exampleCheckout(h, srv.Admit(fanfare.Auction("a_1"), "cons_9"), "")
	fmt.Println(srv.Completed(fanfare.Auction("a_1"), "cons_9"))
	// Output:
	// 200 order placed
	// true
}
