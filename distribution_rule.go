package fanfare

import (
	"errors"
	"fmt"
	"net/http"
)

// A DistributionRule says which distributions a route sells, for
// AdmissionOptions.Distribution: one [Distribution] (fanfare.Queue("q_1")),
// a set ([AnyOf]), or the one the request names ([DistributionFunc], such as
// [DistributionFromPath]).
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
// distribution.
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
// "queue") for the [http.ServeMux] pattern "POST /queues/{queue}/checkout";
// chi and the gin and echo adapters set path values too. It panics if t is
// not a known type or name is empty.
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
// in either of the guide's two shapes: experienceType and distributionId,
// or exactly one of queueId, drawId and auctionId. Fields match in any case,
// as encoding/json matches struct fields; empty or null counts as absent. A
// body that carries both shapes, names more than one distribution, repeats
// a field in any case, or gives a field that is not a string is refused.
// Outside [RequireAdmission] it reads up to 1 MiB and puts the body back.
//
//	Distribution: fanfare.DistributionFunc(fanfare.DistributionFromBody)
func DistributionFromBody(r *http.Request) (Distribution, error) {
	body, err := bodyOf(r)
	if err != nil {
		return Distribution{}, fmt.Errorf("fanfare: %w", err)
	}
	var f [5]string
	for i, name := range [...]string{"experienceType", "distributionId", "queueId", "drawId", "auctionId"} {
		if f[i], err = body.str(name); err != nil {
			return Distribution{}, err
		}
	}
	typ, id := f[0], f[1]
	d, n := namedDistribution(f[2], f[3], f[4])
	checkoutShape := typ != "" || id != ""
	switch {
	case checkoutShape && n > 0:
		err = fmt.Errorf("%w: experienceType or distributionId beside queueId, drawId or auctionId", ErrInvalidRequestBody)
	case n > 1:
		err = errMultipleDistributions
	case n == 1:
	case !checkoutShape:
		err = fmt.Errorf("%w, or experienceType and distributionId", errNoDistribution)
	case typ == "" || id == "":
		err = errors.New("fanfare: the request body needs both experienceType and distributionId")
	default:
		d = Distribution{Type: DistributionType(typ), ID: id}
	}
	if err == nil {
		err = d.Validate()
	}
	if err != nil {
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
