package fanfare_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// TestAdmissionGuardHold checks what adapters rely on: the first Finish
// decides, and later calls change nothing.
func TestAdmissionGuardHold(t *testing.T) {
	tests := []struct {
		name          string
		end           func(h *fanfare.AdmissionHold)
		wantCompleted bool
	}{
		{"Finish 200", func(h *fanfare.AdmissionHold) { h.Finish(http.StatusOK) }, true},
		{"Finish 204", func(h *fanfare.AdmissionHold) { h.Finish(http.StatusNoContent) }, true},
		{"Finish 302", func(h *fanfare.AdmissionHold) { h.Finish(http.StatusFound) }, false},
		{"Finish 500", func(h *fanfare.AdmissionHold) { h.Finish(http.StatusInternalServerError) }, false},
		{"Finish 0", func(h *fanfare.AdmissionHold) { h.Finish(0) }, false},
		{"Finish 200 then Finish 0", func(h *fanfare.AdmissionHold) { h.Finish(http.StatusOK); h.Finish(0) }, true},
		{"Finish 0 then Finish 200", func(h *fanfare.AdmissionHold) { h.Finish(0); h.Finish(http.StatusOK) }, false},
		{"Finish 500 then Finish 200", func(h *fanfare.AdmissionHold) {
			h.Finish(http.StatusInternalServerError)
			h.Finish(http.StatusOK)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fanfaretest.NewServer(fanfaretest.Options{})
			t.Cleanup(srv.Close)
			q := fanfare.Queue("q_hold")
			guard := fanfare.NewAdmissionGuard(srv.Client(), fanfare.AdmissionOptions{
				Distribution: q,
				Store:        fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}),
			})
			token := srv.Admit(q, "cons_1")
			begin := func() (*http.Request, *fanfare.AdmissionHold, error) {
				req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
				req.Header.Set("Fanfare-Admission", token)
				return guard.Begin(req)
			}

			r, hold, err := begin()
			require.NoError(t, err)
			require.NotNil(t, hold)
			a, ok := fanfare.AdmissionFromContext(r.Context())
			require.True(t, ok, "the returned request carries the admission")
			assert.Equal(t, "cons_1", a.ConsumerID)

			// While held, a second request is refused with 409 ADMISSION_IN_USE.
			r2, hold2, err := begin()
			assert.Nil(t, hold2)
			var ae *fanfare.AdmissionError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, fanfare.CodeAdmissionInUse, ae.Code)
			rec := httptest.NewRecorder()
			guard.WriteError(rec, r2, err)
			assert.Equal(t, http.StatusConflict, rec.Code)
			assert.JSONEq(t, `{"error":"Admission in use","message":"This admission is being used by another checkout","code":"ADMISSION_IN_USE"}`, rec.Body.String())

			tt.end(hold)
			assert.Equal(t, tt.wantCompleted, srv.Completed(q, "cons_1"), "completed with Fanfare")

			_, hold3, err := begin()
			if tt.wantCompleted {
				assert.Error(t, err, "a completed admission is refused")
			} else {
				require.NoError(t, err, "a released admission is usable again")
				hold3.Finish(0)
			}
		})
	}
}
