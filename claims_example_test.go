package fanfare_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	fanfare "github.com/waitify-io/fanfare-go"
)

func ExampleClaimsPolicy_Sanitize() {
	claims := map[string]any{
		"email":    "ada@example.com",
		"tier":     "gold",
		"password": "hunter2", // a denied key
		"shipping": map[string]any{"city": "London", "card_number": "x"},
		"note":     "4111 1111 1111 1111", // a card number under an innocent key
	}
	clean, err := fanfare.ClaimsPolicy{}.Sanitize(claims)
	fmt.Printf("%s %v\n", clean, err) // the exact bytes Fanfare receives

	_, err = fanfare.ClaimsPolicy{MaxBytes: 20}.Sanitize(claims)
	fmt.Println(errors.Is(err, fanfare.ErrClaimsTooLarge))
	// Output:
	// {"email":"ada@example.com","shipping":{"city":"London"},"tier":"gold"} <nil>
	// true
}

// Which policy do I need? The zero value is the guide's: 10 000 bytes and the
// built-in deny rules. Add Deny for your own sensitive fields; switch to an
// allow-list when you would rather name what may leave than what may not.
func ExampleClaimsPolicy_allowList() {
	policy := fanfare.ClaimsPolicy{
		Allow: []string{"email", "tier"}, // everything else at the top level is dropped
		Deny:  []string{"dateOfBirth"},   // and this, at any depth
	}
	clean, _ := policy.Sanitize(map[string]any{
		"email":       "ada@example.com",
		"tier":        "gold",
		"internal_id": 42,
		"birth_date":  "1815-12-10",
	})
	fmt.Printf("%s\n", clean)
	// Output:
	// {"email":"ada@example.com","tier":"gold"}
}

func ExampleSanitizeClaims() {
	// Your own auth middleware puts the logged-in user into the context.
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := fanfare.Identity{Subject: "user-42", Email: "ada@example.com",
				Claims: map[string]any{"tier": "gold", "ssn": "123-45-6789", "bio": r.URL.Query().Get("bio")}}
			next.ServeHTTP(w, r.WithContext(fanfare.WithIdentity(r.Context(), id)))
		})
	}
	show := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := fanfare.IdentityFromContext(r.Context())
		fmt.Fprintln(w, id.Claims)
	})
	h := auth(fanfare.SanitizeClaims(fanfare.ClaimsOptions{
		Policy: fanfare.ClaimsPolicy{MaxBytes: 100},
		Logger: slog.New(slog.DiscardHandler), // default: slog.Default()
	})(show))

	for _, bio := range []string{"hi", strings.Repeat("x", 100)} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize?bio="+bio, nil))
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 map[bio:hi email:ada@example.com tier:gold]
	// 413 {"error":"Claims too large"}
}

// Any spelling of a denied key is dropped: look-alike letters from another
// script, invisible characters, fullwidth forms.
func ExampleClaimsPolicy_spellings() {
	clean, _ := fanfare.ClaimsPolicy{}.Sanitize(map[string]any{
		"p\u0430ssword":      "Cyrillic а",
		"pass\u200bword":     "zero-width space",
		"\uff53\uff53\uff4e": "fullwidth",
		"tier":               "gold",
	})
	fmt.Printf("%s\n", clean)
	// Output:
	// {"tier":"gold"}
}
