package fanfare

import (
	"strings"
	"testing"
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
