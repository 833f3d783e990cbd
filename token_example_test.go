package fanfare_test

import (
	"fmt"
	"net/http"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// Tokens from the header, a cookie or the guide's JSON body field; a request
// whose sources disagree is refused rather than decided by order.
func ExampleTokenFrom() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	h := fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.Queue("q_drop"),
		Token: fanfare.TokenFrom(
			fanfare.HeaderToken("Fanfare-Admission"),
			fanfare.CookieToken("fanfare_admission"),
			fanfare.BodyToken("admissionToken"),
		),
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))

	token := srv.Admit(fanfare.Queue("q_drop"), "cons_1")
	other := srv.Admit(fanfare.Queue("q_drop"), "cons_2")
	exampleCheckout(h, token, `{"admissionToken":"`+other+`"}`) // two different tokens
	exampleCheckout(h, "", `{"admissionToken":"`+token+`"}`)
	// Output:
	// 403 {"error":"Invalid admission","message":"Your access has expired or is invalid","code":"ADMISSION_INVALID"}
	// 200 ok
}
