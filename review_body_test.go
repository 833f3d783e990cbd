package fanfare_test

// Attacks on what RequireAdmission reads from a checkout request versus what
// the handler behind it reads: the same body must mean the same thing to
// both, or the middleware's consumer and distribution checks guard a body the
// handler never sees.

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

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
	s.opts.Distribution = nil
	s.opts.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromCheckoutBody)
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
