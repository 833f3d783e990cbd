package fanfare

import (
	"encoding/base64"
	"reflect"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzParseUnverifiedMatchesJWT holds parseUnverified to the golang-jwt
// parser it replaces: the same tokens refused, the same method and claims
// for the others.
func FuzzParseUnverifiedMatchesJWT(f *testing.F) {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	claims := seg(`{"consumerId":"c","distributionId":"q","distributionType":"queue","exp":1}`)
	for _, h := range []string{
		`{"alg":"ES256","typ":"JWT"}`, `{"alg":"none"}`, `{"alg":""}`, `{"alg":"ES256","alg":"none"}`,
		`{"\u0061lg":"HS256"}`, `{"alg":"E\u005356"}`, `{"alg":null}`, `{"alg":1}`, `{"ALG":"ES256"}`,
		`null`, ` null `, `[]`, `{}`, `{"a":{"alg":"HS256"},"alg":"EdDSA"}`, "{\"alg\xff\":\"ES256\"}", ``,
	} {
		f.Add(seg(h) + "." + claims + ".c2ln")
	}
	f.Add(seg(`{"alg":"ES256"}`) + "." + claims + ".c2ln=")
	f.Add(seg(`{"alg":"ES256"}`) + "." + claims)
	for _, c := range []string{`null`, ` null `, `[1]`, `"s"`, `7`, ` {"consumerId":"c"} `, `{"CONSUMERID":"c","exp":1.5}`, `{"consumerId":"\u0063"}`, `{`} {
		f.Add(seg(`{"alg":"ES256"}`) + "." + seg(c) + ".")
	}
	f.Add(seg(`{"alg":"ES256"}`) + ".." + "." + claims)
	ref := jwt.NewParser(jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation())
	f.Fuzz(func(t *testing.T, token string) {
		var got, want tokenClaims
		method, err := parseUnverified(token, &got)
		tok, _, werr := ref.ParseUnverified(token, &want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("token %q: error %v, golang-jwt %v", token, err, werr)
		}
		if err != nil {
			return
		}
		if method != tok.Method {
			t.Fatalf("token %q: method %v, golang-jwt %v", token, method, tok.Method)
		}
		if !reflect.DeepEqual(got.AdmissionClaims, want.AdmissionClaims) {
			t.Fatalf("token %q: claims %+v, golang-jwt %+v", token, got.AdmissionClaims, want.AdmissionClaims)
		}
	})
}
