package scrub

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testSecret = "sk_test_0123456789abcdef"

// TestScrub: the client's own key goes in every escaping, and anything
// shaped like a secret key goes too.
func TestScrub(t *testing.T) {
	const odd = "sk_live_a+b/c=d<e>&f\\g\"h"
	tests := []struct {
		name, secret, text, gone string
	}{
		{"plain", testSecret, "bad key " + testSecret + "!", testSecret},
		{"in a header dump", testSecret, "X-Secret-Key: " + testSecret + "\r\n", testSecret},
		{"another key", testSecret, "expected sk_live_SomeoneElse42 here", "sk_live_SomeoneElse42"},
		{"percent-escaped context", testSecret, "key%3A" + testSecret, testSecret},
		{"odd characters", odd, "got " + odd + " for", odd},
		{"odd characters, query-escaped", odd, "got " + url.QueryEscape(odd), url.QueryEscape(odd)},
		{"odd characters, path-escaped", odd, "got " + url.PathEscape(odd), url.PathEscape(odd)},
		{"odd characters, JSON-escaped", odd, `{"key":` + mustJSONString(t, odd) + `}`, strings.Trim(mustJSONString(t, odd), `"`)},
		{"odd characters, cut", odd, "got " + odd[:12], odd[:12]},
		{"an admission token echoed", testSecret, `bad request: {"token":"eyJhbGciOiJFUzI1NiJ9.eyJjb25zdW1lcklkIjoiYyJ9.c2ln"}`, "eyJjb25zdW1lcklkIjoiYyJ9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New(tt.secret).Scrub(tt.text)
			assert.NotContains(t, got, tt.gone)
			assert.Contains(t, got, Redacted)
		})
	}
	assert.Equal(t, "exchange_code_expired", New(testSecret).Scrub("exchange_code_expired"))
}

func mustJSONString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}
