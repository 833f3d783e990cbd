package fanfare

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"strconv"

	"github.com/waitify-io/fanfare-go/internal/claimkey"
)

const (
	defaultClaimsMaxBytes = 10000 // the vendor guide's limit
	maxClaimsDepth        = 32    // catches cycles too
	claimsReadFactor      = 16    // the walk reads at most 16×MaxBytes (claimsWalk)
)

var (
	// ErrClaimsTooLarge: the JSON encoding of the sanitized claims exceeds
	// ClaimsPolicy.MaxBytes. Answered 413 {"error":"Claims too large"}.
	ErrClaimsTooLarge = errors.New("fanfare: claims too large")
	// ErrInvalidClaims: the claims hold a value JSON cannot encode (a
	// channel, a func, NaN or ±Inf, a cycle, nesting deeper than 32
	// levels), or AuthorizeRequest.Claims is not a JSON object. It is a
	// bug in the application: answered 500.
	ErrInvalidClaims = errors.New("fanfare: claims cannot be encoded as JSON")
)

// ClaimsPolicy says which claims may be sent to Fanfare. Its zero value
// applies the vendor guide's size limit and deny list, at any depth (inside
// objects and arrays) and in any spelling. A policy always drops:
//
//   - keys whose letters contain password, passwd, passphrase, passcode,
//     creditcard, debitcard, cardnum, cardverification, cardsecurity,
//     securitycode or socialsecurity, or that have a word (or run of words)
//     ssn, pwd, pin, cvv, cvc, cvn, ccv, cardno, ccnum, ccnumber or ccno, or
//     its plural. Words break at separators, case changes and letter/digit
//     boundaries: "pin" drops "pinCode" and "user_pin", not "shipping" nor an
//     all-lowercase "userpin" (list such keys in Deny);
//   - keys spelled to hide one of these (look-alike letters from another
//     script as in "pаssword" with a Cyrillic а, invisible characters,
//     fullwidth or accented forms, other case forms), and keys that cannot be
//     read for sure: not UTF-8, Latin letters mixed with Cyrillic, Greek,
//     Armenian or Cherokee ones, or a Latin letter with no ASCII reading;
//   - under any key, strings that are a payment card number (13 to 19
//     digits, spaces or dashes allowed, Luhn-valid) or a US social security
//     number (NNN-NN-NNNN), fullwidth digits and invisible characters
//     included, and integers (integral floats and json.Number too) of 13 to
//     19 digits that start with 2 to 6 (not 1: Unix millisecond timestamps)
//     and pass the Luhn check.
//
// A dropped array element shortens the array. Values of other Go types
// (structs, typed maps, time.Time) are checked in their JSON form.
type ClaimsPolicy struct {
	// MaxBytes is the largest size of the sanitized claims, in bytes of the
	// JSON sent to Fanfare; one byte more fails with ErrClaimsTooLarge.
	// Claims that take more than 16×MaxBytes to read (a byte per byte of
	// keys and kept strings and numbers, one per value, what is dropped
	// included, a shared map or slice each time it is met) fail the same
	// way. Default (zero or negative): 10 000, the vendor guide's limit.
	MaxBytes int
	// Deny lists more keys to drop, at any depth, matched as whole words
	// like "pin": "birthDate" drops "birth_date" and "birthDateVerified",
	// not "birthdateverified". An entry with no ASCII letters or digits (in
	// Han, say) matches nothing: use Allow to keep such keys out. Default:
	// none.
	Deny []string
	// Allow, when not empty, keeps only the top-level keys that read as an
	// entry; it never overrides Deny or the built-in rules. The authorize
	// handler sends Identity.Email and Name as "email" and "name": list them
	// to keep them. Default: none (every key not denied is kept).
	Allow []string
}

// Sanitize applies the policy to claims and returns the JSON object to pass
// as AuthorizeRequest.Claims, which sends these very bytes. It returns nil
// when no claims remain, or an error matching ErrClaimsTooLarge or
// ErrInvalidClaims that never quotes a claim's value. claims is not
// modified. Sanitize compiles the policy on each call; the handlers compile
// it once.
func (p ClaimsPolicy) Sanitize(claims map[string]any) (json.RawMessage, error) {
	s := p.compile()
	_, enc, err := s.sanitize(claims)
	return enc, err
}

// ClaimsOptions configures [SanitizeClaims].
type ClaimsOptions struct {
	// Policy says which claims pass and how large they may be.
	// Default: the zero ClaimsPolicy (the guide's size limit and deny list).
	Policy ClaimsPolicy
	// Logger receives every refusal (too large: Warn; cannot be encoded:
	// Error), without claim values. Default: slog.Default().
	Logger *slog.Logger
	// ErrorHandler answers refused claims, after they are logged; err
	// matches ErrClaimsTooLarge or ErrInvalidClaims. Default:
	// WriteError (413 {"error":"Claims too large"}, 500
	// {"error":"Internal server error"}), as the authorize handler answers
	// the same claims.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// SanitizeClaims returns a middleware that applies opts.Policy to the
// [Identity] in the request context, as the authorize handler sends it
// (Email and Name as the claims "email" and "name"), and passes the
// sanitized identity on. Its Claims then hold what would be sent, as their
// JSON decodes (structs become maps; numbers of types other than int, int64
// and float64 become json.Number); Email or Name is cleared when dropped. A
// request without an identity passes through: the authorize handler answers
// 401 itself.
func SanitizeClaims(opts ClaimsOptions) func(http.Handler) http.Handler {
	s := opts.Policy.compile()
	log := cmp.Or(opts.Logger, slog.Default())
	onError := opts.ErrorHandler
	if onError == nil {
		onError = WriteError
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := IdentityFromContext(r.Context())
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			claims, _, err := s.identityClaims(id)
			if err != nil {
				logClaimsError(log, r, "fanfare: claims refused", err)
				onError(w, r, err)
				return
			}
			id.Claims = claims
			if _, ok := claims["email"]; !ok {
				id.Email = ""
			}
			if _, ok := claims["name"]; !ok {
				id.Name = ""
			}
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		})
	}
}

// logClaimsError logs too large claims (the user's data) at Warn, claims
// that cannot be encoded (the application's bug) at Error.
func logClaimsError(log *slog.Logger, r *http.Request, msg string, err error) {
	level := slog.LevelError
	if errors.Is(err, ErrClaimsTooLarge) {
		level = slog.LevelWarn
	}
	log.LogAttrs(r.Context(), level, msg, slog.String("path", r.URL.Path), slog.Any("error", err))
}

// claimsSanitizer is a ClaimsPolicy compiled for repeated use.
type claimsSanitizer struct {
	maxBytes int
	deny     *claimkey.Matcher
	allow    map[string]struct{} // claimkey.Name of the Allow entries; nil: no allow-list
}

func (p ClaimsPolicy) compile() claimsSanitizer {
	s := claimsSanitizer{maxBytes: cmp.Or(max(p.MaxBytes, 0), defaultClaimsMaxBytes), deny: defaultDeny}
	if len(p.Deny) > 0 {
		s.deny = defaultDeny.With(p.Deny)
	}
	if len(p.Allow) > 0 {
		s.allow = make(map[string]struct{}, len(p.Allow))
		for _, a := range p.Allow {
			s.allow[claimkey.Name(a)] = struct{}{}
		}
	}
	return s
}

// sanitize copies m, dropping what the policy denies, encodes the copy once
// and measures those very bytes. It returns the copy and its encoding, or
// nils when no claims remain.
func (s *claimsSanitizer) sanitize(m map[string]any) (map[string]any, json.RawMessage, error) {
	w := claimsWalk{s: s, budget: min(s.maxBytes, math.MaxInt/claimsReadFactor) * claimsReadFactor}
	v, _, err := w.value(m, 0)
	if err != nil {
		if !errors.Is(err, ErrClaimsTooLarge) { // the size is about the whole, not a place
			err = fmt.Errorf("%w at claims%s", err, w.path)
		}
		return nil, nil, err
	}
	out, _ := v.(map[string]any)
	if len(out) == 0 {
		return nil, nil, nil
	}
	enc, err := json.Marshal(out)
	if err != nil { // not expected: the copy holds only checked values
		return nil, nil, fmt.Errorf("%w: the claims cannot be encoded", ErrInvalidClaims)
	}
	if len(enc) > s.maxBytes {
		return nil, nil, s.tooLarge()
	}
	return out, enc, nil
}

func (s *claimsSanitizer) tooLarge() error {
	return fmt.Errorf("%w: their JSON encoding exceeds %d bytes", ErrClaimsTooLarge, s.maxBytes)
}

// identityClaims sanitizes the claims an identity sends: "email" and "name"
// from Email and Name, then Identity.Claims, which win on a clash.
func (s *claimsSanitizer) identityClaims(id Identity) (map[string]any, json.RawMessage, error) {
	m := make(map[string]any, len(id.Claims)+2)
	if id.Email != "" {
		m["email"] = id.Email
	}
	if id.Name != "" {
		m["name"] = id.Name
	}
	maps.Copy(m, id.Claims)
	return s.sanitize(m)
}

// claimsWalk copies claims, keeping what the policy allows. It counts the
// values it keeps, each at least a byte of JSON, against MaxBytes, and what
// it reads, dropped or not, against its budget: a map, slice or string
// shared many times over is read and encoded each time, so neither the walk
// nor the encoding can run away.
type claimsWalk struct {
	s      *claimsSanitizer
	kept   int
	budget int    // what may still be read, from 16×MaxBytes
	path   string // where an error happened: ["a"][0]["b"]
}

// read spends n of the budget.
func (w *claimsWalk) read(n int) error {
	if w.budget -= n; w.budget < 0 {
		return w.s.tooLarge()
	}
	return nil
}

// value copies v, or reports that the policy drops it (keep is false). At
// depth 0, v is the claims map itself.
func (w *claimsWalk) value(v any, depth int) (nv any, keep bool, err error) {
	if err := w.read(1); err != nil {
		return nil, false, err
	}
	nv, keep = v, true
	switch x := v.(type) {
	case nil, bool:
	case string:
		if keep = !claimkey.SensitiveString(x); keep {
			if err := w.read(len(x)); err != nil {
				return nil, false, err
			}
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false, fmt.Errorf("%w: unsupported value %v", ErrInvalidClaims, x)
		}
		keep = x != math.Trunc(x) || x < 0 || x >= 7e18 || !claimkey.CardInteger(int64(x))
	case int:
		keep = !claimkey.CardInteger(int64(x))
	case int64:
		keep = !claimkey.CardInteger(x)
	case json.Number:
		if err := w.read(len(x)); err != nil {
			return nil, false, err
		}
		if _, err := json.Marshal(x); err != nil {
			return nil, false, fmt.Errorf("%w: a json.Number that is not a JSON number", ErrInvalidClaims)
		}
		keep = !claimkey.CardNumber(string(x))
	case map[string]any:
		if x == nil {
			return nil, true, nil
		} else if depth > maxClaimsDepth {
			return nil, false, errTooDeep
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			if err := w.read(len(k)); err != nil {
				return nil, false, err
			}
			if w.s.dropKey(k, depth == 0) {
				continue
			}
			if e, keep, err := w.value(e, depth+1); err != nil {
				w.path = "[" + strconv.Quote(truncate(k, 40)) + "]" + w.path
				return nil, false, err
			} else if keep {
				out[k] = e
			}
		}
		nv = out
	case []any:
		if x == nil {
			return nil, true, nil
		} else if depth > maxClaimsDepth {
			return nil, false, errTooDeep
		}
		out := make([]any, 0, len(x))
		for i, e := range x {
			if e, keep, err := w.value(e, depth+1); err != nil {
				w.path = "[" + strconv.Itoa(i) + "]" + w.path
				return nil, false, err
			} else if keep {
				out = append(out, e)
			}
		}
		nv = out
	default: // its JSON form is what would be sent
		var g any
		b, err := json.Marshal(v)
		if err == nil {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			err = dec.Decode(&g)
		}
		if err != nil { // named by type: encoding/json's errors may quote a value
			return nil, false, fmt.Errorf("%w: a %T value cannot be encoded", ErrInvalidClaims, v)
		}
		return w.value(g, depth)
	}
	if keep {
		if w.kept++; w.kept > w.s.maxBytes {
			return nil, false, w.s.tooLarge()
		}
	}
	return nv, keep, nil
}

var errTooDeep = fmt.Errorf("%w: nested deeper than %d levels (or a cycle)", ErrInvalidClaims, maxClaimsDepth)

// deniedStems are found anywhere in a key's letters, deniedWords only as
// whole words (ClaimsPolicy).
var (
	deniedStems = []string{
		"password", "passwd", "passphrase", "passcode",
		"creditcard", "debitcard", "cardnum", "cardverification", "cardsecurity", "securitycode",
		"socialsecurity",
	}
	deniedWords = func() (words []string) {
		for _, w := range []string{"ssn", "pwd", "pin", "cvv", "cvc", "cvn", "ccv", "cardno", "ccnum", "ccnumber", "ccno"} {
			words = append(words, w, w+"s")
		}
		return words
	}()
	defaultDeny = claimkey.NewMatcher(deniedStems, deniedWords)
)

// dropKey reports whether the policy drops key k; top says k is a key of
// the claims map itself.
func (s *claimsSanitizer) dropKey(k string, top bool) bool {
	if top && s.allow != nil {
		if _, ok := s.allow[claimkey.Name(k)]; !ok {
			return true
		}
	}
	return s.deny.Match(k)
}
