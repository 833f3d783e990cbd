package fanfare_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// An adapter for a framework whose handlers write to the framework's own
// writer: the guard decides, the adapter reports the status its handler
// answered. (The gin, echo and chi modules are built this way.)
func ExampleNewAdmissionGuard() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()
	guard := fanfare.NewAdmissionGuard(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.Queue("q_drop"),
	})

	// handle stands in for a framework's handler chain; it returns the
	// status it answered.
	serve := func(w http.ResponseWriter, r *http.Request, handle func(http.ResponseWriter, *http.Request) int) {
		r, hold, err := guard.Begin(r)
		if err != nil {
			guard.WriteError(w, r, err)
			return
		}
		status := 0 // stays 0 if handle panics: the admission is released
		defer func() { hold.Finish(status) }()
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
