package fanfare

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitify-io/fanfare-go/internal/wire"
)

// fanfarePayload is an admission payload as Fanfare (and the emulator)
// writes it.
func fanfarePayload(t testing.TB) []byte {
	pos := 12
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	b, err := json.Marshal(wire.AdmissionClaims{
		ConsumerID: "c_123", DistributionID: "q_drop", DistributionType: "queue", Position: &pos,
		AdmittedAt: now.Format(time.RFC3339), ExpiresAt: now.Add(10 * time.Minute).Format(time.RFC3339),
		Fingerprint: "fp_1",
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)), ID: "adm_1",
		},
	})
	require.NoError(t, err)
	return b
}

func TestClaimsDecodingTakesTheFlatPath(t *testing.T) {
	var c tokenClaims
	require.True(t, c.decodeFlat(string(fanfarePayload(t))), "Fanfare's own payload must not need encoding/json")
	assert.Equal(t, "c_123", c.ConsumerID)
	require.NotNil(t, c.Position)
	assert.Equal(t, 12, *c.Position)
	assert.Equal(t, time.Date(2026, 3, 14, 12, 10, 0, 0, time.UTC).Unix(), c.RegisteredClaims.ExpiresAt.Unix())
}

func TestClaimsDecodingAgreesWithEncodingJSON(t *testing.T) {
	for name, in := range claimsSeeds(t) {
		t.Run(name, func(t *testing.T) { checkClaimsDecoding(t, []byte(in)) })
	}
}

func claimsSeeds(t testing.TB) map[string]string {
	return map[string]string{
		"fanfare":          string(fanfarePayload(t)),
		"empty":            `{}`,
		"spaces":           " {\n\t\"consumerId\" : \"c\" ,\r\n \"exp\" : 17 } ",
		"escapes":          `{"consumerId":"c\u0041\"","distributionId":"q\\1"}`,
		"case variant":     `{"ConsumerID":"c_x","consumerId":"c_y"}`,
		"fold variant":     `{"conſumerId":"c_x"}`,
		"audience":         `{"aud":["a","b"],"consumerId":"c"}`,
		"audience string":  `{"aud":"a"}`,
		"float exp":        `{"exp":1.5e9}`,
		"string exp":       `{"exp":"17"}`,
		"huge exp":         `{"exp":1e400}`,
		"16-digit exp":     `{"exp":1234567890123456}`,
		"negative exp":     `{"exp":-5,"nbf":-0}`,
		"nulls":            `{"consumerId":null,"position":null,"exp":null,"nbf":null}`,
		"duplicates":       `{"position":1,"position":2,"consumerId":"a","consumerId":"b"}`,
		"nested unknown":   `{"x":{"y":[1,{"z":"}"}],"w":"\"]"},"consumerId":"c"}`,
		"unknown scalars":  `{"a":1,"b":true,"c":null,"d":"s","e":-1.5e-3,"consumerId":"c"}`,
		"wrong types":      `{"consumerId":5}`,
		"position float":   `{"position":7.0}`,
		"position string":  `{"position":"7"}`,
		"leading zero":     `{"position":07}`,
		"not an object":    `[1]`,
		"invalid utf-8":    "{\"consumerId\":\"\xff\"}",
		"control in value": "{\"consumerId\":\"a\x01\"}",
		"truncated":        `{"consumerId":"c"`,
		"trailing":         `{"consumerId":"c"} x`,
		"null payload":     `null`,
	}
}

// checkClaimsDecoding decodes in with tokenClaims and with plain
// encoding/json; both must agree on success and on every field.
func checkClaimsDecoding(t *testing.T, in []byte) {
	t.Helper()
	var want wire.AdmissionClaims
	errWant := json.Unmarshal(in, &want)
	var got tokenClaims
	errGot := json.Unmarshal(in, &got)
	if (errWant == nil) != (errGot == nil) {
		t.Fatalf("decoding %q: got error %v, want error %v", in, errGot, errWant)
	}
	if errWant == nil && !reflect.DeepEqual(want, got.AdmissionClaims) {
		t.Fatalf("decoding %q:\n got %+v\nwant %+v", in, got.AdmissionClaims, want)
	}
}

// FuzzClaimsDecoding holds the hand-written decoder to encoding/json's
// answers, so the fast path can never read a token differently.
func FuzzClaimsDecoding(f *testing.F) {
	for _, s := range claimsSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(checkClaimsDecoding)
}
