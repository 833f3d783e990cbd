package fanfare

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/waitify-io/fanfare-go/internal/scrub"
)

func TestAPIErrorMatching(t *testing.T) {
	tests := []struct {
		status int
		body   string
		is     error
	}{
		{401, `{"error":"unauthorized"}`, ErrUnauthorized},
		// The exchange's codes come from the browser's call, not ours: a
		// Client method that met one would get an APIError carrying it
		// and matching no sentinel.
		{400, `{"error":"exchange_code_expired"}`, nil},
		{409, `{"error":"consumer_conflict"}`, nil},
		{404, `{"error":"not_found"}`, ErrNotFound},
		{500, `oops`, ErrUnavailable},
		{503, ``, ErrUnavailable},
		{429, `{"error":"slow down"}`, ErrUnavailable},
	}
	all := []error{ErrUnauthorized, ErrNotFound, ErrUnavailable}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, tt.body), func(t *testing.T) {
			e := decodeAPIError(tt.status, []byte(tt.body), scrub.New(testSecret))
			e.Op = "validate"
			var err error = fmt.Errorf("wrapped: %w", e)
			for _, s := range all {
				assert.Equal(t, s == tt.is, errors.Is(err, s), "errors.Is(%v, %v)", e, s)
			}
			if tt.is == nil {
				assert.Equal(t, tt.body, `{"error":"`+e.Code+`"}`, "APIError.Code carries Fanfare's code")
			}
			assert.True(t, strings.HasPrefix(e.Error(), "fanfare: validate: status "), "got %q", e)
		})
	}
}

func TestAPIErrorDoesNotKeepRawBody(t *testing.T) {
	sc := scrub.New(testSecret)
	e := decodeAPIError(500, []byte(`{"error":"boom","echo":"`+testSecret+`"}`), sc)
	assert.NotContains(t, e.Error(), testSecret)
	e = decodeAPIError(500, []byte(testSecret), sc)
	assert.NotContains(t, e.Error(), testSecret)
}

func FuzzDecodeAPIError(f *testing.F) {
	f.Add(400, []byte(`{"error":"invalid_exchange_code","message":"used"}`), "", "")
	f.Add(500, []byte(`not json`), "x", "y")
	f.Add(401, []byte(`{"error":123}`), "a", "")
	f.Add(401, []byte(`{"error":"%s","message":"%s"}`), "key ", " refused")
	f.Fuzz(func(t *testing.T, status int, raw []byte, before, after string) {
		// Fanfare (or a proxy) echoes the secret key, somewhere, somehow.
		echo := before + testSecret + after
		raw = bytes.ReplaceAll(raw, []byte("%s"), []byte(echo))
		e := decodeAPIError(status, raw, scrub.New(testSecret))
		if len(e.Code) > 64+len("…") || len(e.Message) > 200+len("…") {
			t.Fatalf("unbounded error fields: %d/%d bytes", len(e.Code), len(e.Message))
		}
		if !strings.HasPrefix(e.Error(), "fanfare: ") {
			t.Fatalf("error without prefix: %q", e.Error())
		}
		if strings.Contains(e.Error(), testSecret) {
			t.Fatalf("the secret key survived in %q", e.Error())
		}
	})
}
