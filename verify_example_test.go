package fanfare_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// Which verification do I need?
//
//   - Nothing: every admission is validated with Fanfare (the default). A
//     Fanfare outage answers 503 and consumers retry.
//   - A key (NewJWKSVerifier with Fanfare's JWKS URL, NewPEMVerifier with its
//     public key, NewHMACVerifier with a shared secret): forged tokens are
//     refused before any call to Fanfare; add AcceptVerifiedDuringOutage to
//     keep selling while Fanfare is unreachable.
//   - DisableRemoteValidation with a key: no call to Fanfare before the
//     order; the single-use Store is then the only guard against replays, so
//     share it between instances (the redisstore module's, on Redis).
func ExampleNewJWKSVerifier() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	// The verifier refreshes the key set in the background: Close it (or
	// cancel its context) on shutdown.
	v, err := fanfare.NewJWKSVerifier(context.Background(), srv.JWKSURL(), fanfare.JWKSOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	h := fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution:               fanfare.Queue("q_drop"),
		Verifier:                   v,
		AcceptVerifiedDuringOutage: true,
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := fanfare.AdmissionFromContext(r.Context())
		fmt.Fprintf(w, "verified=%t validated=%t", a.Verified, a.Validated)
	}))

	exampleCheckout(h, srv.Admit(fanfare.Queue("q_drop"), "cons_1"), "")
	srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: 503}) // Fanfare is down
	exampleCheckout(h, srv.Admit(fanfare.Queue("q_drop"), "cons_2"), "")
	exampleCheckout(h, "forged.token.here", "")
	fmt.Println("validate calls:", srv.Calls(fanfaretest.EndpointValidate))
	// Output:
	// 200 verified=true validated=true
	// 200 verified=true validated=false
	// 403 {"error":"Invalid admission","message":"Your access has expired or is invalid","code":"ADMISSION_INVALID"}
	// validate calls: 4
}

func ExampleNewPEMVerifier() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	v, err := fanfare.NewPEMVerifier(srv.PublicKeyPEM()) // e.g. os.ReadFile("fanfare-public.pem")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v.Algorithms())

	// Local only: no call to Fanfare before the order.
	h := fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution:            fanfare.Queue("q_drop"),
		Verifier:                v,
		DisableRemoteValidation: true,
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	token := srv.Admit(fanfare.Queue("q_drop"), "cons_pem")
	exampleCheckout(h, token, "")
	exampleCheckout(h, token, "") // this instance remembers the admission was used
	fmt.Println("validate calls:", srv.Calls(fanfaretest.EndpointValidate))
	// Output:
	// [ES256]
	// 200 ok
	// 409 {"error":"Admission used","message":"This admission has already been used","code":"ADMISSION_USED"}
	// validate calls: 0
}

func ExampleNewHMACVerifier() {
	_, err := fanfare.NewHMACVerifier([]byte("too short"))
	fmt.Println(err)

	v, err := fanfare.NewHMACVerifier([]byte("a-shared-secret-of-at-least-32-bytes!"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v.Algorithms(), v) // the secret is never printed
	// Output:
	// fanfare: HMAC secret is 9 bytes; at least 32 are required
	// [HS256 HS384 HS512] fanfare.HMACVerifier{key:[REDACTED]}
}
