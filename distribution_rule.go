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
	if !t.known() || name == "" {
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

// DistributionFromBody names the distribution from the request's JSON body,
// in either of the vendor guide's two shapes: experienceType ("queue",
// "draw" or "auction") and distributionId, as in its CheckoutRequest, or
// exactly one of queueId, drawId and auctionId, as in its validation
// request. Fields match as encoding/json matches struct fields, in any
// case; an empty or null field counts as absent. A body that carries both
// shapes, names more than one distribution, repeats a field in any case, or
// gives a field that is not a string is refused. Inside [RequireAdmission]
// it reads the body the middleware already read; outside, it reads up to
// 1 MiB and puts the body back.
//
//	Distribution: fanfare.DistributionFunc(fanfare.DistributionFromBody)
func DistributionFromBody(r *http.Request) (Distribution, error) {
	body, err := bodyOf(r)
	if err != nil {
		return Distribution{}, fmt.Errorf("fanfare: %w", err)
	}
	var str [5]string
	for i, name := range [...]string{"experienceType", "distributionId", "queueId", "drawId", "auctionId"} {
		if str[i], err = body.str(name); err != nil {
			return Distribution{}, err
		}
	}
	typ, id := str[0], str[1]
	d, n := namedDistribution(str[2], str[3], str[4])
	checkoutShape := typ != "" || id != ""
	switch {
	case checkoutShape && n > 0:
		return Distribution{}, errBothBodyShapes
	case n > 1:
		return Distribution{}, errMultipleDistributions
	case n == 1:
		return validated(d)
	case !checkoutShape:
		return Distribution{}, errNoBodyDistribution
	case typ == "" || id == "":
		return Distribution{}, errors.New("fanfare: the request body needs both experienceType and distributionId")
	}
	t, err := parseDistributionType(typ)
	if err != nil {
		return Distribution{}, err
	}
	return validated(Distribution{Type: t, ID: id})
}

// validated returns d, or the error of an id Fanfare cannot be asked about.
func validated(d Distribution) (Distribution, error) {
	if err := d.Validate(); err != nil {
		return Distribution{}, err
	}
	return d, nil
}

// namedDistribution returns the distribution the non-empty one of a body's
// queueId, drawId and auctionId names, and how many of them are non-empty.
func namedDistribution(queueID, drawID, auctionID string) (d Distribution, n int) {
	for _, c := range [...]Distribution{Queue(queueID), Draw(drawID), Auction(auctionID)} {
		if c.ID != "" {
			d, n = c, n+1
		}
	}
	return d, n
}

var (
	errBothBodyShapes     = fmt.Errorf("%w: experienceType or distributionId beside queueId, drawId or auctionId", ErrInvalidRequestBody)
	errNoBodyDistribution = fmt.Errorf("%w, or experienceType and distributionId", ErrNoDistribution)
)
