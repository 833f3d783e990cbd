package fanfare_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

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
			want := map[string]any{
				"tier":   "gold",
				"nested": map[string]any{"ok": 1},
				"list":   []any{map[string]any{"ok": 2}},
			}
			assertSanitized(t, fanfare.ClaimsPolicy{}, claims, want)
		})
	}
	for _, key := range kept {
		t.Run("kept/"+key, func(t *testing.T) {
			claims := map[string]any{key: "value", "nested": map[string]any{key: "value"}}
			assertSanitized(t, fanfare.ClaimsPolicy{}, claims, claims)
		})
	}
}

// TestClaimsPolicyKeySpellings: a denied key spelled with look-alike
// letters, invisible characters, compatibility forms or another case form
// is matched like its plain spelling; a key the sanitizer cannot read for
// sure is dropped; keys in other scripts are kept.
func TestClaimsPolicyKeySpellings(t *testing.T) {
	denied := map[string]string{
		"Cyrillic a":                  "p\u0430ssword",
		"Cyrillic p and a, all caps":  "\u0420\u0410SSWORD",
		"all Cyrillic ssn":            "\u0455\u0455\u043f",
		"Greek omicron in word":       "passw\u03bfrd",
		"Greek capitals PIN":          "\u03a1\u0399\u039d",
		"zero-width space":            "pass\u200bword",
		"zero-width joiner in pin":    "p\u200din",
		"soft hyphen":                 "pass\u00adword",
		"word joiner in ssn":          "s\u2060sn",
		"BOM prefix":                  "\ufeffssn",
		"variation selector":          "ss\ufe0fn",
		"tag characters":              "pin\U000e0041",
		"combining mark":              "pa\u0301ssword",
		"precomposed accent":          "p\u00e1ssword",
		"fullwidth":                   "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44",
		"fullwidth caps SSN":          "\uff33\uff33\uff2e",
		"mathematical bold":           "\U0001d429\U0001d41a\U0001d42c\U0001d42c\U0001d430\U0001d428\U0001d42b\U0001d41d",
		"circled letters":             "\u24df\u24d8\u24dd",
		"long s":                      "pa\u017f\u017fword",
		"small capitals":              "\u1d18\u026a\u0274",
		"dotless i":                   "p\u0131n",
		"user pin, Cyrillic i":        "user_p\u0456n",
		"camel case with ZWSP":        "user\u200bPin",
		"control character":           "p\u0000in",
		"tab separated":               "user\tpin",
		"invalid UTF-8":               "pass\xffword",
		"Latin with no ASCII reading": "pa\u0283\u0283word",
		"Latin mixed with Cyrillic":   "tier\u0436",
		"Latin mixed with Greek":      "name\u03bb",
	}
	kept := map[string]string{
		"Russian":        "\u0438\u043c\u044f",
		"Japanese":       "\u540d\u524d",
		"Greek":          "\u03cc\u03bd\u03bf\u03bc\u03b1",
		"German sharp s": "gr\u00f6\u00dfe",
		"French":         "caf\u00e9",
		"emoji":          "\U0001f389tier",
	}
	for name, key := range denied {
		t.Run("denied/"+name, func(t *testing.T) {
			claims := map[string]any{key: "x", "tier": "gold", "nested": map[string]any{key: "x"}}
			assertSanitized(t, fanfare.ClaimsPolicy{}, claims, map[string]any{"tier": "gold", "nested": map[string]any{}})
		})
	}
	for name, key := range kept {
		t.Run("kept/"+name, func(t *testing.T) {
			claims := map[string]any{key: "x"}
			assertSanitized(t, fanfare.ClaimsPolicy{}, claims, claims)
		})
	}
	t.Run("deny and allow entries are read the same way", func(t *testing.T) {
		p := fanfare.ClaimsPolicy{Deny: []string{"d\u043eb"}, Allow: []string{"\uff54\uff49\uff45\uff52", "dob", "b\u200birth"}}
		claims := map[string]any{"tier": 1, "dob": 2, "DOB_year": 3, "birth": 4, "other": 5}
		assertSanitized(t, p, claims, map[string]any{"tier": 1, "birth": 4})
	})
}

// assertSanitized runs p over claims and compares the JSON it returns with
// the JSON of want (nil: no claims at all).
func assertSanitized(t *testing.T, p fanfare.ClaimsPolicy, claims, want map[string]any) {
	t.Helper()
	got, err := p.Sanitize(claims)
	require.NoError(t, err)
	if want == nil {
		assert.Nil(t, got)
		return
	}
	assert.JSONEq(t, mustMarshal(t, want), string(got), "sanitized claims")
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
		{"fullwidth visa", "\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11", true},
		{"visa with zero-width spaces", "4111\u200b1111\u200b1111\u200b1111", true},
		{"ssn with non-breaking hyphens", "123\u201145\u20116789", true},
		{"ssn with no-break spaces", "123\u00a045\u00a06789", true},
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
			want := claims
			if tt.drop {
				want = map[string]any{"list": []any{"x"}, "strs": []string{"b"}}
				if _, ok := tt.value.(string); !ok {
					want["strs"] = []string{"a", "b"}
				}
			}
			assertSanitized(t, fanfare.ClaimsPolicy{}, claims, want)
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
	want := map[string]any{
		"profile": map[string]any{"tier": "gold", "since": "2021-03-04T05:06:07Z"},
		"ptr":     map[string]any{"tier": "silver", "since": "0001-01-01T00:00:00Z"},
		"labels":  map[string]string{"color": "red"},
		"when":    "2021-03-04T05:06:07Z",
		"nilmap":  map[string]any(nil),
		"nilptr":  nil,
	}
	assertSanitized(t, fanfare.ClaimsPolicy{}, claims, want)
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
			assertSanitized(t, tt.policy, claims, tt.want)
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
		{"more dropped values than the limit", 300, func(n int) map[string]any {
			// {"a":[],"k":"…"} is len+15; the SSNs dropped from the list cost nothing.
			ssns := make([]any, 400)
			for i := range ssns {
				ssns[i] = "123-45-6789"
			}
			return map[string]any{"a": ssns, "k": strings.Repeat("a", n-15)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.max
			if limit == 0 {
				limit = 10000 // the guide's limit, ClaimsPolicy.MaxBytes's default (README, step 6)
			}
			p := fanfare.ClaimsPolicy{MaxBytes: tt.max}

			at := tt.claim(limit)
			got, err := p.Sanitize(at)
			require.NoError(t, err, "claims of exactly %d bytes", limit)
			assert.Len(t, got, limit, "the JSON sent")

			over := tt.claim(limit + 1)
			unlimited, err := fanfare.ClaimsPolicy{MaxBytes: 1 << 20}.Sanitize(over)
			require.NoError(t, err)
			assert.Len(t, unlimited, limit+1, "the JSON of the claims, one byte over")
			got, err = p.Sanitize(over)
			require.ErrorIs(t, err, fanfare.ErrClaimsTooLarge, "claims of %d bytes", limit+1)
			assert.Nil(t, got)
			assert.True(t, strings.HasPrefix(err.Error(), "fanfare:"), "error %q", err)
		})
	}
}

// TestClaimsPolicySharedValues: claims that share a value many times over
// (a Go map or slice can be met again and again; JSON decoding never
// shares) are refused as too large before the walk or the encoding runs
// away: what is dropped is read too, and a kept string weighs its length.
func TestClaimsPolicySharedValues(t *testing.T) {
	ssns := make([]any, 1000) // all dropped: the sanitized list is []
	for i := range ssns {
		ssns[i] = "123-45-6789"
	}
	denied := map[string]any{} // all dropped: the sanitized map is {}
	for i := range 1000 {
		denied["password"+strconv.Itoa(i)] = "x"
	}
	long := strings.Repeat("a", 16<<10)
	tests := []struct {
		name  string
		value any // shared 2000 times
	}{
		{"a list of dropped values", ssns},
		{"a map of dropped keys", denied},
		{"a kept string", long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shared := make([]any, 2000)
			for i := range shared {
				shared[i] = tt.value
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, err := fanfare.ClaimsPolicy{}.Sanitize(map[string]any{"a": shared})
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, fanfare.ErrClaimsTooLarge)
			assert.Nil(t, got)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20), "bytes allocated")
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
			var got json.RawMessage
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

func TestClaimsPolicyNothingLeft(t *testing.T) {
	for _, claims := range []map[string]any{nil, {}, {"password": "x"}} {
		got, err := fanfare.ClaimsPolicy{}.Sanitize(claims)
		require.NoError(t, err)
		assert.Nil(t, got, "claims %v: nothing to send", claims)
	}
}

// TestSanitizeClaims runs the middleware in front of a handler that records
// the identity it sees.
func TestSanitizeClaims(t *testing.T) {
	tests := []struct {
		name       string
		policy     fanfare.ClaimsPolicy
		id         *fanfare.Identity
		wantStatus int
		wantLog    string
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
			wantLog:    "level=WARN",
		},
		{
			name:       "email counts toward the size",
			policy:     fanfare.ClaimsPolicy{MaxBytes: 30},
			id:         &fanfare.Identity{Subject: "u1", Email: "someone-with-a-long-address@example.com"},
			wantStatus: http.StatusRequestEntityTooLarge,
			wantBody:   `{"error":"Claims too large"}`,
			wantLog:    "level=WARN",
		},
		{
			name:       "unencodable",
			id:         &fanfare.Identity{Subject: "u1", Claims: map[string]any{"f": func() {}}},
			wantStatus: http.StatusInternalServerError,
			wantBody:   `{"error":"Internal server error"}`,
			wantLog:    "level=ERROR",
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
			log, logs := newLogger()
			fanfare.SanitizeClaims(fanfare.ClaimsOptions{Policy: tt.policy, Logger: log})(next).ServeHTTP(rec, req)
			if tt.wantLog != "" {
				assert.Contains(t, logs.String(), tt.wantLog)
				assert.Contains(t, logs.String(), "fanfare: claims refused")
			} else {
				assert.Empty(t, logs.String())
			}

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

// TestSanitizeClaimsErrorHandler: a custom ErrorHandler renders the
// refusal and gets an error it can tell apart.
func TestSanitizeClaimsErrorHandler(t *testing.T) {
	var got error
	h := fanfare.SanitizeClaims(fanfare.ClaimsOptions{
		Policy: fanfare.ClaimsPolicy{MaxBytes: 20},
		Logger: slog.New(slog.DiscardHandler),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			if errors.Is(err, fanfare.ErrClaimsTooLarge) {
				http.Error(w, "too much about you", http.StatusTeapot)
				return
			}
			fanfare.WriteError(w, r, err)
		},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the next handler must not run")
	}))
	for _, tt := range []struct {
		claims     map[string]any
		wantErr    error
		wantStatus int
	}{
		{map[string]any{"bio": strings.Repeat("a", 20)}, fanfare.ErrClaimsTooLarge, http.StatusTeapot},
		{map[string]any{"f": func() {}}, fanfare.ErrInvalidClaims, http.StatusInternalServerError},
	} {
		req := httptest.NewRequest(http.MethodPost, "/authorize", nil)
		req = req.WithContext(fanfare.WithIdentity(req.Context(), fanfare.Identity{Subject: "u", Claims: tt.claims}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.ErrorIs(t, got, tt.wantErr)
		assert.Equal(t, tt.wantStatus, rec.Code)
	}
}

// FuzzSanitize checks our rules for claims decoded from arbitrary JSON: no
// panic; the input is not modified; the result passes the policy again
// unchanged; no key that reads as "password" survives, at any depth; and
// the size decision is exact — the claims pass a limit equal to the length
// of what is sent and fail one byte below it.
func FuzzSanitize(f *testing.F) {
	seeds := []string{
		`{}`,
		`{"email":"a@b.c","password":"x","tier":"gold"}`,
		`{"a":{"b":{"creditCardNumber":"4111 1111 1111 1111","c":[1,2,"123-45-6789"]}}}`,
		`{"list":[{"pin":"1"},{"shipping":"x"}],"n":4111111111111111}`,
		`{"esc":"<>&\u2028\u0000\"\\","ünï":"\ud83c\udf89","big":1e300,"small":1e-7}`,
		`{"k":"` + strings.Repeat("a", 200) + `"}`,
		`{"SSNLast4":"1234","CVV2":123,"card_no":null,"x":[[[[]]]]}`,
		`{"p\u0430ssword":1,"pass\u200bword":2,"\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44":3,"PASSWORD":4}`,
		`{"a":"\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11"}`,
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
		enc, err := p.Sanitize(claims)
		if err != nil {
			// Decoded JSON is always encodable; only depth can fail.
			require.ErrorIs(t, err, fanfare.ErrInvalidClaims)
			return
		}
		require.Equal(t, pristine, claims, "Sanitize modified its input")
		if enc == nil {
			return
		}
		var got map[string]any
		require.NoError(t, json.Unmarshal(enc, &got), "the JSON sent: %s", enc)
		again, err := p.Sanitize(got)
		require.NoError(t, err)
		require.Equal(t, string(enc), string(again), "sanitizing twice must change nothing")
		requireNoPassword(t, got)

		_, err = fanfare.ClaimsPolicy{MaxBytes: len(enc)}.Sanitize(claims)
		require.NoError(t, err, "claims of exactly %d bytes", len(enc))
		if len(enc) > 1 {
			_, err = fanfare.ClaimsPolicy{MaxBytes: len(enc) - 1}.Sanitize(claims)
			require.ErrorIs(t, err, fanfare.ErrClaimsTooLarge, "limit %d for %s", len(enc)-1, enc)
		}
	})
}

// FuzzClaimsKey checks "any spelling" against a reading of keys done
// another way: when a key, put in NFKC form, stripped of format, control
// and default-ignorable characters and combining marks, and case-folded in
// full, contains "password" or "ssn", the key never reaches Fanfare.
func FuzzClaimsKey(f *testing.F) {
	for _, k := range []string{"password", "PassWord", "pass\u200bword", "\uff30assword", "pa\u00dfword", "SSN", "\u017f\u017fn", "x_ssn", "shipping"} {
		f.Add(k)
	}
	fold := cases.Fold()
	f.Fuzz(func(t *testing.T, key string) {
		if !utf8.ValidString(key) {
			return
		}
		read := fold.String(strings.Map(func(r rune) rune {
			if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Mn, unicode.Me, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) {
				return -1
			}
			return r
		}, norm.NFKC.String(key)))
		enc, err := fanfare.ClaimsPolicy{}.Sanitize(map[string]any{key: "x"})
		if errors.Is(err, fanfare.ErrClaimsTooLarge) {
			return // a key too long to send (control characters escape to six bytes): nothing is sent
		}
		require.NoError(t, err)
		if strings.Contains(read, "password") || read == "ssn" {
			require.Nil(t, enc, "key %q (read %q) was sent", key, read)
		}
	})
}

// requireNoPassword fails when a key of v, at any depth, contains
// "password" in any ASCII case.
func requireNoPassword(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			require.NotContains(t, strings.ToLower(k), "password")
			requireNoPassword(t, e)
		}
	case []any:
		for _, e := range x {
			requireNoPassword(t, e)
		}
	}
}

// TestClaimsPolicyAllowEntryWithoutASCIIReadingKeepsOnlyItself: an Allow entry
// with no ASCII reading (a Japanese "名前") reduces to "", and so does every
// other key without one ("密码", Chinese for "password", "$$"): allow-list
// mode then keeps keys the application never listed.
func TestClaimsPolicyAllowEntryWithoutASCIIReadingKeepsOnlyItself(t *testing.T) {
	p := fanfare.ClaimsPolicy{Allow: []string{"名前"}}
	enc, err := p.Sanitize(map[string]any{"名前": "Taro", "密码": "hunter2", "$$": "x"})
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(enc, &got))
	assert.Equal(t, map[string]any{"名前": "Taro"}, got, "Allow lists one key; only that key may pass")
}

// TestClaimsPolicyIntegralJSONNumberCardDropped: the float64 4111111111111111.0
// is dropped as a card number, but the same integral value as a
// json.Number written with a fraction or an exponent (as a JSON document
// decoded with UseNumber may hold it) is sent: the card check reads the
// json.Number's text, not its value.
func TestClaimsPolicyIntegralJSONNumberCardDropped(t *testing.T) {
	for _, n := range []json.Number{"4111111111111111", "4111111111111111.0", "4.111111111111111e15"} {
		enc, err := fanfare.ClaimsPolicy{}.Sanitize(map[string]any{"ref": n})
		require.NoError(t, err)
		assert.Nil(t, enc, "json.Number %s is the Luhn-valid card 4111111111111111", n)
	}
}
