package fanfare_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/waitify-io/fanfare-go"
)

// TestWriteError: one writer answers for the authorize chain and the
// validate-admission handler, tells their failed calls apart by the call,
// and never writes the error itself.
func TestWriteError(t *testing.T) {
	for _, tt := range []struct {
		err            error
		wantStatus     int
		wantBody       string
		wantRetryAfter string
	}{
		{fmt.Errorf("wrapped: %w", fanfare.ErrRateLimited), 429, `{"error":"Too many auth requests"}`, ""},
		{fanfare.ErrNoIdentity, 401, `{"error":"Unauthorized"}`, ""},
		{fmt.Errorf("wrapped: %w", fanfare.ErrClaimsTooLarge), 413, `{"error":"Claims too large"}`, ""},
		{fanfare.ErrInvalidClaims, 500, `{"error":"Internal server error"}`, ""},
		{fmt.Errorf("fanfare: authorize: %w: secret sk_live_x", fanfare.ErrUnavailable), 503, `{"error":"Authentication failed"}`, "1"},
		{errors.New("fanfare: authorize: status 401 sk_live_x"), 502, `{"error":"Authentication failed"}`, ""},
		{&fanfare.APIError{StatusCode: 503, Op: "authorize"}, 503, `{"error":"Authentication failed"}`, "1"},
		{&fanfare.APIError{StatusCode: 401, Op: "authorize"}, 502, `{"error":"Authentication failed"}`, ""},
		{fmt.Errorf("wrapped: %w", &http.MaxBytesError{Limit: 16 << 10}), 413, `{"error":"Request body too large"}`, ""},
		{fmt.Errorf("%w: two ids", fanfare.ErrInvalidRequestBody), 400, `{"error":"Invalid request body"}`, ""},
		{fanfare.ErrNoDistribution, 400, `{"error":"queueId or drawId required"}`, ""},
		{fmt.Errorf("%w: %w", fanfare.ErrAdmissionInvalid, &fanfare.APIError{StatusCode: 404, Op: "validate"}), 403,
			`{"valid":false,"error":"Invalid or expired admission token"}`, ""},
		{fmt.Errorf("wrapped: %w", &fanfare.APIError{StatusCode: 503, Op: "validate"}), 503, `{"error":"Validation failed"}`, "1"},
		{&fanfare.APIError{StatusCode: 401, Op: "validate"}, 502, `{"error":"Validation failed"}`, ""},
	} {
		rec := httptest.NewRecorder()
		fanfare.WriteError(rec, httptest.NewRequest(http.MethodPost, "/", nil), tt.err)
		assert.Equal(t, tt.wantStatus, rec.Code, "%v", tt.err)
		assert.JSONEq(t, tt.wantBody, rec.Body.String(), "%v", tt.err)
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		assert.Equal(t, tt.wantRetryAfter, rec.Header().Get("Retry-After"), "%v", tt.err)
	}
}
