package bench

// B5 of shared/BENCHMARKS.md: the authorize endpoint end to end, about 64
// goroutines, against the fanfaretest emulator on loopback. A stand-in for
// the merchant's auth middleware puts one of 1024 logged-in users into the
// request context (with the guide's claims: email, name, tier, createdAt);
// each goroutine cycles through its own 16 users.
//
// Rows: guide is the guide's authorize route written plainly in Go with
// http.DefaultClient, including its validateExternalClaims (a size check
// and three top-level deletes) but not its express-rate-limit; fanfare is
// SanitizeClaims, then RateLimitAuthorize (a limit the run never reaches:
// a 429 fails the benchmark), then NewAuthorizeHandler with the library's
// default client. Every request must answer 200 with an exchange code.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

const (
	b5Goroutines = 64
	b5PerWorker  = 16
	b5Provider   = "your-platform"
	b5Issuer     = "https://your-domain.com"
)

// b5Users are the logged-in users, as the merchant's auth knows them.
func b5Users() []fanfare.Identity {
	users := make([]fanfare.Identity, 2*b5Goroutines*b5PerWorker) // room for a GOMAXPROCS that rounds up
	for i := range users {
		n := strconv.Itoa(i)
		users[i] = fanfare.Identity{
			Subject: "user_" + n,
			Email:   "shopper" + n + "@example.com",
			Name:    "Shopper " + n,
			Claims: map[string]any{
				"tier":      "gold",
				"createdAt": "2021-03-04T05:06:07Z",
			},
		}
	}
	return users
}

// b5Auth stands in for the merchant's auth middleware: the user whose index
// is in the X-User header is logged in.
func b5Auth(users []fanfare.Identity, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.Header.Get("X-User"))
		if err != nil || i < 0 || i >= len(users) {
			http.Error(w, `{"error":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(fanfare.WithIdentity(r.Context(), users[i])))
	})
}

func BenchmarkB5(b *testing.B) {
	users := b5Users()
	discard := slog.New(slog.DiscardHandler)

	// A fresh emulator for every run: it keeps each exchange code it
	// hands out until the code is exchanged, and no code is here.
	rows := []struct {
		name    string
		handler func(b *testing.B, srv *fanfaretest.Server) http.Handler
	}{
		{"guide", func(b *testing.B, srv *fanfaretest.Server) http.Handler {
			return guideAuthorize{apiURL: srv.URL, orgID: srv.OrganizationID, secretKey: srv.SecretKey}
		}},
		{"fanfare", func(b *testing.B, srv *fanfaretest.Server) http.Handler {
			client, err := fanfare.NewClient(srv.Config())
			if err != nil {
				b.Fatal(err)
			}
			authorize := fanfare.NewAuthorizeHandler(client, fanfare.AuthorizeOptions{
				Provider: b5Provider, Issuer: b5Issuer, Logger: discard,
			})
			limited := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{
				// Each user sends a few requests a second here; no user
				// nears 1000 in any second.
				Limit:  fanfare.Limit{Requests: 1000, Window: time.Second},
				Logger: discard,
			})(authorize)
			return fanfare.SanitizeClaims(fanfare.ClaimsOptions{})(limited)
		}},
	}
	for range rounds {
		for _, row := range rows {
			b.Run(row.name, func(b *testing.B) {
				srv := fanfaretest.NewServer(fanfaretest.Options{})
				defer srv.Close()
				defer closeDefaultIdle()
				b5Run(b, b5Auth(users, row.handler(b, srv)), len(users))
			})
		}
	}
}

// b5Run sends authorize requests through h from about 64 goroutines, each
// for its own users; anything but 200 with an exchange code fails.
func b5Run(b *testing.B, h http.Handler, users int) {
	b.Helper()
	user := make([]string, users)
	for i := range user {
		user[i] = strconv.Itoa(i)
	}
	runParallel(b, b5Goroutines, func(ctx context.Context, worker, i int) error {
		u := worker*b5PerWorker + i%b5PerWorker
		if u >= len(user) {
			return fmt.Errorf("worker %d has no users", worker)
		}
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/fanfare/authorize", nil)
		r.Header["X-User"] = []string{user[u]}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"exchangeCode":"exc_`)) {
			return fmt.Errorf("status %d, body %s", rec.Code, rec.Body)
		}
		return nil
	})
}

// guideAuthorize is the guide's POST /api/fanfare/authorize route, plainly.
type guideAuthorize struct {
	apiURL, orgID, secretKey string
}

func (g guideAuthorize) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, ok := fanfare.IdentityFromContext(r.Context())
	if !ok {
		writeGuideJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized"})
		return
	}
	claims := map[string]any{"email": user.Email, "name": user.Name}
	maps.Copy(claims, user.Claims)
	claims, err := validateExternalClaims(claims)
	if err != nil {
		writeGuideJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "Claims too large"})
		return
	}
	payload, err := json.Marshal(map[string]any{
		"provider": b5Provider, "issuer": b5Issuer, "subject": user.Subject, "claims": claims,
	})
	if err != nil {
		writeGuideJSON(w, http.StatusInternalServerError, map[string]string{"error": "Internal server error"})
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, g.apiURL+"/auth/external/authorize", bytes.NewReader(payload))
	if err != nil {
		writeGuideJSON(w, http.StatusInternalServerError, map[string]string{"error": "Internal server error"})
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Organization-Id", g.orgID)
	req.Header.Set("X-Secret-Key", g.secretKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		writeGuideJSON(w, http.StatusInternalServerError, map[string]string{"error": "Internal server error"})
		return
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode < 200 || res.StatusCode > 299 {
		writeGuideJSON(w, http.StatusInternalServerError, map[string]string{"error": "Authentication failed"})
		return
	}
	var out struct {
		ExchangeCode string `json:"exchangeCode"`
		ExpiresAt    string `json:"expiresAt"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		writeGuideJSON(w, http.StatusInternalServerError, map[string]string{"error": "Internal server error"})
		return
	}
	writeGuideJSON(w, http.StatusOK, out)
}

func writeGuideJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var errClaimsTooLarge = errors.New("claims too large")

// validateExternalClaims is the guide's, in Go: measure the JSON, copy, and
// delete three exact top-level keys. It misses anything nested, renamed or
// differently cased.
func validateExternalClaims(claims map[string]any) (map[string]any, error) {
	enc, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	if len(enc) > 10000 { // the guide's claims limit (README, step 6)
		return nil, errClaimsTooLarge
	}
	out := maps.Clone(claims)
	delete(out, "password")
	delete(out, "ssn")
	delete(out, "creditCard")
	return out, nil
}
