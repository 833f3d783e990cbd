package fanfare_test

// Decoding and checking admission tokens (admission_decode.go): what a
// payload or header may say, on both paths — verified locally with a key,
// and read unverified as hints before Fanfare is asked.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
)

const admHS256Header = `{"alg":"HS256","typ":"JWT"}`

// admPayload is a valid admission payload for c_dec at admEpoch, as JSON
// written by hand; extra members are spliced in before the closing brace.
func admPayload(extra string) string {
	exp := admEpoch.Add(10 * time.Minute)
	p := `{"consumerId":"c_dec","distributionId":"` + admQueue.ID + `","distributionType":"queue","position":3,` +
		`"admittedAt":"` + admEpoch.Format(time.RFC3339) + `","expiresAt":"` + exp.Format(time.RFC3339) + `",` +
		`"iat":` + strconv.FormatInt(admEpoch.Unix(), 10) + `,"exp":` + strconv.FormatInt(exp.Unix(), 10) + `,"jti":"adm_dec"`
	return p + extra + "}"
}

// admServe sends token in the admission header through h.
func admServe(h http.Handler, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
	req.Header["Fanfare-Admission"] = []string{token}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestAdmissionDecodeAmbiguity: a token that says two things is refused
// with 403 ADMISSION_INVALID and a cause that says why, whether its
// signature is checked here or Fanfare would be asked about it; Fanfare is
// never asked.
func TestAdmissionDecodeAmbiguity(t *testing.T) {
	ts := func(d time.Duration) string { return strconv.Quote(admEpoch.Add(d).Format(time.RFC3339)) }
	unix := func(d time.Duration) string { return strconv.FormatInt(admEpoch.Add(d).Unix(), 10) }
	tests := []struct {
		name            string
		header, payload string
		wantCause       string // "" for a token both paths accept
	}{
		{"valid", admHS256Header, admPayload(""), ""},
		{"an unknown member repeated", admHS256Header, admPayload(`,"pad":1,"pad":2`), ""},
		{"a lifetime of exactly 7 days", admHS256Header, strings.NewReplacer(
			`"exp":`+unix(10*time.Minute), `"exp":`+unix(7*24*time.Hour),
			`"expiresAt":`+ts(10*time.Minute), `"expiresAt":`+ts(7*24*time.Hour)).Replace(admPayload("")), ""},

		{"consumerId twice", admHS256Header, admPayload(`,"consumerId":"c_other"`), `token payload repeats "consumerId"`},
		{"consumerId beside ConsumerID", admHS256Header, admPayload(`,"ConsumerID":"c_other"`), `token payload repeats "consumerId"`},
		{"consumerId beside a long-s variant", admHS256Header, admPayload(`,"con\u017fumerId":"c_other"`), `token payload repeats "consumerId"`},
		{"distributionId beside DISTRIBUTIONID", admHS256Header, admPayload(`,"DISTRIBUTIONID":"q_other"`), `token payload repeats "distributionId"`},
		{"exp beside EXP", admHS256Header, admPayload(`,"EXP":1`), `token payload repeats "exp"`},
		{"a repeat that says null", admHS256Header, admPayload(`,"fingerprint":"fp","Fingerprint":null`), `token payload repeats "fingerprint"`},

		{"crit header", `{"alg":"HS256","typ":"JWT","crit":["exp"]}`, admPayload(""), "critical extensions (crit)"},
		{"empty crit header", `{"alg":"HS256","crit":[]}`, admPayload(""), "critical extensions (crit)"},
		{"alg twice in the header", `{"alg":"none","alg":"HS256","typ":"JWT"}`, admPayload(""), "token header repeats"},
		{"kid beside KID in the header", `{"alg":"HS256","kid":"a","KID":"b"}`, admPayload(""), "token header repeats"},
		{"exp as a string", admHS256Header, strings.Replace(admPayload(""),
			`"exp":`+unix(10*time.Minute), `"exp":"`+unix(10*time.Minute)+`"`, 1), "NumericDate claim (exp, nbf, iat) is a string"},
		{"exp beyond the range of time", admHS256Header, strings.Replace(admPayload(""),
			`"exp":`+unix(10*time.Minute), `"exp":1e300`, 1), "out of the range of time"},
		{"iat as a string", admHS256Header, strings.Replace(admPayload(""),
			`"iat":`+unix(0), `"iat":"`+unix(0)+`"`, 1), "NumericDate claim (exp, nbf, iat) is a string"},

		{"exp 8 days ahead", admHS256Header, strings.Replace(admPayload(""),
			`"exp":`+unix(10*time.Minute), `"exp":`+unix(8*24*time.Hour), 1), "lifetime is absurd"},
		{"expiresAt in the year 9999, no exp", admHS256Header, strings.NewReplacer(
			`,"exp":`+unix(10*time.Minute), "",
			`"expiresAt":`+ts(10*time.Minute), `"expiresAt":"9999-12-31T23:59:59Z"`).Replace(admPayload("")), "lifetime is absurd"},
		{"admitted 8 days before it expires", admHS256Header, strings.Replace(admPayload(""),
			`"admittedAt":`+ts(0), `"admittedAt":`+ts(-8*24*time.Hour), 1), "lifetime is absurd"},
		{"admitted in the year 1", admHS256Header, strings.Replace(admPayload(""),
			`"admittedAt":`+ts(0), `"admittedAt":"0001-01-01T00:00:00Z"`, 1), "lifetime is absurd"},
		{"exp past the range of time", admHS256Header, strings.Replace(admPayload(""),
			`"exp":`+unix(10*time.Minute), `"exp":9000000000000000000`, 1), "out of the range of time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refusals := &admRefusals{}
			local, hinted := admGuards(t, refusals)
			token := admSignRaw(t, tc.header, tc.payload)

			rec := admServe(local, token)
			if tc.wantCause == "" {
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				// Without a key the token is only a hint: Fanfare, unreachable
				// here, must be asked.
				assert.Equal(t, http.StatusServiceUnavailable, admServe(hinted, token).Code)
				return
			}
			rec2 := admServe(hinted, token)
			causes := refusals.take()
			require.Len(t, causes, 2)
			for i, rec := range []*httptest.ResponseRecorder{rec, rec2} {
				path := [...]string{"verified", "unverified"}[i]
				require.Equal(t, http.StatusForbidden, rec.Code, "%s: %s", path, rec.Body)
				var body fanfare.ErrorBody
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
				assert.Equal(t, "ADMISSION_INVALID", body.Code, path)
				assert.True(t, strings.HasPrefix(causes[i], fanfare.ErrAdmissionInvalid.Error()+": "), causes[i])
				assert.Contains(t, causes[i], tc.wantCause, path)
			}
		})
	}
}

// TestAdmissionDecodeHints: without a key, the claims are read as hints
// and checked before Fanfare is asked; a token that names no real signing
// algorithm, or is not a JWT, is refused outright.
func TestAdmissionDecodeHints(t *testing.T) {
	_, hinted := admGuards(t, nil)
	claims := admClaims(admQueue, "c_hint", admEpoch, time.Minute)
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"a hint Fanfare must confirm", admSignRaw(t, admHS256Header, admPayload("")), http.StatusServiceUnavailable},
		{"signed with another key: still Fanfare's call", admSign(t, jwt.SigningMethodES256, admKeys().ec2, &claims, ""), http.StatusServiceUnavailable},
		{"alg none", admSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, &claims, ""), http.StatusForbidden},
		{"alg unknown", admSignRaw(t, `{"alg":"XS999"}`, admPayload("")), http.StatusForbidden},
		{"no alg", admSignRaw(t, `{"typ":"JWT"}`, admPayload("")), http.StatusForbidden},
		{"another distribution", admSignRaw(t, admHS256Header, strings.Replace(admPayload(""), admQueue.ID, "q_other", 1)), http.StatusForbidden},
		{"payload not an object", admSignRaw(t, admHS256Header, `[1]`), http.StatusForbidden},
		{"payload null", admSignRaw(t, admHS256Header, `null`), http.StatusForbidden},
		{"two segments", "eyJhbGciOiJIUzI1NiJ9.e30", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, admServe(hinted, tc.token).Code)
		})
	}
}

// FuzzAdmissionTokenDecoding feeds arbitrary tokens to the decoder, verified
// and unverified: it must never panic, and must admit only a token whose
// signature checks out.
func FuzzAdmissionTokenDecoding(f *testing.F) {
	for _, s := range admFuzzSeeds(f) {
		f.Add(s)
	}
	local, hinted := admGuards(f, nil)
	f.Fuzz(func(t *testing.T, token string) {
		admCheckAnswer(t, admServe(local, token), true)
		admCheckAnswer(t, admServe(hinted, token), false)
	})
}

// claimNames are the JSON names of the claims RequireAdmission reads.
var claimNames = []string{
	"consumerId", "distributionId", "distributionType", "position", "admittedAt", "expiresAt",
	"fingerprint", "iss", "sub", "aud", "exp", "nbf", "iat", "jti",
}

// FuzzAdmissionClaimNames signs arbitrary payloads: whenever one is
// admitted, no claim read here appears in it twice in any case, and the
// admission says what encoding/json reads from the payload.
func FuzzAdmissionClaimNames(f *testing.F) {
	for _, s := range []string{
		admPayload(""),
		admPayload(`,"consumerId":"c_other"`),
		admPayload(`,"CONSUMERID":"c_other"`),
		admPayload(`,"con\u017fumerId":"c_other"`),
		admPayload(`,"\u212aey":1,"key":2`),
		admPayload(`,"nested":{"consumerId":"c_other","ConsumerID":1}`),
		admPayload(`,"pad":[1,{"exp":2}],"pad":null`),
		admPayload(`,"Position":4`),
		" " + admPayload("") + " ",
	} {
		f.Add(s)
	}
	local, _ := admGuards(f, nil)
	f.Fuzz(func(t *testing.T, payload string) {
		rec := admServe(local, admSignRaw(t, admHS256Header, payload))
		admCheckAnswer(t, rec, true)
		if rec.Code != http.StatusOK {
			return
		}
		dec := json.NewDecoder(strings.NewReader(payload))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("admitted a payload that is not an object: %q", payload)
		}
		count := map[string]int{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("admitted %q: %v", payload, err)
			}
			for _, n := range claimNames {
				if strings.EqualFold(tok.(string), n) {
					if count[n]++; count[n] > 1 {
						t.Fatalf("admitted %q, which names %q twice", payload, n)
					}
				}
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatalf("admitted %q: %v", payload, err)
			}
		}
		var want struct {
			ConsumerID string `json:"consumerId"`
		}
		require.NoError(t, json.Unmarshal([]byte(payload), &want))
		var got map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		if got["consumer"] != want.ConsumerID {
			t.Fatalf("admitted %q as consumer %v, encoding/json reads %q", payload, got["consumer"], want.ConsumerID)
		}
	})
}

// TestAdmissionDecodeEarlierExpiryWins: when the token carries both
// expiries, the earlier one ends the admission, even when it is the zero
// instant of Go's time (0001-01-01T00:00:00Z), which must not read as "no
// expiresAt" and let the later exp admit.
func TestAdmissionDecodeEarlierExpiryWins(t *testing.T) {
	refusals := &admRefusals{}
	local, _ := admGuards(t, refusals)
	ts := strconv.Quote(admEpoch.Add(10 * time.Minute).Format(time.RFC3339))
	for _, expiresAt := range []string{`"0001-01-01T00:00:00Z"`, `"0001-01-01T02:00:00+02:00"`, `"2000-01-01T00:00:00Z"`} {
		token := admSignRaw(t, admHS256Header, strings.Replace(admPayload(""), `"expiresAt":`+ts, `"expiresAt":`+expiresAt, 1))
		rec := admServe(local, token)
		require.Equal(t, http.StatusForbidden, rec.Code, "expiresAt %s: %s", expiresAt, rec.Body)
		var body fanfare.ErrorBody
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		assert.Equal(t, "ADMISSION_EXPIRED", body.Code, expiresAt)
	}
}
