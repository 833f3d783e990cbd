// Package scrub removes secrets from text that came from upstream: Fanfare,
// or a proxy in front of it that echoes the request (its X-Secret-Key, the
// admission token in its body) into an error page.
package scrub

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces what is scrubbed.
const Redacted = "[REDACTED]"

// secretKeyPattern matches text shaped like a Fanfare secret key, whoever's
// it is. It has no word boundary on purpose: "%3Ask_live_..." (a
// percent-escaped "X-Secret-Key:sk_live_...") must match too, at the price
// of redacting the end of a word such as "task_queue_full".
var secretKeyPattern = regexp.MustCompile(`sk_[A-Za-z0-9_\-]{6,}`)

// tokenPattern matches text shaped like a JWT (an admission token, which
// the validate call sends): a header segment opening with the encoding of
// `{"`, then a payload.
var tokenPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]*)?`)

// Scrubber removes one secret key as sent, percent-escaped and JSON-escaped,
// then anything shaped like a secret key or a token.
type Scrubber []string

// New returns the scrubber of secret.
func New(secret string) Scrubber {
	if secret == "" {
		return nil
	}
	forms := Scrubber{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	for _, html := range []bool{true, false} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(secret)
		forms = append(forms, strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(b.String(), `"`)), `"`))
	}
	// Longest first: a form containing another is replaced whole.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return forms
}

// Scrub returns text without the key, nor anything shaped like a secret key
// or a token.
func (s Scrubber) Scrub(text string) string {
	for _, f := range s {
		text = strings.ReplaceAll(text, f, Redacted)
	}
	text = secretKeyPattern.ReplaceAllLiteralString(text, Redacted)
	return tokenPattern.ReplaceAllLiteralString(text, Redacted)
}
