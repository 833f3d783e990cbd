package fanfare

import (
	"encoding/json"
	"testing"
)

// FuzzRequestBodyFields holds the middleware's reading of a checkout body to
// the handler's: whenever decodeObject accepts a body, each field it checks
// has the value encoding/json gives a struct field tagged with its name.
func FuzzRequestBodyFields(f *testing.F) {
	for _, s := range []string{
		`{"consumerId":"c_1","admissionToken":"t"}`,
		`{"ConsumerID":"c_2"}`,
		`{"consumerId":"a","consumerId":"b"}`,
		`{"consumerId":"a","CONSUMERID":"b"}`,
		`{"con\u017fumerId":"x"}`,
		`{"\u212aey":1,"key":2}`,
		`{"distributionId":"q","experienceType":"queue","cart":[1,{"consumerId":"n"}]}`,
		`{"consumerId":null}`, `{"consumerId":7}`, `{} `, `{}{}`, `[]`, `"s"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		body, err := decodeObject(raw)
		if err != nil {
			return
		}
		var std map[string]json.RawMessage
		if err := json.Unmarshal(raw, &std); err != nil {
			t.Fatalf("decodeObject accepted %q, json.Unmarshal refuses it: %v", raw, err)
		}
		var handler struct {
			ConsumerID     string `json:"consumerId"`
			AdmissionToken string `json:"admissionToken"`
			DistributionID string `json:"distributionId"`
			Key            string `json:"key"`
		}
		if json.Unmarshal(raw, &handler) != nil {
			return // the handler refuses the body too
		}
		for name, want := range map[string]string{
			"consumerId": handler.ConsumerID, "admissionToken": handler.AdmissionToken,
			"distributionId": handler.DistributionID, "key": handler.Key,
		} {
			got, err := body.str(name)
			if err == nil && got != want {
				t.Fatalf("body %q field %q: middleware reads %q, handler reads %q", raw, name, got, want)
			}
		}
	})
}
