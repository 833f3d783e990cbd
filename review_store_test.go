package fanfare_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
)

// TestRequireAdmissionUsedMarkOutlivesToken: with local verification only,
// the used mark is all that stops a replay, so it must last as long as the
// token is accepted — to the instant, leeway included.
func TestRequireAdmissionUsedMarkOutlivesToken(t *testing.T) {
	v, err := fanfare.NewHMACVerifier(admKeys().hmac)
	require.NoError(t, err)
	for _, leeway := range []time.Duration{time.Second, 5 * time.Second, time.Minute} {
		t.Run(leeway.String(), func(t *testing.T) {
			clock := newAdmClock(admEpoch)
			h := fanfare.RequireAdmission(nil, fanfare.AdmissionOptions{
				Distribution:            admQueue,
				Verifier:                v,
				DisableRemoteValidation: true,
				Leeway:                  leeway,
				HoldTTL:                 time.Second,
				Clock:                   clock.Now,
			})(admEcho(http.StatusOK))
			tok := admSign(t, jwt.SigningMethodHS256, admKeys().hmac, admClaims(admQueue, "c_replay", admEpoch, 10*time.Minute), "")

			res := admDo(t, h, admRequest(tok))
			require.Equal(t, http.StatusOK, res.Status, res.Raw)

			// The last instant the token is still accepted.
			clock.Set(admEpoch.Add(10*time.Minute + leeway))
			res = admDo(t, h, admRequest(tok))
			assert.Equal(t, http.StatusConflict, res.Status, "replay at the token's last instant: %s", res.Raw)

			clock.Advance(time.Nanosecond)
			res = admDo(t, h, admRequest(tok))
			assert.Equal(t, http.StatusForbidden, res.Status, "replay once expired: %s", res.Raw)
		})
	}
}
