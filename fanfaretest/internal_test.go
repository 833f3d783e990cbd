package fanfaretest

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateCallsAreBounded(t *testing.T) {
	var s Server
	const n = 2*maxValidateCalls + 50
	for i := range n {
		s.recorder.addValidate(ValidateCall{Token: strconv.Itoa(i)})
		if i == maxValidateCalls-1 {
			require.Len(t, s.ValidateCalls(), maxValidateCalls)
		}
	}
	calls := s.ValidateCalls()
	require.Len(t, calls, maxValidateCalls)
	assert.Equal(t, strconv.Itoa(n-maxValidateCalls), calls[0].Token, "the oldest calls are dropped")
	assert.Equal(t, strconv.Itoa(n-1), calls[len(calls)-1].Token)
	assert.LessOrEqual(t, len(s.recorder.validates), 2*maxValidateCalls, "memory stays bounded")
}

func TestStatusCode(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   string
	}{
		{500, "internal_server_error"},
		{503, "service_unavailable"},
		{429, "too_many_requests"},
		{401, "unauthorized"},
		{404, "not_found"},
		{599, "status_599"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, statusCode(tt.status))
		})
	}
}
