package fanfare

import (
	"errors"
	"fmt"
	"net/url"
)

// DistributionType is the kind of Fanfare experience that admits consumers:
// a queue, a draw or an auction.
type DistributionType string

// The three distribution types of the Fanfare API. Their values are the
// strings Fanfare writes in the admission token's distributionType claim.
const (
	TypeQueue   DistributionType = "queue"
	TypeDraw    DistributionType = "draw"
	TypeAuction DistributionType = "auction"
)

func (t DistributionType) known() bool { return t == TypeQueue || t == TypeDraw || t == TypeAuction }

// Distribution names one Fanfare experience: its type and its id.
// Build one with [Queue], [Draw] or [Auction].
type Distribution struct {
	Type DistributionType
	ID   string
}

// Queue returns the queue distribution with the given id.
func Queue(id string) Distribution { return Distribution{Type: TypeQueue, ID: id} }

// Draw returns the draw distribution with the given id.
func Draw(id string) Distribution { return Distribution{Type: TypeDraw, ID: id} }

// Auction returns the auction distribution with the given id.
func Auction(id string) Distribution { return Distribution{Type: TypeAuction, ID: id} }

// String returns "type:id", for logs.
func (d Distribution) String() string { return string(d.Type) + ":" + d.ID }

// ErrInvalidDistribution reports a distribution with an unknown type or an
// empty id. It is returned before any network call.
var ErrInvalidDistribution = errors.New("fanfare: invalid distribution")

// Validate reports whether d has a known type and a non-empty id.
func (d Distribution) Validate() error {
	if !d.Type.known() {
		return fmt.Errorf("%w: unknown type %q (want queue, draw or auction)", ErrInvalidDistribution, truncate(string(d.Type), 32))
	}
	if d.ID == "" || d.ID == "." || d.ID == ".." {
		// "." and ".." survive path escaping as segments a proxy may resolve.
		return fmt.Errorf("%w: %s id %q", ErrInvalidDistribution, d.Type, d.ID)
	}
	return nil
}

// path returns the escaped API path of the distribution followed by op,
// e.g. "/queues/q_1/validate": the API names collections in the plural.
func (d Distribution) path(op string) string {
	return "/" + string(d.Type) + "s/" + url.PathEscape(d.ID) + "/" + op
}

// truncate shortens untrusted input quoted in error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
