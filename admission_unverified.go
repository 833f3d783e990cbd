package fanfare

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// strictRawURL is the segment encoding of the hint parser
// (jwt.WithStrictDecoding, no padding).
var strictRawURL = base64.RawURLEncoding.Strict()

// parseUnverified is the hint parser's ParseUnverified (golang-jwt v5 with
// strict decoding) without its allocations: the same three segments, the
// same checks in the same order, the claims decoded by the same
// tokenClaims.UnmarshalJSON; the header is checked by json.Valid and its "alg"
// read by a walk over its top level instead of a map[string]any. It returns
// the signing method the header names. FuzzParseUnverifiedMatchesJWT holds
// it to golang-jwt.
func parseUnverified(token string, c *tokenClaims) (jwt.SigningMethod, error) {
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errors.New("token is malformed: token contains an invalid number of segments")
	}
	p, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") {
		return nil, errors.New("token is malformed: token contains an invalid number of segments")
	}
	var buf [512]byte
	hb, err := decodeSegment(buf[:], h)
	if err != nil {
		return nil, fmt.Errorf("token is malformed: could not base64 decode header: %w", err)
	}
	algRaw, err := headerAlg(hb)
	if err != nil {
		return nil, err
	}
	var alg string
	var isString bool
	if len(algRaw) > 0 && algRaw[0] == '"' {
		if s, ok := plainString(algRaw); ok {
			alg, isString = s, true
		} else {
			isString = json.Unmarshal(algRaw, &alg) == nil
		}
	}
	cb, err := decodeSegment(buf[:], p)
	if err != nil {
		return nil, fmt.Errorf("token is malformed: could not base64 decode claim: %w", err)
	}
	// json.Unmarshal(cb, &claims) as golang-jwt calls it, without its
	// second scan: on a valid segment it leaves the claims alone for null
	// and otherwise hands the value, trimmed, to tokenClaims.UnmarshalJSON.
	if !json.Valid(cb) {
		return nil, errors.New("token is malformed: could not JSON decode claim")
	}
	if v := cb[skipWS(cb, 0):skipWSBack(cb)]; string(v) != "null" {
		if err := c.UnmarshalJSON(v); err != nil {
			return nil, fmt.Errorf("token is malformed: could not JSON decode claim: %w", err)
		}
	}
	if !isString {
		return nil, errors.New("token is unverifiable: signing method (alg) is unspecified")
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return nil, errors.New("token is unverifiable: signing method (alg) is unavailable")
	}
	if _, err := decodeSegment(buf[:], sig); err != nil {
		return nil, fmt.Errorf("token is malformed: could not base64 decode signature: %w", err)
	}
	return method, nil
}

// decodeSegment decodes a strict unpadded base64url segment into buf when
// it fits.
func decodeSegment(buf []byte, seg string) ([]byte, error) {
	if n := strictRawURL.DecodedLen(len(seg)); n > len(buf) {
		buf = make([]byte, n)
	}
	n, err := strictRawURL.Decode(buf, []byte(seg))
	return buf[:n], err
}

// headerAlg checks a JWS header as json.Unmarshal into a map[string]any
// would (a JSON object, or null) and returns the raw value of its last
// "alg" key (as the map would keep it), nil when there is none.
func headerAlg(hb []byte) ([]byte, error) {
	if !json.Valid(hb) {
		return nil, errors.New("token is malformed: could not JSON decode header")
	}
	i := skipWS(hb, 0)
	if hb[i] != '{' {
		if string(hb[i:skipWSBack(hb)]) == "null" {
			return nil, nil
		}
		return nil, errors.New("token is malformed: could not JSON decode header")
	}
	var alg []byte
	if i = skipWS(hb, i+1); hb[i] == '}' {
		return nil, nil
	}
	for {
		end := stringEnd(hb, i)
		key := hb[i+1 : end-1]
		isAlg := string(key) == "alg"
		if !isAlg && !plainKey(key) {
			var k string
			isAlg = json.Unmarshal(hb[i:end], &k) == nil && k == "alg"
		}
		i = skipWS(hb, end)
		i = skipWS(hb, i+1) // ':'
		vend := valueEnd(hb, i)
		if isAlg {
			alg = hb[i:vend]
		}
		if i = skipWS(hb, vend); hb[i] == '}' {
			return alg, nil
		}
		i = skipWS(hb, i+1) // ','
	}
}

// skipWSBack returns the index just past the last non-space byte of raw.
func skipWSBack(raw []byte) int {
	n := len(raw)
	for n > 0 && (raw[n-1] == ' ' || raw[n-1] == '\t' || raw[n-1] == '\n' || raw[n-1] == '\r') {
		n--
	}
	return n
}
