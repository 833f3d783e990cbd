package wire

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// jsonNames lists the JSON names encoding/json decodes into t's fields,
// through embedded structs.
func jsonNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && tag == "" {
			names = append(names, jsonNames(f.Type)...)
			continue
		}
		names = append(names, tag)
	}
	slices.Sort(names)
	return names
}

// TestAdmissionClaimCountsCoverAdmissionClaims: a counter for every member
// of AdmissionClaims and for nothing else, so a claim added there is
// counted too.
func TestAdmissionClaimCountsCoverAdmissionClaims(t *testing.T) {
	got := jsonNames(reflect.TypeFor[AdmissionClaimCounts]())
	want := jsonNames(reflect.TypeFor[AdmissionClaims]())
	if !slices.Equal(got, want) {
		t.Fatalf("AdmissionClaimCounts counts %v, AdmissionClaims decodes %v", got, want)
	}
}

func TestAdmissionClaimCounts(t *testing.T) {
	for payload, want := range map[string]string{
		`{"consumerId":"a","exp":1,"pad":1,"pad":2,"x":{"consumerId":1}}`: "",
		`{"consumerId":"a","consumerId":"b"}`:                             "consumerId",
		`{"consumerId":"a","CONSUMERID":null}`:                            "consumerId",
		`{"con\u017fumerId":"a","consumerId":"b"}`:                        "consumerId",
		`{"jti":"a","JTI":"b"}`:                                           "jti",
		`{"aud":["a"],"Aud":"b"}`:                                         "aud",
	} {
		var c AdmissionClaimCounts
		if err := json.Unmarshal([]byte(payload), &c); err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		if got := c.Repeated(); got != want {
			t.Errorf("%s: Repeated() = %q, want %q", payload, got, want)
		}
	}
}
