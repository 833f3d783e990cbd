package fanfare_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	fanfare "github.com/waitify-io/fanfare-go"
)

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
