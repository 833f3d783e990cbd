package fanfare

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDistribution(t *testing.T) {
	assert.Equal(t, "/queues/q_1/validate", Queue("q_1").path("validate"))
	assert.Equal(t, "/draws/a%2Fb/complete", Draw("a/b").path("complete"))
	assert.Equal(t, "/auctions/..%3F/validate", Auction("..?").path("validate"))
	assert.Equal(t, "queue:q_1", Queue("q_1").String())
	assert.NoError(t, Auction("x").Validate())
	assert.ErrorIs(t, Queue("").Validate(), ErrInvalidDistribution)
	assert.ErrorIs(t, Queue(".").Validate(), ErrInvalidDistribution, "a dot segment a proxy may resolve")
	assert.ErrorIs(t, Draw("..").Validate(), ErrInvalidDistribution, "a dot segment a proxy may resolve")
	assert.NoError(t, Queue("...").Validate())
	assert.ErrorIs(t, Distribution{Type: "raffle", ID: "x"}.Validate(), ErrInvalidDistribution)
	assert.ErrorIs(t, Distribution{Type: "Queue", ID: "x"}.Validate(), ErrInvalidDistribution)
	for _, s := range []DistributionType{"queue", "draw", "auction"} {
		assert.NoError(t, Distribution{Type: s, ID: "x"}.Validate())
	}
}
