package fanfare_test

// Reading a checkout request (admission_request.go): the token's sources,
// the JSON body's fields, and the attacks on what RequireAdmission reads
// versus what the handler behind it reads. The same body must mean the same
// thing to both, or the middleware's consumer and distribution checks guard
// a body the handler never sees.

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// guideHandler decodes the guide's CheckoutRequest the way a Go handler
// does (encoding/json into a struct, whatever the Content-Type) and records
// what it saw.
func guideHandler(t *testing.T, saw *map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			AdmissionToken string `json:"admissionToken"`
			ConsumerID     string `json:"consumerId"`
			ExperienceType string `json:"experienceType"`
			DistributionID string `json:"distributionId"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		*saw = map[string]string{
			"token": body.AdmissionToken, "consumer": body.ConsumerID,
			"type": body.ExperienceType, "distribution": body.DistributionID,
		}
		w.WriteHeader(http.StatusOK)
	})
}

func TestRequireAdmissionBodyConfusion(t *testing.T) {
	s := newEmuSetup(t, fanfaretest.Options{})
	var saw map[string]string
	app := s.app(t, guideHandler(t, &saw))

	tests := []struct {
		name        string
		body        string
		contentType string
	}{
		{"consumer key in another case", `{"ConsumerID":"c_victim"}`, "application/json"},
		{"consumer key in another case after the real one", `{"consumerId":"@C@","CONSUMERID":"c_victim"}`, "application/json"},
		{"consumer key with a Kelvin sign", `{"consumerId":"@C@","\u212aonsumerId":"c_victim"}`, "application/json"},
		{"consumer key with a long s", `{"con\u017fumerId":"c_victim"}`, "application/json"},
		{"duplicate consumer key, the real one last", `{"consumerId":"c_victim","consumerId":"@C@"}`, "application/json"},
		// Go handlers decode JSON whatever the Content-Type says.
		{"JSON body sent as text/plain", `{"consumerId":"c_victim"}`, "text/plain"},
		{"JSON body with no Content-Type", `{"consumerId":"c_victim"}`, ""},
		{"JSON body as a form", ` {"consumerId":"c_victim"}`, "application/x-www-form-urlencoded"},
		{"malformed JSON as text/plain", `{"consumerId":"c_victim"`, "text/plain"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			consumer := "c_body_" + string(rune('a'+i))
			tok := s.srv.Admit(admQueue, consumer)
			body := replaceAll(tt.body, "@C@", consumer)
			saw = nil
			req, err := http.NewRequest(http.MethodPost, app.URL+"/checkout", stringsReader(body))
			require.NoError(t, err)
			req.Header.Set("Fanfare-Admission", tok)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			} else {
				req.Header["Content-Type"] = nil
			}
			resp, err := app.Client().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				assert.Equal(t, consumer, saw["consumer"],
					"admitted, but the handler read consumer %q from a token for %q", saw["consumer"], consumer)
				return
			}
			assert.Equal(t, http.StatusForbidden, resp.StatusCode)
			assert.Nil(t, saw, "refused, yet the handler ran")
			assert.False(t, s.srv.Completed(admQueue, consumer), "refused, yet completed")
		})
	}
}

func TestRequireAdmissionBodyDistributionConfusion(t *testing.T) {
	s := newEmuSetup(t, fanfaretest.Options{})
	admDistributionFunc(&s.opts, fanfare.DistributionFromBody)
	var saw map[string]string
	app := s.app(t, guideHandler(t, &saw))

	cheap := fanfare.Queue("q_cheap")
	tests := []struct{ name, body string }{
		{"distribution key in another case", `{"experienceType":"queue","distributionId":"q_cheap","DistributionID":"q_hype"}`},
		{"type key in another case", `{"experienceType":"queue","distributionId":"q_cheap","ExperienceType":"draw"}`},
		{"duplicate distribution key", `{"experienceType":"queue","distributionId":"q_hype","distributionId":"q_cheap"}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			consumer := "c_dist_" + string(rune('a'+i))
			tok := s.srv.Admit(cheap, consumer)
			saw = nil
			res := checkout(t, app, tok, tt.body)
			if res.Status == http.StatusOK {
				assert.Equal(t, "q_cheap", saw["distribution"], "admitted to q_cheap, the handler sells %q", saw["distribution"])
				assert.Equal(t, "queue", saw["type"], "admitted to a queue, the handler sells a %q", saw["type"])
				return
			}
			assert.Equal(t, http.StatusForbidden, res.Status, res.Raw)
			assert.Nil(t, saw, "refused, yet the handler ran")
		})
	}
}

func replaceAll(s, old, new string) string { return strings.ReplaceAll(s, old, new) }

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func TestRequireAdmissionNonJSONBody(t *testing.T) {
	// Bodies that are not JSON objects pass through untouched, whatever
	// their type, and the handler reads them whole.
	s := newEmuSetup(t, fanfaretest.Options{})
	app := s.app(t, admEcho(http.StatusOK))
	for i, body := range []string{"consumerId=c_victim&x=1", "[1,2]", "plain words"} {
		consumer := "c_plain_" + string(rune('a'+i))
		tok := s.srv.Admit(admQueue, consumer)
		req, err := http.NewRequest(http.MethodPost, app.URL+"/checkout", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Fanfare-Admission", tok)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := app.Client().Do(req)
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "body %q", body)
		assert.Equal(t, body, got["body"])
	}
}

// TestRequireAdmissionBodyReading: what a body the middleware reads becomes
// for the handler (always the bytes sent) and why one is refused.
func TestRequireAdmissionBodyReading(t *testing.T) {
	refusals := &admRefusals{}
	s := newLocalSetup(t)
	s.opts.MaxBodyBytes = 256
	s.opts.CompleteManually = true // each admitted case releases the one token
	s.opts.Logger = slog.New(refusals)
	h := s.handler(admEcho(http.StatusOK))

	long := strings.Repeat("x", 300)
	tests := []struct {
		name, body, contentType string
		wantCause               string // "" for admitted, the body passed on as sent
	}{
		{"object", `{"consumerId":"c_me","cart":[1,{"consumerId":"nested"}]}`, "application/json", ""},
		{"object with spaces around", " \n {\"consumerId\" : \"c_me\"} \r\n", "application/json", ""},
		{"empty JSON body", "", "application/json", ""},
		{"white space as JSON", "  \n ", "application/json", ""},
		{"escaped key", `{"consumer\u0049d":"c_me"}`, "application/json", ""},
		{"null consumer", `{"consumerId":null}`, "application/json", ""},
		{"text after spaces, longer than the limit", "  \t" + long, "text/plain", ""},
		{"spaces only, as text", "   ", "text/plain", ""},
		{"an array as text", "[" + long + "]", "text/plain", ""},

		{"two objects", `{}{}`, "application/json", "not a JSON object"},
		{"trailing garbage", `{"consumerId":"c_me"} x`, "application/json", "not a JSON object"},
		{"trailing comma", `{"consumerId":"c_me",}`, "application/json", "not a JSON object"},
		{"an array", `[1]`, "application/json", "not a JSON object"},
		{"a string", `"c_me"`, "application/json", "not a JSON object"},
		{"truncated", `{"consumerId":"c_`, "text/plain", "not a JSON object"},
		{"a key repeated", `{"cart":1,"cart":2}`, "application/json", `repeats the field "cart"`},
		{"a key repeated in another case", `{"cart":1,"CART":2}`, "application/json", `repeats the field "CART"`},
		{"a key repeated with a Kelvin sign", `{"key":1,"\u212aey":2}`, "application/json", "repeats the field"},
		{"a key repeated as text", `{"cart":1,"Cart":2}`, "text/plain", "repeats the field"},
		{"over the limit", `{"pad":"` + long + `"}`, "application/json", "exceeds 256 bytes"},
		{"over the limit as text", `{"pad":"` + long + `"}`, "text/plain", "exceeds 256 bytes"},
		{"spaces over the limit as text", strings.Repeat(" ", 300) + "{}", "text/plain", "exceeds 256 bytes"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refusals.take()
			tok := s.token(t, admQueue, "c_me", nil)
			req := httptest.NewRequest(http.MethodPost, "/checkout", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			req.Header.Set("Fanfare-Admission", tok)
			res := admDo(t, h, req)
			if tc.wantCause == "" {
				require.Equal(t, http.StatusOK, res.Status, "%d: %s", i, res.Raw)
				assert.Equal(t, tc.body, seen(t, res)["body"], "the handler reads the body as sent")
				return
			}
			require.Equal(t, http.StatusForbidden, res.Status, res.Raw)
			assert.Equal(t, "ADMISSION_INVALID", res.Body.Code)
			causes := refusals.take()
			require.Len(t, causes, 1)
			assert.Contains(t, causes[0], tc.wantCause)
		})
	}
}

// TestDistributionFromBodyRefusesRepeats: outside the middleware,
// DistributionFromBody reads the body the same way.
func TestDistributionFromBodyRefusesRepeats(t *testing.T) {
	body := `{"experienceType":"queue","distributionId":"q_1","DistributionId":"q_2"}`
	r := admJSONRequest(body)
	_, err := fanfare.DistributionFromBody(r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "repeats the field")
	assert.True(t, strings.HasPrefix(err.Error(), "fanfare:"), err.Error())
	rest, _ := io.ReadAll(r.Body)
	assert.Equal(t, body, string(rest), "body restored")

	_, err = fanfare.DistributionFromBody(admJSONRequest(`{"queueId":"q_1","QUEUEID":"q_2"}`))
	assert.ErrorContains(t, err, "repeats the field")
}

// FuzzRequestBodyFields holds the middleware's reading of a checkout body
// to the handler's: whenever a request is admitted, the consumer and the
// distribution the handler decodes from the body with encoding/json are the
// ones the middleware checked.
func FuzzRequestBodyFields(f *testing.F) {
	for _, s := range []string{
		`{"consumerId":"c_fuzz","experienceType":"queue","distributionId":"q_drop"}`,
		`{"ConsumerID":"c_fuzz","EXPERIENCETYPE":"queue","distributionid":"q_drop"}`,
		`{"consumerId":"c_fuzz","consumerId":"c_victim","experienceType":"queue","distributionId":"q_drop"}`,
		`{"consumerId":"c_fuzz","CONSUMERID":"c_victim","experienceType":"queue","distributionId":"q_drop"}`,
		`{"con\u017fumerId":"c_victim","experienceType":"queue","distributionId":"q_drop"}`,
		`{"\u212aey":1,"key":2,"experienceType":"queue","distributionId":"q_drop"}`,
		`{"experienceType":"queue","distributionId":"q_drop","cart":[1,{"consumerId":"c_victim"}]}`,
		`{"experienceType":"queue","distributionId":"q_drop","distributionId":"q_hype"}`,
		`{"consumerId":null,"experienceType":"qu\u0065ue","distributionId":"q_drop"}`,
		`{"consumerId":7}`, `{} `, `{}{}`, `[]`, `"s"`,
	} {
		f.Add(s)
	}
	valid := admClaims(admQueue, "c_fuzz", admEpoch, 10*time.Minute)
	token := admSign(f, jwt.SigningMethodHS256, admKeys().hmac, &valid, "")
	v, err := fanfare.NewHMACVerifier(admKeys().hmac)
	require.NoError(f, err)
	var saw map[string]string
	opts := fanfare.AdmissionOptions{
		Verifier: v, DisableRemoteValidation: true,
		Clock:            func() time.Time { return admEpoch },
		Logger:           slog.New(slog.DiscardHandler),
		CompleteManually: true,
	}
	admDistributionFunc(&opts, fanfare.DistributionFromBody)
	h := fanfare.RequireAdmission(nil, opts)(guideHandler(nil, &saw))
	f.Fuzz(func(t *testing.T, body string) {
		saw = nil
		req := httptest.NewRequest(http.MethodPost, "/checkout", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Fanfare-Admission", token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return
		}
		if saw["consumer"] != "" && saw["consumer"] != "c_fuzz" {
			t.Fatalf("admitted c_fuzz, the handler read consumer %q from %q", saw["consumer"], body)
		}
		if saw["type"] != "queue" || saw["distribution"] != admQueue.ID {
			t.Fatalf("admitted to %v, the handler read %s:%s from %q", admQueue, saw["type"], saw["distribution"], body)
		}
	})
}
