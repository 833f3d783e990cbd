package fanfare_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	fanfare "github.com/waitify-io/fanfare-go"
)

// The B1 cases of BENCHMARKS.md, in the root package so bench/ can mirror
// them: one request through RequireAdmission with local verification,
// remote validation off and the single-use guard on, into a no-op handler.
// Manual completion releases the hold after each request, so one token can
// be replayed; the store's acquire and release are both on the path.

type admBenchCase struct {
	name   string
	method jwt.SigningMethod
	sign   any
	pemOf  func(b *testing.B) fanfare.Verifier
}

func admBenchCases(b *testing.B) []admBenchCase {
	k := admKeys()
	pemVerifier := func(pub any) func(b *testing.B) fanfare.Verifier {
		return func(b *testing.B) fanfare.Verifier {
			v, err := fanfare.NewPEMVerifier(admPEM(b, pub))
			if err != nil {
				b.Fatal(err)
			}
			return v
		}
	}
	return []admBenchCase{
		{"HS256", jwt.SigningMethodHS256, k.hmac, func(b *testing.B) fanfare.Verifier {
			v, err := fanfare.NewHMACVerifier(k.hmac)
			if err != nil {
				b.Fatal(err)
			}
			return v
		}},
		{"ES256", jwt.SigningMethodES256, k.ec, pemVerifier(&k.ec.PublicKey)},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, pemVerifier(k.ed.Public())},
	}
}

func admBenchRun(b *testing.B, h http.Handler, token string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
	req.Header.Set("Fanfare-Admission", token)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkRequireAdmission(b *testing.B) {
	for _, tc := range admBenchCases(b) {
		now := time.Now()
		c := admClaims(admQueue, "c_bench", now, time.Hour)
		token := admSign(b, tc.method, tc.sign, &c, "")
		noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

		b.Run(tc.name+"/baseline", func(b *testing.B) { admBenchRun(b, noop, token) })
		b.Run(tc.name+"/floor", func(b *testing.B) {
			// golang-jwt v5 parse + verify into map claims, no HTTP.
			v := tc.pemOf(b)
			p := jwt.NewParser(jwt.WithValidMethods([]string{tc.method.Alg()}))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := p.Parse(token, v.Keyfunc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/fanfare", func(b *testing.B) {
			h := fanfare.RequireAdmission(nil, fanfare.AdmissionOptions{
				Distribution:            admQueue,
				Verifier:                tc.pemOf(b),
				DisableRemoteValidation: true,
				Completion:              fanfare.CompleteManually,
				Store:                   fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}),
				Logger:                  slog.New(slog.DiscardHandler),
			})(noop)
			admBenchRun(b, h, token)
		})
	}
}

func BenchmarkRequireAdmission_HS256(b *testing.B) { admBenchOne(b, "HS256") }
func BenchmarkRequireAdmission_ES256(b *testing.B) { admBenchOne(b, "ES256") }
func BenchmarkRequireAdmission_EdDSA(b *testing.B) { admBenchOne(b, "EdDSA") }

func admBenchOne(b *testing.B, alg string) {
	for _, tc := range admBenchCases(b) {
		if tc.name != alg {
			continue
		}
		c := admClaims(admQueue, "c_bench", time.Now(), time.Hour)
		token := admSign(b, tc.method, tc.sign, &c, "")
		h := fanfare.RequireAdmission(nil, fanfare.AdmissionOptions{
			Distribution:            admQueue,
			Verifier:                tc.pemOf(b),
			DisableRemoteValidation: true,
			Completion:              fanfare.CompleteManually,
			Store:                   fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}),
			Logger:                  slog.New(slog.DiscardHandler),
		})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		admBenchRun(b, h, token)
	}
}
