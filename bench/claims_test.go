package bench

// B6 of shared/BENCHMARKS.md: the claims sanitizer alone, beside the guide's
// validateExternalClaims (json.Marshal to measure, copy, delete three exact
// top-level keys). Groups:
//   - realistic: 10 top-level keys, two nested levels, one denied key ("pin")
//     two levels down. fanfare must drop it; the guide's approach keeps it.
//   - edge: the realistic claims without the pin plus a "bio" string that
//     brings their JSON to exactly 10 000 bytes, the largest accepted.
//     Both must accept.
//   - over: one byte more. Both must refuse.
//
// fanfare runs through ClaimsPolicy.Sanitize (zero policy: the guide's size
// limit and deny list), the public call, which compiles the policy on each
// call (the middlewares compile it once) and returns the encoded claims the
// client sends as they are: like the guide's, it encodes once.

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	fanfare "github.com/waitify-io/fanfare-go"
)

// b6Claims is B6's realistic claims map.
func b6Claims() map[string]any {
	return map[string]any{
		"email":     "ada@example.com",
		"name":      "Ada Lovelace",
		"tier":      "gold",
		"createdAt": "2021-03-04T05:06:07Z",
		"verified":  true,
		"orders":    float64(42),
		"locale":    "en-GB",
		"roles":     []any{"member", "early-access"},
		"shipping": map[string]any{
			"country": "GB",
			"city":    "London",
		},
		"profile": map[string]any{
			"nickname": "ada",
			"prefs": map[string]any{
				"newsletter": false,
				"size":       "M",
				"pin":        "1234", // denied, two levels down
			},
		},
	}
}

// b6Sized returns the realistic claims without the pin, padded with a "bio"
// so that their JSON is exactly size bytes.
func b6Sized(b *testing.B, size int) map[string]any {
	c := b6Claims()
	delete(c["profile"].(map[string]any)["prefs"].(map[string]any), "pin")
	c["bio"] = ""
	enc, err := json.Marshal(c)
	if err != nil {
		b.Fatal(err)
	}
	c["bio"] = strings.Repeat("a", size-len(enc))
	if enc, _ = json.Marshal(c); len(enc) != size {
		b.Fatalf("claims JSON is %d bytes, want %d", len(enc), size)
	}
	return c
}

func BenchmarkB6(b *testing.B) {
	const limit = 10000 // the guide's claims limit, fanfare.ClaimsPolicy's default (README, step 6)
	for _, g := range []struct {
		name     string
		claims   func(b *testing.B) map[string]any
		tooLarge bool // both must refuse with their too-large error
	}{
		{"realistic", func(*testing.B) map[string]any { return b6Claims() }, false},
		{"edge", func(b *testing.B) map[string]any { return b6Sized(b, limit) }, false},
		{"over", func(b *testing.B) map[string]any { return b6Sized(b, limit+1) }, true},
	} {
		// checkErr fails b unless err is what the group expects.
		checkErr := func(b *testing.B, err, tooLarge error) {
			if g.tooLarge && !errors.Is(err, tooLarge) || !g.tooLarge && err != nil {
				b.Fatalf("got %v, want too large: %v", err, g.tooLarge)
			}
		}
		guide := func(b *testing.B) {
			claims := g.claims(b)
			b.ReportAllocs()
			for b.Loop() {
				_, err := validateExternalClaims(claims)
				checkErr(b, err, errClaimsTooLarge)
			}
		}
		sanitize := func(b *testing.B) {
			claims := g.claims(b)
			p := fanfare.ClaimsPolicy{}
			out, err := p.Sanitize(claims)
			checkErr(b, err, fanfare.ErrClaimsTooLarge)
			if err == nil {
				var sent struct {
					Profile struct{ Prefs map[string]any }
				}
				if err := json.Unmarshal(out, &sent); err != nil {
					b.Fatal(err)
				}
				if _, ok := sent.Profile.Prefs["pin"]; ok {
					b.Fatal("the nested pin was kept")
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				_, err := p.Sanitize(claims)
				checkErr(b, err, fanfare.ErrClaimsTooLarge)
			}
		}
		for range rounds {
			b.Run(g.name+"/guide", guide)
			b.Run(g.name+"/fanfare", sanitize)
		}
	}
}
