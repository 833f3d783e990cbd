package fanfare_test

import (
	"fmt"
	"net/http"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

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
	// Output:
	// 200 ok
	// 409 {"error":"Admission used","message":"This admission has already been used","code":"ADMISSION_USED"}
}
