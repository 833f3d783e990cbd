package fanfare_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
)

// TestDistributionFromBody reads both of the guide's shapes and refuses
// every body that names no distribution, or more than one.
func TestDistributionFromBody(t *testing.T) {
	tests := []struct {
		name, body string
		want       fanfare.Distribution
		wantErr    error // nil: any error
	}{
		{"checkout shape", `{"experienceType":"auction","distributionId":"a_1","cart":[]}`, fanfare.Auction("a_1"), nil},
		{"checkout shape, other case", `{"ExperienceType":"draw","DISTRIBUTIONID":"d_1"}`, fanfare.Draw("d_1"), nil},
		{"queueId", `{"queueId":"q_1","token":"t"}`, fanfare.Queue("q_1"), nil},
		{"drawId", `{"drawId":"d_1"}`, fanfare.Draw("d_1"), nil},
		{"auctionId beside empty ids", `{"queueId":"","drawId":null,"auctionId":"a_1"}`, fanfare.Auction("a_1"), nil},
		{"empty checkout fields beside an id", `{"experienceType":"","distributionId":null,"queueId":"q_1"}`, fanfare.Queue("q_1"), nil},

		{"both shapes", `{"experienceType":"queue","distributionId":"q_1","drawId":"d_1"}`, fanfare.Distribution{}, fanfare.ErrInvalidRequestBody},
		{"both shapes, agreeing", `{"experienceType":"queue","distributionId":"q_1","queueId":"q_1"}`, fanfare.Distribution{}, fanfare.ErrInvalidRequestBody},
		{"half a checkout shape beside an id", `{"distributionId":"q_1","queueId":"q_1"}`, fanfare.Distribution{}, fanfare.ErrInvalidRequestBody},
		{"two ids", `{"queueId":"q_1","drawId":"d_1"}`, fanfare.Distribution{}, fanfare.ErrInvalidRequestBody},
		{"three ids", `{"queueId":"q","drawId":"d","auctionId":"a"}`, fanfare.Distribution{}, fanfare.ErrInvalidRequestBody},
		{"none", `{"token":"t"}`, fanfare.Distribution{}, fanfare.ErrNoDistribution},
		{"empty object", `{}`, fanfare.Distribution{}, fanfare.ErrNoDistribution},
		{"no body", ``, fanfare.Distribution{}, fanfare.ErrNoDistribution},
		{"type without id", `{"experienceType":"queue"}`, fanfare.Distribution{}, nil},
		{"id without type", `{"distributionId":"q_1"}`, fanfare.Distribution{}, nil},
		{"unknown type", `{"experienceType":"raffle","distributionId":"r_1"}`, fanfare.Distribution{}, nil},
		{"type in another case", `{"experienceType":"Queue","distributionId":"q_1"}`, fanfare.Distribution{}, nil},
		{"repeated id", `{"queueId":"q_1","QUEUEID":"q_2"}`, fanfare.Distribution{}, nil},
		{"id not a string", `{"queueId":1}`, fanfare.Distribution{}, nil},
		{"not an object", `["q_1"]`, fanfare.Distribution{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := admJSONRequest(tt.body)
			d, err := fanfare.DistributionFromBody(r)
			rest, _ := io.ReadAll(r.Body)
			assert.Equal(t, tt.body, string(rest), "the body is put back")
			if tt.want != (fanfare.Distribution{}) {
				require.NoError(t, err)
				assert.Equal(t, tt.want, d)
				return
			}
			require.Error(t, err)
			assert.Equal(t, fanfare.Distribution{}, d)
			assert.True(t, strings.HasPrefix(err.Error(), "fanfare: "), err.Error())
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
	t.Run("no body at all", func(t *testing.T) {
		_, err := fanfare.DistributionFromBody(httptest.NewRequest(http.MethodPost, "/", nil))
		assert.ErrorIs(t, err, fanfare.ErrNoDistribution)
		assert.ErrorIs(t, err, fanfare.ErrInvalidRequestBody, "the exported sentinel a user matches")
	})
}

// FuzzDistributionFromBody feeds arbitrary request bodies to
// DistributionFromBody: it never panics, puts the body back byte for byte,
// and names a distribution only when encoding/json reads the same fields
// the same way and they name exactly one distribution in exactly one of the
// guide's two shapes.
func FuzzDistributionFromBody(f *testing.F) {
	for _, s := range []string{
		`{"experienceType":"queue","distributionId":"q_1"}`,
		`{"experienceType":"DRAW","distributionId":"d_1","admissionToken":"x"}`,
		`{"queueId":"q_1","consumerId":"c"}`,
		`{"queueId":"q_1","drawId":"d_1"}`,
		`{"queueId":"q_1","QUEUEID":"q_2"}`,
		`{"experienceType":"queue","distributionId":"q_1","queueId":"q_1"}`,
		`{"experienceType":"","distributionId":null,"auctionId":"a_1"}`,
		`{"experienceType":"queue","distributionId":"q\u0000"}`,
		`{"distributionId":{"nested":true}}`,
		`[]`, `null`, ``, `{`, `{"queueId":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/checkout", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		d, err := fanfare.DistributionFromBody(r)
		rest, _ := io.ReadAll(r.Body)
		if !bytes.Equal(rest, body) && len(body) <= 1<<20 {
			t.Fatalf("the body was not put back: %q, was %q", rest, body)
		}
		if err != nil {
			return
		}
		var ref struct{ ExperienceType, DistributionID, QueueID, DrawID, AuctionID string }
		if json.Unmarshal(body, &ref) != nil {
			t.Fatalf("named %v from %q, which encoding/json refuses", d, body)
		}
		var named []fanfare.Distribution
		if ref.ExperienceType != "" || ref.DistributionID != "" {
			named = append(named, fanfare.Distribution{Type: fanfare.DistributionType(ref.ExperienceType), ID: ref.DistributionID})
		}
		for _, n := range []fanfare.Distribution{fanfare.Queue(ref.QueueID), fanfare.Draw(ref.DrawID), fanfare.Auction(ref.AuctionID)} {
			if n.ID != "" {
				named = append(named, n)
			}
		}
		if len(named) != 1 || named[0] != d || d.Validate() != nil {
			t.Fatalf("named %v from %q, which encoding/json reads as %v", d, body, named)
		}
	})
}
