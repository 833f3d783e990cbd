package fanfare

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitKey(t *testing.T) {
	tests := []struct {
		key  string
		want []string
	}{
		{"password", []string{"password"}},
		{"creditCardNumber", []string{"credit", "card", "number"}},
		{"credit_card-number", []string{"credit", "card", "number"}},
		{"CREDIT_CARD", []string{"credit", "card"}},
		{"userSSN", []string{"user", "ssn"}},
		{"SSNLast4", []string{"ssn", "last", "4"}},
		{"CVV2", []string{"cvv", "2"}},
		{"pin1Code", []string{"pin", "1", "code"}},
		{"user.pin", []string{"user", "pin"}},
		{"__", nil},
		{"", nil},
		{"päss", []string{"p", "ss"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			norm, starts := splitKey(tt.key, nil, nil)
			var got []string
			for i := 0; i+1 < len(starts); i++ {
				got = append(got, string(norm[starts[i]:starts[i+1]]))
			}
			assert.Equal(t, tt.want, got, "words of %q", tt.key)
		})
	}
}

// TestJSONLenMatchesEncodingJSON checks the sizes the sanitizer adds up
// against encoding/json itself.
func TestJSONLenMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "a", `"`, `\`, "\b\f\n\r\t", "\x00\x01\x1f", "<>&", "\x7f",
		"é", "日本", "\u2028\u2029", "\xff", "a\xc3", "\xed\xa0\x80", "emoji 🎉"}
	for _, s := range strs {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, len(b), jsonStringLen(s), "jsonStringLen(%q)", s)
	}
	floats := []float64{0, 1, -1, 0.1, 1e-6, 1e-7, 9.999e-7, 1e20, 1e21, 123456789.125, -1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, 3e-10}
	for _, f := range floats {
		b, err := json.Marshal(f)
		require.NoError(t, err)
		assert.Equal(t, len(b), jsonFloatLen(f, 64), "jsonFloatLen(%v, 64)", f)
		f32 := float32(f)
		if math.IsInf(float64(f32), 0) {
			continue
		}
		b, err = json.Marshal(f32)
		require.NoError(t, err)
		assert.Equal(t, len(b), jsonFloatLen(float64(f32), 32), "jsonFloatLen(%v, 32)", f32)
	}
}

func TestIsValidJSONNumber(t *testing.T) {
	for _, s := range []string{"", "0", "-0", "1", "-12", "1.5", "1e5", "1E+5", "-1.25e-10", "10"} {
		assert.True(t, isValidJSONNumber(s), "isValidJSONNumber(%q)", s)
	}
	for _, s := range []string{"-", "01", "1.", ".5", "1e", "1e+", "+1", "0x10", "1.5.5", "NaN", "1 "} {
		assert.False(t, isValidJSONNumber(s), "isValidJSONNumber(%q)", s)
	}
}

func TestLuhn(t *testing.T) {
	for _, s := range []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "4111 1111 1111 1111"} {
		assert.True(t, luhnValid(s), "luhnValid(%q)", s)
	}
	for _, s := range []string{"4111111111111112", "1234567812345678"} {
		assert.False(t, luhnValid(s), "luhnValid(%q)", s)
	}
}

func TestSanitizeClaimsDefaultPolicyAllocs(t *testing.T) {
	claims := benchClaims()
	s := ClaimsPolicy{}.compile()
	got := testing.AllocsPerRun(100, func() {
		if _, err := s.sanitize(claims, false); err != nil {
			t.Fatal(err)
		}
	})
	// The copies on the path to the denied key: two maps (plus their
	// storage). Nothing per key.
	assert.LessOrEqual(t, got, 8.0, "allocs per Sanitize")
}
