package fanfare_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

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
			fanfare.WriteError(w, r, err)
		},
	})(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/checkout", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"))
	// Output:
	// 303 /queue
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

// An adapter for a framework whose handlers write to the framework's own
// writer: the guard decides, the adapter reports the status its handler
// answered. (The gin and echo modules are built this way.)
func ExampleNewAdmissionGuard() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()
	begin := fanfare.NewAdmissionGuard(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.Queue("q_drop"),
	})

	// handle stands in for a framework's handler chain; it returns the
	// status it answered.
	serve := func(w http.ResponseWriter, r *http.Request, handle func(http.ResponseWriter, *http.Request) int) {
		r, finish, err := begin(w, r)
		if err != nil {
			return // refused: begin has answered
		}
		status := 0 // stays 0 if handle panics: the admission is released
		defer func() { finish(status) }()
		status = handle(w, r)
	}
	fail := func(w http.ResponseWriter, r *http.Request) int {
		w.WriteHeader(http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	succeed := func(w http.ResponseWriter, r *http.Request) int {
		a, _ := fanfare.AdmissionFromContext(r.Context())
		fmt.Fprintf(w, "order placed for %s", a.ConsumerID)
		return http.StatusOK
	}

	token := srv.Admit(fanfare.Queue("q_drop"), "cons_1")
	for _, handle := range []func(http.ResponseWriter, *http.Request) int{fail, succeed, succeed} {
		req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
		req.Header.Set("Fanfare-Admission", token)
		rec := httptest.NewRecorder()
		serve(rec, req, handle)
		fmt.Println(rec.Code, rec.Body.String(), "completed:", srv.Completed(fanfare.Queue("q_drop"), "cons_1"))
	}
	// Output:
	// 500  completed: false
	// 200 order placed for cons_1 completed: true
	// 409 {"error":"Admission used","message":"This admission has already been used","code":"ADMISSION_USED"} completed: true
}
