package fanfare_test

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
)

// TestClaimsPolicyDeniedKeys runs one key through the default policy, at the
// top, nested in an object and inside an array of objects.
func TestClaimsPolicyDeniedKeys(t *testing.T) {
	denied := []string{
		"password", "Password", "PASSWORD", "user_password", "newPassword", "password_hash",
		"pass_word", "passwd", "pwd", "userPwd", "passphrase", "passcode",
		"ssn", "SSN", "userSSN", "ssn_last4", "SSNLast4", "social_security_number", "socialSecurityNo", "SocialSecurity",
		"creditCard", "credit_card", "creditCardNumber", "CREDIT-CARD-NUMBER", "creditcardnumber", "credit card",
		"debit_card", "card_number", "cardNumber", "cardnum", "cardNo", "card_no", "cc_number", "ccNum",
		"cvv", "CVV", "CVV2", "cvc", "card_cvv", "securityCode", "card_verification_value",
		"pin", "PIN", "Pin", "pinCode", "pin_number", "user.pin", "pins", "pin1",
	}
	kept := []string{
		"email", "name", "tier", "createdAt", "shipping", "spinner", "pinned", "opinion", "pinterest", "spin",
		"classname", "businessName", "card", "cardholderName", "card_notes", "passport", "compass", "pass",
		"shopping_cart", "issn", "region", "ccEmail",
	}
	for _, key := range denied {
		t.Run("denied/"+key, func(t *testing.T) {
			claims := map[string]any{
				key:      "secret",
				"tier":   "gold",
				"nested": map[string]any{key: "secret", "ok": 1},
				"list":   []any{map[string]any{key: "secret", "ok": 2}},
			}
			got, err := fanfare.ClaimsPolicy{}.Sanitize(claims)
			require.NoError(t, err)
			want := map[string]any{
				"tier":   "gold",
				"nested": map[string]any{"ok": 1},
				"list":   []any{map[string]any{"ok": 2}},
			}
			assert.Equal(t, want, got, "sanitized claims with key %q", key)
		})
	}
	for _, key := range kept {
		t.Run("kept/"+key, func(t *testing.T) {
			claims := map[string]any{key: "value", "nested": map[string]any{key: "value"}}
			got, err := fanfare.ClaimsPolicy{}.Sanitize(claims)
			require.NoError(t, err)
			assert.Equal(t, claims, got, "key %q must be kept", key)
		})
	}
}

// TestClaimsPolicySensitiveValues drops values that look like card numbers or
// SSNs whatever their key, and keeps look-alikes.
func TestClaimsPolicySensitiveValues(t *testing.T) {
	tests := []struct {
		name  string
		value any
		drop  bool
	}{
		{"visa", "4111111111111111", true},
		{"visa spaced", "4111 1111 1111 1111", true},
		{"visa dashed", "4111-1111-1111-1111", true},
		{"visa padded", "  5555555555554444 ", true},
		{"amex 15 digits", "378282246310005", true},
		{"13 digits", "4222222222222", true},
		{"19 digits", "6011000990139424521", false}, // not Luhn-valid
		{"19 digits luhn", "4000000000000000006", true},
		{"not luhn", "4111111111111112", false},
		{"12 digits", "411111111113", false},
		{"20 digits", "41111111111111111113", false},
		{"letters", "4111-1111-1111-111x", false},
		{"ssn", "123-45-6789", true},
		{"ssn spaced", "123 45 6789", true},
		{"not ssn", "123-456-789", false},
		{"phone", "+1 415-555-2671", false},
		{"date", "2024-01-15", false},
		{"iso time", "2024-01-15T10:00:00Z", false},
		{"int card", int64(4111111111111111), true},
		{"uint card", uint64(5555555555554444), true},
		{"float card", float64(4111111111111111), true},
		{"json.Number card", json.Number("4111111111111111"), true},
		{"ms timestamp", int64(1700000000006), false}, // Luhn-valid, but starts with 1
		{"small int", 42, false},
		{"float", 3.5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := map[string]any{
				"note": tt.value,
				"list": []any{tt.value, "x"},
				"strs": []string{"a", "b"},
			}
			if s, ok := tt.value.(string); ok {
				claims["strs"] = []string{s, "b"}
			}
			got, err := fanfare.ClaimsPolicy{}.Sanitize(claims)
			require.NoError(t, err)
			if tt.drop {
				assert.NotContains(t, got, "note", "value %v under an innocent key", tt.value)
				assert.Equal(t, []any{"x"}, got["list"], "array element %v", tt.value)
				if _, ok := tt.value.(string); ok {
					assert.Equal(t, []string{"b"}, got["strs"], "[]string element %v", tt.value)
				}
			} else {
				assert.Equal(t, claims, got, "value %v must be kept", tt.value)
			}
		})
	}
}

func TestClaimsPolicyTypes(t *testing.T) {
	type profile struct {
		Password string    `json:"password"`
		Tier     string    `json:"tier"`
		Since    time.Time `json:"since"`
	}
	since := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	claims := map[string]any{
		"profile": profile{Password: "hunter2", Tier: "gold", Since: since},
		"ptr":     &profile{Tier: "silver"},
		"labels":  map[string]string{"pin": "1234", "color": "red"},
		"when":    since,
		"nilmap":  map[string]any(nil),
		"nilptr":  (*profile)(nil),
	}
	got, err := fanfare.ClaimsPolicy{}.Sanitize(claims)
	require.NoError(t, err)
	want := map[string]any{
		"profile": map[string]any{"tier": "gold", "since": "2021-03-04T05:06:07Z"},
		"ptr":     map[string]any{"tier": "silver", "since": "0001-01-01T00:00:00Z"},
		"labels":  map[string]string{"color": "red"},
		"when":    "2021-03-04T05:06:07Z",
		"nilmap":  map[string]any(nil),
		"nilptr":  nil,
	}
	assert.Equal(t, want, got)
}

func TestClaimsPolicyDenyAndAllow(t *testing.T) {
	claims := map[string]any{
		"email":         "ada@example.com",
		"tier":          "gold",
		"date_of_birth": "1815-12-10",
		"prefs":         map[string]any{"birthDate": "1815-12-10", "size": "M", "password": "x"},
		"other":         1,
	}
	tests := []struct {
		name   string
		policy fanfare.ClaimsPolicy
		want   map[string]any
	}{
		{
			name:   "deny extends the built-ins at any depth",
			policy: fanfare.ClaimsPolicy{Deny: []string{"DateOfBirth", "birth-date"}},
			want: map[string]any{
				"email": "ada@example.com", "tier": "gold", "other": 1,
				"prefs": map[string]any{"size": "M"},
			},
		},
		{
			name:   "allow keeps only named top-level keys, never denied ones",
			policy: fanfare.ClaimsPolicy{Allow: []string{"Email", "prefs", "password"}},
			want: map[string]any{
				"email": "ada@example.com",
				"prefs": map[string]any{"birthDate": "1815-12-10", "size": "M"},
			},
		},
		{
			name:   "allow and deny together",
			policy: fanfare.ClaimsPolicy{Allow: []string{"prefs"}, Deny: []string{"size"}},
			want:   map[string]any{"prefs": map[string]any{"birthDate": "1815-12-10"}},
		},
		{
			name:   "empty deny entries are ignored",
			policy: fanfare.ClaimsPolicy{Deny: []string{"", "--"}},
			want: map[string]any{
				"email": "ada@example.com", "tier": "gold", "date_of_birth": "1815-12-10", "other": 1,
				"prefs": map[string]any{"birthDate": "1815-12-10", "size": "M"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.policy.Sanitize(claims)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestClaimsPolicySizeEdge: exactly MaxBytes of JSON passes, one more byte
// fails, whatever the escaping.
func TestClaimsPolicySizeEdge(t *testing.T) {
	tests := []struct {
		name  string
		max   int
		claim func(n int) map[string]any // claims whose JSON is n bytes
	}{
		{"default limit, ascii", 0, func(n int) map[string]any {
			return map[string]any{"k": strings.Repeat("a", n-8)} // {"k":"…"}
		}},
		{"custom limit, html escapes", 600, func(n int) map[string]any {
			// "<" is written \u003c: 6 bytes.
			return map[string]any{"k": strings.Repeat("<", (n-8)/6) + strings.Repeat("a", (n-8)%6)}
		}},
		{"nested with a dropped key", 300, func(n int) map[string]any {
			// {"a":{"b":"…"}} is len+14; the dropped password costs nothing.
			return map[string]any{"a": map[string]any{"b": strings.Repeat("é", (n-14)/2) + strings.Repeat("a", (n-14)%2), "password": strings.Repeat("x", 1000)}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.max
			if limit == 0 {
				limit = fanfare.DefaultClaimsMaxBytes
			}
			p := fanfare.ClaimsPolicy{MaxBytes: tt.max}

			at := tt.claim(limit)
			got, err := p.Sanitize(at)
			require.NoError(t, err, "claims of exactly %d bytes", limit)
			enc, err := json.Marshal(got)
			require.NoError(t, err)
			assert.Len(t, enc, limit, "JSON encoding of the sanitized claims")

			over := tt.claim(limit + 1)
			unlimited, err := fanfare.ClaimsPolicy{MaxBytes: 1 << 20}.Sanitize(over)
			require.NoError(t, err)
			assert.Len(t, mustMarshal(t, unlimited), limit+1, "JSON encoding of the sanitized claims, one byte over")
			_, err = p.Sanitize(over)
			require.ErrorIs(t, err, fanfare.ErrClaimsTooLarge, "claims of %d bytes", limit+1)
			assert.True(t, strings.HasPrefix(err.Error(), "fanfare:"), "error %q", err)
		})
	}
}

func TestClaimsPolicyInvalid(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	cyclicSlice := make([]any, 1)
	cyclicSlice[0] = cyclicSlice
	deep := map[string]any{}
	for cur, i := deep, 0; i < 40; i++ {
		next := map[string]any{}
		cur["d"] = next
		cur = next
	}
	tests := []struct {
		name   string
		claims map[string]any
	}{
		{"channel", map[string]any{"c": make(chan int)}},
		{"func", map[string]any{"f": func() {}}},
		{"NaN", map[string]any{"n": math.NaN()}},
		{"+Inf", map[string]any{"list": []any{1, math.Inf(1)}}},
		{"float32 -Inf", map[string]any{"f": float32(math.Inf(-1))}},
		{"bad json.Number", map[string]any{"n": json.Number("12abc")}},
		{"cycle", cyclic},
		{"slice cycle", map[string]any{"s": cyclicSlice}},
		{"too deep", deep},
		{"complex in a struct", map[string]any{"s": struct{ C complex64 }{1}}},
		{"failing MarshalJSON", map[string]any{"m": failingMarshaler{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]any
			var err error
			require.NotPanics(t, func() { got, err = fanfare.ClaimsPolicy{}.Sanitize(tt.claims) })
			require.ErrorIs(t, err, fanfare.ErrInvalidClaims)
			assert.Nil(t, got)
			assert.True(t, strings.HasPrefix(err.Error(), "fanfare:"), "error %q", err)
			assert.NotContains(t, err.Error(), "sk_live_secret", "the error must not quote values")
		})
	}
}

type failingMarshaler struct{}

func (failingMarshaler) MarshalJSON() ([]byte, error) {
	return nil, &json.UnsupportedValueError{Str: "sk_live_secret"}
}

// TestClaimsPolicyNeverMutates compares the input before and after.
func TestClaimsPolicyNeverMutates(t *testing.T) {
	build := func() map[string]any {
		return map[string]any{
			"password": "x",
			"tier":     "gold",
			"nested":   map[string]any{"ssn": "123-45-6789", "list": []any{"4111111111111111", map[string]any{"pin": 1}}},
			"strs":     []string{"a", "123-45-6789"},
			"labels":   map[string]string{"cvv": "123"},
		}
	}
	claims, pristine := build(), build()
	_, err := fanfare.ClaimsPolicy{Deny: []string{"tier"}}.Sanitize(claims)
	require.NoError(t, err)
	assert.Equal(t, pristine, claims, "the caller's claims after Sanitize")
}

func TestClaimsPolicyNil(t *testing.T) {
	got, err := fanfare.ClaimsPolicy{}.Sanitize(nil)
	require.NoError(t, err)
	assert.Nil(t, got)
}

// TestSanitizeClaims runs the middleware in front of a handler that records
// the identity it sees.
func TestSanitizeClaims(t *testing.T) {
	tests := []struct {
		name       string
		policy     fanfare.ClaimsPolicy
		id         *fanfare.Identity
		wantStatus int
		wantBody   string
		wantID     *fanfare.Identity
	}{
		{
			name:       "no identity passes through",
			wantStatus: http.StatusOK,
		},
		{
			name: "claims sanitized, email and name folded in",
			id: &fanfare.Identity{Subject: "u1", Email: "ada@example.com", Name: "Ada",
				Claims: map[string]any{"tier": "gold", "password": "x"}},
			wantStatus: http.StatusOK,
			wantID: &fanfare.Identity{Subject: "u1", Email: "ada@example.com", Name: "Ada",
				Claims: map[string]any{"tier": "gold", "email": "ada@example.com", "name": "Ada"}},
		},
		{
			name:   "allow-list drops email and name",
			policy: fanfare.ClaimsPolicy{Allow: []string{"tier"}},
			id: &fanfare.Identity{Subject: "u1", Email: "ada@example.com", Name: "Ada",
				Claims: map[string]any{"tier": "gold"}},
			wantStatus: http.StatusOK,
			wantID:     &fanfare.Identity{Subject: "u1", Claims: map[string]any{"tier": "gold"}},
		},
		{
			name:       "too large",
			policy:     fanfare.ClaimsPolicy{MaxBytes: 50},
			id:         &fanfare.Identity{Subject: "u1", Claims: map[string]any{"bio": strings.Repeat("a", 50)}},
			wantStatus: http.StatusRequestEntityTooLarge,
			wantBody:   `{"error":"Claims too large"}`,
		},
		{
			name:       "email counts toward the size",
			policy:     fanfare.ClaimsPolicy{MaxBytes: 30},
			id:         &fanfare.Identity{Subject: "u1", Email: "someone-with-a-long-address@example.com"},
			wantStatus: http.StatusRequestEntityTooLarge,
			wantBody:   `{"error":"Claims too large"}`,
		},
		{
			name:       "unencodable",
			id:         &fanfare.Identity{Subject: "u1", Claims: map[string]any{"f": func() {}}},
			wantStatus: http.StatusInternalServerError,
			wantBody:   `{"error":"Internal server error"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen *fanfare.Identity
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if id, ok := fanfare.IdentityFromContext(r.Context()); ok {
					seen = &id
				}
				w.WriteHeader(http.StatusOK)
			})
			req := httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil)
			if tt.id != nil {
				req = req.WithContext(fanfare.WithIdentity(req.Context(), *tt.id))
			}
			rec := httptest.NewRecorder()
			fanfare.SanitizeClaims(tt.policy)(next).ServeHTTP(rec, req)

			assert.Equal(t, tt.wantStatus, rec.Code, "status")
			if tt.wantBody != "" {
				assert.JSONEq(t, tt.wantBody, rec.Body.String(), "body")
				assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
				assert.Nil(t, seen, "the next handler must not run")
			}
			if tt.wantStatus == http.StatusOK {
				assert.Equal(t, tt.wantID, seen, "identity seen by the next handler")
			}
		})
	}
}

// FuzzSanitize checks, for claims decoded from arbitrary JSON: no panic;
// the input is not modified; the result passes the policy again unchanged;
// and the size decision is exact — the sanitized claims pass a limit equal
// to their encoded length and fail one byte below it.
func FuzzSanitize(f *testing.F) {
	seeds := []string{
		`{}`,
		`{"email":"a@b.c","password":"x","tier":"gold"}`,
		`{"a":{"b":{"creditCardNumber":"4111 1111 1111 1111","c":[1,2,"123-45-6789"]}}}`,
		`{"list":[{"pin":"1"},{"shipping":"x"}],"n":4111111111111111}`,
		`{"esc":"<>&\u2028\u0000\"\\","ünï":"\ud83c\udf89","big":1e300,"small":1e-7}`,
		`{"k":"` + strings.Repeat("a", 200) + `"}`,
		`{"SSNLast4":"1234","CVV2":123,"card_no":null,"x":[[[[]]]]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var claims, pristine map[string]any
		if json.Unmarshal(data, &claims) != nil || json.Unmarshal(data, &pristine) != nil {
			return
		}
		p := fanfare.ClaimsPolicy{MaxBytes: 1 << 20}
		got, err := p.Sanitize(claims)
		if err != nil {
			// Decoded JSON is always encodable; only depth can fail.
			require.ErrorIs(t, err, fanfare.ErrInvalidClaims)
			return
		}
		require.Equal(t, pristine, claims, "Sanitize modified its input")

		again, err := p.Sanitize(got)
		require.NoError(t, err)
		require.Equal(t, got, again, "sanitizing twice must change nothing")

		enc, err := json.Marshal(got)
		require.NoError(t, err)
		if got == nil {
			return
		}
		_, err = fanfare.ClaimsPolicy{MaxBytes: len(enc)}.Sanitize(claims)
		require.NoError(t, err, "claims of exactly %d bytes", len(enc))
		if len(enc) > 1 {
			_, err = fanfare.ClaimsPolicy{MaxBytes: len(enc) - 1}.Sanitize(claims)
			require.ErrorIs(t, err, fanfare.ErrClaimsTooLarge, "limit %d for %s", len(enc)-1, enc)
		}
		require.False(t, bytes.Contains(enc, []byte(`"password"`)), "a password key survived: %s", enc)
	})
}
