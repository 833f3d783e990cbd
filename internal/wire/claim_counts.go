package wire

import (
	"errors"
	"reflect"
	"strconv"
)

// AdmissionClaimCounts has one counter for each JSON member of
// AdmissionClaims, under the same name. Decoding a payload into it with
// encoding/json counts the members that decoding it into AdmissionClaims
// would store in each field: encoding/json matches names to fields
// case-insensitively and keeps the last of several matches, so a count above
// one is a payload that says two things ("consumerId" twice, or beside
// "ConsumerID").
type AdmissionClaimCounts struct {
	ConsumerID       Count     `json:"consumerId"`
	DistributionID   Count     `json:"distributionId"`
	DistributionType Count     `json:"distributionType"`
	Position         Count     `json:"position"`
	AdmittedAt       Count     `json:"admittedAt"`
	ExpiresAt        Count     `json:"expiresAt"`
	Fingerprint      Count     `json:"fingerprint"`
	Issuer           Count     `json:"iss"`
	Subject          Count     `json:"sub"`
	Audience         Count     `json:"aud"`
	Expiry           DateCount `json:"exp"`
	NotBefore        DateCount `json:"nbf"`
	IssuedAt         DateCount `json:"iat"`
	ID               Count     `json:"jti"`
}

// Repeated returns the JSON name of a claim counted more than once, or "".
func (c *AdmissionClaimCounts) Repeated() string { return repeated(reflect.ValueOf(c).Elem()) }

// HeaderCounts counts, like AdmissionClaimCounts, the JOSE header members
// (RFC 7515 §4.1) a reader of a token acts on: a header repeating one says
// two things, and golang-jwt keeps the last where another reader may keep
// the first.
type HeaderCounts struct {
	Alg     Count `json:"alg"`
	Kid     Count `json:"kid"`
	Typ     Count `json:"typ"`
	Cty     Count `json:"cty"`
	Crit    Count `json:"crit"`
	Jku     Count `json:"jku"`
	Jwk     Count `json:"jwk"`
	X5u     Count `json:"x5u"`
	X5c     Count `json:"x5c"`
	X5t     Count `json:"x5t"`
	X5tS256 Count `json:"x5t#S256"`
}

// Repeated returns the JSON name of a header member counted more than once,
// or "".
func (c *HeaderCounts) Repeated() string { return repeated(reflect.ValueOf(c).Elem()) }

func repeated(v reflect.Value) string {
	for i := range v.NumField() {
		if v.Field(i).Int() > 1 {
			return v.Type().Field(i).Tag.Get("json")
		}
	}
	return ""
}

// Count counts the JSON values decoded into it, null included.
type Count int

// UnmarshalJSON counts one value.
func (c *Count) UnmarshalJSON([]byte) error {
	*c++
	return nil
}

// DateCount counts the values of a NumericDate claim (RFC 7519 §2: a JSON
// number of seconds) and refuses what golang-jwt would misread: a string
// ("exp":"1700000000", which it reads as the number), and a number out of
// the range of time (1e300, which it turns into a date in the distant past).
type DateCount int

// maxNumericDate is the year 10000 in Unix seconds: later dates are absurd,
// and far larger ones overflow time.Time.
const maxNumericDate = 253402300800

// UnmarshalJSON counts one value, and refuses a string or an absurd number.
func (c *DateCount) UnmarshalJSON(b []byte) error {
	*c++
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		return errors.New("a NumericDate claim (exp, nbf, iat) is a string, not a number")
	}
	if f, err := strconv.ParseFloat(string(b), 64); err != nil || f < -maxNumericDate || f > maxNumericDate {
		return errors.New("a NumericDate claim (exp, nbf, iat) is out of the range of time")
	}
	return nil
}
