package fanfare

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSanitizeAllocs bounds the cost of the realistic claims: one copy of
// each map and slice, the encoding, and nothing per key beyond that.
func TestSanitizeAllocs(t *testing.T) {
	claims := benchClaims()
	s := ClaimsPolicy{}.compile()
	got := testing.AllocsPerRun(100, func() {
		if _, _, err := s.sanitize(claims); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, got, 60.0, "allocs per sanitize")
}

// benchClaims is B6's realistic claims map: 10 keys, two nested levels, one
// denied key deep inside.
func benchClaims() map[string]any {
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

func BenchmarkSanitize(b *testing.B) {
	claims := benchClaims()
	p := ClaimsPolicy{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Sanitize(claims); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSanitizeClean has nothing to drop: the cost of the pipeline
// itself (copy, encode once).
func BenchmarkSanitizeClean(b *testing.B) {
	claims := benchClaims()
	delete(claims["profile"].(map[string]any)["prefs"].(map[string]any), "pin")
	p := ClaimsPolicy{}
	want, err := json.Marshal(claims)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := p.Sanitize(claims)
		if err != nil || len(out) != len(want) {
			b.Fatal(err, len(out))
		}
	}
}

// BenchmarkSanitizeLookalikeKeys has keys that need the Unicode reading
// (accents, a fullwidth key, a Cyrillic one): the slow path of key matching.
func BenchmarkSanitizeLookalikeKeys(b *testing.B) {
	claims := benchClaims()
	claims["café"] = "x"
	claims["ｔｉｅｒ２"] = "gold"
	claims["имя"] = "Ада"
	p := ClaimsPolicy{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Sanitize(claims); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSanitizeEdge sanitizes claims whose JSON is exactly the 10 000-byte
// limit.
func BenchmarkSanitizeEdge(b *testing.B) {
	// {"k":"aaa…"} is len(value)+8 bytes.
	claims := map[string]any{"k": strings.Repeat("a", defaultClaimsMaxBytes-8)}
	p := ClaimsPolicy{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Sanitize(claims); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSanitizeCustomPolicy compiles a Deny and Allow list per call, as a
// direct ClaimsPolicy.Sanitize call does.
func BenchmarkSanitizeCustomPolicy(b *testing.B) {
	claims := benchClaims()
	p := ClaimsPolicy{Deny: []string{"nickname"}, Allow: []string{"email", "name", "tier", "profile", "shipping"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Sanitize(claims); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSanitizeGuide is the reference row: the guide's validateExternalClaims
// in Go (encode to measure, copy, delete three exact top-level keys). It
// misses the nested pin the other rows drop.
func BenchmarkSanitizeGuide(b *testing.B) {
	claims := benchClaims()
	b.ReportAllocs()
	for b.Loop() {
		enc, err := json.Marshal(claims)
		if err != nil || len(enc) > defaultClaimsMaxBytes {
			b.Fatal(err, len(enc))
		}
		out := maps.Clone(claims)
		delete(out, "password")
		delete(out, "ssn")
		delete(out, "creditCard")
	}
}
