package fanfare

import (
	"errors"
	"fmt"
	"net/http"
)

// A DistributionRule says which distributions a route sells, for
// AdmissionOptions.Distribution: one [Distribution] (fanfare.Queue("q_1")),
// a set ([AnyOf]), or the one the request names ([DistributionFunc], such as
// [DistributionFromPath]). A token for any other distribution is refused
// with 403 ADMISSION_MISMATCH.
type DistributionRule interface {
	distributionRule()
}

func (Distribution) distributionRule() {}

// DistributionFunc names the distribution a request buys from, e.g. from its
// path or body. An error refuses the request with 403 ADMISSION_INVALID (503
// if it matches [ErrUnavailable]).
//
// A distribution read from the request only ties the token to what the
// request says: if the route must sell only some distributions, check that
// in the func.
type DistributionFunc func(r *http.Request) (Distribution, error)

func (DistributionFunc) distributionRule() {}

type distributionSet map[Distribution]struct{}

func (distributionSet) distributionRule() {}

// AnyOf is the rule of a route that sells any of ds. It panics, with a
// message starting "fanfare: ", when ds is empty or holds an invalid
// distribution: both are programming errors.
func AnyOf(ds ...Distribution) DistributionRule {
	if len(ds) == 0 {
		panic("fanfare: AnyOf: no distribution")
	}
	set := make(distributionSet, len(ds))
	for _, d := range ds {
		if err := d.Validate(); err != nil {
			panic("fanfare: AnyOf: " + err.Error())
		}
		set[d] = struct{}{}
	}
	return set
}

// DistributionFromPath names the distribution of type t from the path
// wildcard name (r.PathValue), e.g. DistributionFromPath(fanfare.TypeQueue,
// "queue") for the [http.ServeMux] pattern "POST /queues/{queue}/checkout".
// chi routes and the gin and echo adapters set path values too, so it works
// there as well. It panics if t is not a known type or name is empty.
func DistributionFromPath(t DistributionType, name string) DistributionFunc {
	if t.pathSegment() == "" || name == "" {
		panic("fanfare: DistributionFromPath: unknown type or empty wildcard name")
	}
	return func(r *http.Request) (Distribution, error) {
		id := r.PathValue(name)
		if id == "" {
			return Distribution{}, fmt.Errorf("fanfare: the request path has no %q value", name)
		}
		return Distribution{Type: t, ID: id}, nil
	}
}

// DistributionFromCheckoutBody names the distribution from the JSON body
// fields experienceType ("queue", "draw" or "auction") and distributionId,
// as in the guide's CheckoutRequest:
//
//	Distribution: fanfare.DistributionFunc(fanfare.DistributionFromCheckoutBody)
func DistributionFromCheckoutBody(r *http.Request) (Distribution, error) {
	body, err := bodyOf(r)
	if err != nil {
		return Distribution{}, fmt.Errorf("fanfare: %w", err)
	}
	typ, err1 := body.str("experienceType")
	id, err2 := body.str("distributionId")
	if err := errors.Join(err1, err2); err != nil {
		return Distribution{}, fmt.Errorf("fanfare: %w", err)
	}
	if typ == "" || id == "" {
		return Distribution{}, errors.New("fanfare: the request body names no experienceType and distributionId")
	}
	t, err := parseDistributionType(typ)
	if err != nil {
		return Distribution{}, err
	}
	return Distribution{Type: t, ID: id}, nil
}

// DistributionFromValidateBody names the distribution from the JSON body
// field queueId, drawId or auctionId (exactly one), as in the guide's
// validation request and [NewValidateAdmissionHandler]:
//
//	Distribution: fanfare.DistributionFunc(fanfare.DistributionFromValidateBody)
func DistributionFromValidateBody(r *http.Request) (Distribution, error) {
	body, err := bodyOf(r)
	if err != nil {
		return Distribution{}, fmt.Errorf("fanfare: %w", err)
	}
	var found []Distribution
	for _, f := range [...]struct {
		field string
		typ   DistributionType
	}{{"queueId", TypeQueue}, {"drawId", TypeDraw}, {"auctionId", TypeAuction}} {
		id, err := body.str(f.field)
		if err != nil {
			return Distribution{}, fmt.Errorf("fanfare: %w", err)
		}
		if id != "" {
			found = append(found, Distribution{Type: f.typ, ID: id})
		}
	}
	switch len(found) {
	case 0:
		return Distribution{}, ErrNoDistribution
	case 1:
		return found[0], nil
	}
	return Distribution{}, errMultipleDistributions
}
