package fanfare_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/justinas/alice"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// exampleCheckout sends a checkout request to h and prints the answer.
func exampleCheckout(h http.Handler, token, body string) {
	req := httptest.NewRequest(http.MethodPost, "/checkout", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Fanfare-Admission", token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
}

// A checkout route that only admitted consumers reach, once each.
func ExampleRequireAdmission() {
	srv := fanfaretest.NewServer(fanfaretest.Options{}) // stands in for api.fanfare.io
	defer srv.Close()
	client := srv.Client() // in production: fanfare.NewClient(fanfare.ConfigFromEnv())

	checkout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := fanfare.AdmissionFromContext(r.Context())
		fmt.Fprintf(w, "order placed for %s", a.ConsumerID)
	})
	mux := http.NewServeMux()
	mux.Handle("POST /checkout", fanfare.RequireAdmission(client, fanfare.AdmissionOptions{
		Distribution: fanfare.Queue("q_drop"),
	})(checkout))

	token := srv.Admit(fanfare.Queue("q_drop"), "cons_1") // what the browser holds once admitted
	exampleCheckout(mux, token, "")
	exampleCheckout(mux, token, "") // the admission was completed: one admission, one order
	exampleCheckout(mux, "", "")
	fmt.Println("completed:", srv.Completed(fanfare.Queue("q_drop"), "cons_1"))
	// Output:
	// 200 order placed for cons_1
	// 409 {"error":"Admission used","message":"This admission has already been used","code":"ADMISSION_USED"}
	// 403 {"error":"Invalid admission","message":"Your access has expired or is invalid","code":"ADMISSION_REQUIRED"}
	// completed: true
}

// The guide's checkout body: the token, the consumer and the distribution
// all travel in the JSON body; the handler still reads all of it.
func ExampleDistributionFromCheckoutBody() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	h := fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.DistributionFunc(fanfare.DistributionFromCheckoutBody),
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var order struct {
			Cart []struct{ SKU string }
		}
		_ = json.NewDecoder(r.Body).Decode(&order)
		fmt.Fprintf(w, "order for %+v", order.Cart)
	}))

	token := srv.Admit(fanfare.Draw("d_spring"), "cons_7")
	body := `{"admissionToken":"` + token + `","consumerId":"cons_7",` +
		`"experienceType":"draw","distributionId":"d_spring","cart":[{"sku":"AJ1","qty":1}]}`
	exampleCheckout(h, "", body)
	// Output:
	// 200 order for [{SKU:AJ1}]
}

// Routes for many queues, the queue named by the path.
func ExampleDistributionFromPath() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	mux := http.NewServeMux()
	mux.Handle("POST /queues/{queue}/checkout", fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.DistributionFromPath(fanfare.TypeQueue, "queue"),
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := fanfare.AdmissionFromContext(r.Context())
		fmt.Fprint(w, a.Distribution)
	})))

	token := srv.Admit(fanfare.Queue("q_red"), "cons_1")
	for _, path := range []string{"/queues/q_blue/checkout", "/queues/q_red/checkout"} {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("Fanfare-Admission", token)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code, path)
	}
	// Output:
	// 403 /queues/q_blue/checkout
	// 200 /queues/q_red/checkout
}

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

// Completing by hand, as the guide's checkout does once the order exists.
func ExampleAdmission_Complete() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	h := fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.Auction("a_1"),
		Completion:   fanfare.CompleteManually,
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

// Rendering refusals your own way, keeping the default status.
func ExampleAdmissionOptions_errorHandler() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	h := fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.Queue("q_drop"),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var ae *fanfare.AdmissionError
			if errors.As(err, &ae) && errors.Is(err, fanfare.ErrAdmissionRequired) {
				http.Redirect(w, r, "/queue", http.StatusSeeOther)
				return
			}
			fanfare.WriteAdmissionError(w, r, err)
		},
	})(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/checkout", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"))
	// Output:
	// 303 /queue
}

// Testing your checkout handler without the middleware.
func ExampleWithAdmission() {
	checkout := func(w http.ResponseWriter, r *http.Request) {
		a, ok := fanfare.AdmissionFromContext(r.Context())
		if !ok {
			http.Error(w, "no admission", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "%s buys from %s at position %d", a.ConsumerID, a.Distribution, a.Position)
	}
	req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
	req = req.WithContext(fanfare.WithAdmission(req.Context(), &fanfare.Admission{
		ConsumerID: "cons_1", Distribution: fanfare.Queue("q_drop"), Position: 3,
	}))
	rec := httptest.NewRecorder()
	checkout(rec, req)
	fmt.Println(rec.Body.String())
	// Output:
	// cons_1 buys from queue:q_drop at position 3
}

// One store for every route that sells a distribution (and, behind a load
// balancer, for every instance: share the redisstore module's Store there).
func ExampleNewMemoryStore() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()
	v, _ := fanfare.NewPEMVerifier(srv.PublicKeyPEM())

	store := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{MaxKeys: 100_000})
	opts := fanfare.AdmissionOptions{
		Distribution: fanfare.Queue("q_drop"), Verifier: v, DisableRemoteValidation: true,
		Store: store, HoldTTL: 30 * time.Second,
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	web := fanfare.RequireAdmission(srv.Client(), opts)(ok)
	app := fanfare.RequireAdmission(srv.Client(), opts)(ok)

	token := srv.Admit(fanfare.Queue("q_drop"), "cons_1")
	exampleCheckout(web, token, "")
	exampleCheckout(app, token, "")
	fmt.Println("keys:", store.Len())
	// Output:
	// 200 ok
	// 409 {"error":"Admission used","message":"This admission has already been used","code":"ADMISSION_USED"}
	// keys: 1
}

// Composing with alice: the checkout route in three lines.
func ExampleRequireAdmission_alice() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()
	placeOrder := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })

	admitted := fanfare.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{Distribution: fanfare.Queue("q_drop")})
	mux := http.NewServeMux()
	mux.Handle("POST /checkout", alice.New(admitted).Then(placeOrder))

	exampleCheckout(mux, srv.Admit(fanfare.Queue("q_drop"), "cons_1"), "")
	// Output:
	// 200 ok
}

// The guide's validate-admission body names a queue or a draw.
func ExampleDistributionFromValidateBody() {
	for _, body := range []string{`{"queueId":"q_1","token":"..."}`, `{"auctionId":"a_1"}`, `{}`} {
		req := httptest.NewRequest(http.MethodPost, "/api/validate-admission", strings.NewReader(body))
		d, err := fanfare.DistributionFromValidateBody(req)
		fmt.Println(d, err)
	}
	// Output:
	// queue:q_1 <nil>
	// auction:a_1 <nil>
	// : fanfare: queueId, drawId or auctionId required
}
