package fanfare

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// benchCheckoutBody is the guide's CheckoutRequest as B2 posts it: the
// token, the consumer, the distribution and a cart.
var benchCheckoutBody = []byte(`{"admissionToken":"` + strings.Repeat("x", 520) +
	`","consumerId":"c_bench_0001","experienceType":"queue","distributionId":"q_bench",` +
	`"cart":[{"sku":"sneaker-42","quantity":1,"price":{"amount":19900,"currency":"EUR"}}]}`)

// BenchmarkDecodeObject is the middleware's per-request body work in B2:
// decode the top level, then read the token, the consumer and the
// distribution fields.
func BenchmarkDecodeObject(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchCheckoutBody)))
	for i := 0; i < b.N; i++ {
		body, err := decodeObject(benchCheckoutBody)
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range [...]string{"consumerId", "admissionToken", "experienceType", "distributionId"} {
			if s, err := body.str(name); err != nil || s == "" {
				b.Fatalf("%s: %q, %v", name, s, err)
			}
		}
	}
}

// BenchmarkParseUnverified is the remote mode's token decode (no Verifier):
// golang-jwt's ParseUnverified beside parseUnverified, on a token of the
// emulator's shape.
func BenchmarkParseUnverified(b *testing.B) {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	token := seg(`{"alg":"ES256","typ":"JWT"}`) + "." +
		seg(`{"consumerId":"c_bench_0001","distributionId":"q_bench","distributionType":"queue",`+
			`"position":12,"admittedAt":"2026-11-23T21:00:00Z","expiresAt":"2026-11-23T22:00:00Z",`+
			`"iat":1795035600,"exp":1795039200,"jti":"0d5c3f0e-6a43-4c8e-9d0b-2f3b3b1c2a11"}`) + "." +
		seg(strings.Repeat("s", 64))
	b.Run("golang-jwt", func(b *testing.B) {
		p := jwt.NewParser(jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation())
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var c tokenClaims
			if _, _, err := p.ParseUnverified(token, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fanfare", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var c tokenClaims
			if _, err := parseUnverified(token, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
