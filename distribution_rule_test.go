package fanfare_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	fanfare "github.com/waitify-io/fanfare-go"
)

// FuzzDistributionFromBody feeds arbitrary request bodies to the helpers
// that read the distribution from the request: they never panic, put the
// body back byte for byte, and name a distribution only when
// encoding/json reads the same fields the same way.
func FuzzDistributionFromBody(f *testing.F) {
	for _, s := range []string{
		`{"experienceType":"queue","distributionId":"q_1"}`,
		`{"experienceType":"DRAW","distributionId":"d_1","admissionToken":"x"}`,
		`{"queueId":"q_1","consumerId":"c"}`,
		`{"queueId":"q_1","drawId":"d_1"}`,
		`{"queueId":"q_1","QUEUEID":"q_2"}`,
		`{"experienceType":"queue","distributionId":"q\u0000"}`,
		`{"distributionId":{"nested":true}}`,
		`[]`, `null`, ``, `{`, `{"queueId":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(name string, rule func(*http.Request) (fanfare.Distribution, error), ref func(d fanfare.Distribution) bool) {
			r := httptest.NewRequest(http.MethodPost, "/checkout", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			d, err := rule(r)
			rest, _ := io.ReadAll(r.Body)
			if !bytes.Equal(rest, body) && len(body) <= 1<<20 {
				t.Fatalf("%s: the body was not put back: %q, was %q", name, rest, body)
			}
			if err != nil {
				return
			}
			if d.ID == "" || !ref(d) {
				t.Fatalf("%s: named %v from %q, which encoding/json reads otherwise", name, d, body)
			}
		}
		check("DistributionFromCheckoutBody", fanfare.DistributionFromCheckoutBody, func(d fanfare.Distribution) bool {
			var ref struct{ ExperienceType, DistributionID string }
			if json.Unmarshal(body, &ref) != nil {
				return false
			}
			return fanfare.Distribution{Type: fanfare.DistributionType(ref.ExperienceType), ID: ref.DistributionID} == d
		})
		check("DistributionFromValidateBody", fanfare.DistributionFromValidateBody, func(d fanfare.Distribution) bool {
			var ref struct{ QueueID, DrawID, AuctionID string }
			if json.Unmarshal(body, &ref) != nil {
				return false
			}
			found := map[fanfare.DistributionType]string{}
			for typ, id := range map[fanfare.DistributionType]string{fanfare.TypeQueue: ref.QueueID, fanfare.TypeDraw: ref.DrawID, fanfare.TypeAuction: ref.AuctionID} {
				if id != "" {
					found[typ] = id
				}
			}
			return len(found) == 1 && found[d.Type] == d.ID
		})
	})
}
