package fanfare

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// DefaultClaimsMaxBytes is the size limit of the claims sent to Fanfare, in
// bytes of JSON: the vendor guide's 10 000.
const DefaultClaimsMaxBytes = 10000

// maxClaimsDepth bounds the nesting of claims. Real claims are a level or
// two deep; a cycle (a map that contains itself) is caught here too.
const maxClaimsDepth = 32

var (
	// ErrClaimsTooLarge: the JSON encoding of the sanitized claims exceeds
	// ClaimsPolicy.MaxBytes. Handlers answer 413 {"error":"Claims too large"}.
	ErrClaimsTooLarge = errors.New("fanfare: claims too large")
	// ErrInvalidClaims: the claims hold a value JSON cannot encode (a
	// channel, a func, NaN or ±Inf, a cycle, nesting deeper than 32
	// levels). It is a bug in the application, so handlers answer 500.
	ErrInvalidClaims = errors.New("fanfare: claims cannot be encoded as JSON")
)

// ClaimsPolicy says which claims may be sent to Fanfare. Its zero value is
// the default policy: the vendor guide's size limit and deny list, applied
// with more care than the guide's example (which deletes three exact
// top-level keys).
//
// A policy always drops, at any depth (inside nested objects and arrays):
//
//   - keys naming a password, a US social security number or a payment card:
//     the key is split into lowercase ASCII words (at separators, case changes
//     and letter/digit boundaries: "creditCardNumber", "credit_card_number",
//     "CREDIT-CARD-NUMBER" and "creditcardnumber" all become
//     credit+card+number) and dropped when
//     (a) its letters contain "password", "passwd", "passphrase", "passcode",
//     "creditcard", "debitcard", "cardnum", "cardverification", "cardsecurity",
//     "securitycode" or "socialsecurity" anywhere, or
//     (b) one of its words, or several consecutive words joined, is "ssn",
//     "pwd", "pin", "cvv", "cvc", "cvn", "ccv", "cardno", "ccnum",
//     "ccnumber" or "ccno" (or the plural of one of these). Rule (b) matches
//     whole words only, so "pin" drops "pin", "PIN", "pinCode" and "user_pin"
//     but not "shipping", "spinner", "pinned" or "opinion"; "ssn" drops
//     "userSSN" but not "classname". The price is that an all-lowercase
//     compound such as "userpin" is kept: write keys with separators or
//     camelCase, or add them to Deny;
//   - string values that look like a payment card number (13 to 19 digits,
//     optionally grouped by spaces or dashes, passing the Luhn check) or a US
//     social security number (NNN-NN-NNNN, dashes or spaces), whatever their
//     key: the whole value, trimmed, must have that shape;
//   - integer values (Go integers, integral floats, json.Number) of 13 to 19
//     digits that start with 2 to 6 (the major card networks) and pass the
//     Luhn check. The first-digit rule keeps Unix millisecond timestamps,
//     which are 13-digit integers starting with 1.
//
// A dropped array element shortens the array. Values of other Go types
// (structs, typed slices and maps, time.Time, pointers) are first converted
// to their JSON form, so their field names are checked too.
type ClaimsPolicy struct {
	// MaxBytes is the largest accepted size of the sanitized claims, in
	// bytes of the JSON encoding the client sends (encoding/json's, with
	// <, > and & escaped). Exactly MaxBytes passes; one byte more fails with
	// ErrClaimsTooLarge. Default (zero or negative): DefaultClaimsMaxBytes.
	MaxBytes int

	// Deny lists more keys to drop, at any depth. An entry is normalized
	// like keys are (lowercase ASCII letters and digits, separators and
	// case ignored) and matches a key when it equals one of the key's words
	// or several consecutive words joined: Deny "birthDate" drops
	// "birthDate", "birth_date", "BirthDate", "user.birth.date" and
	// "birthDateVerified", but not "birthdateverified". Default: none.
	Deny []string

	// Allow, when not empty, switches to allow-list mode: only top-level
	// keys equal to an entry (normalized the same way) are kept. Nested
	// values of an allowed key are kept as they are, minus what the deny
	// rules drop: Allow never overrides Deny or the built-in rules. The
	// authorize handler sends Identity.Email and Name as "email" and
	// "name": list them to keep them. Default: none (every key not denied
	// is kept).
	Allow []string
}

// Sanitize returns claims without the denied keys and sensitive values, or
// an error matching ErrClaimsTooLarge or ErrInvalidClaims. It never modifies
// claims; the result shares the nested maps and slices that needed no
// change with claims, so treat both as read-only. A nil map gives nil.
// Errors name the offending key but never quote a claim's value.
//
// Sanitize normalizes Deny and Allow on each call; the handlers of this
// package do it once at construction.
func (p ClaimsPolicy) Sanitize(claims map[string]any) (map[string]any, error) {
	s := p.compile()
	return s.sanitize(claims, false)
}

// claimsSanitizer is a ClaimsPolicy compiled for repeated use.
type claimsSanitizer struct {
	maxBytes   int
	deny       map[string]struct{} // normalized Deny entries; nil when none
	maxDenyLen int                 // longest key of deny and deniedWords
	allow      map[string]struct{} // normalized Allow entries; nil when not in allow-list mode
}

func (p ClaimsPolicy) compile() claimsSanitizer {
	s := claimsSanitizer{maxBytes: p.MaxBytes, maxDenyLen: maxDeniedWordLen}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultClaimsMaxBytes
	}
	for _, d := range p.Deny {
		n := normalizeKey(d)
		if n == "" {
			continue
		}
		if s.deny == nil {
			s.deny = make(map[string]struct{}, len(p.Deny))
		}
		s.deny[n] = struct{}{}
		s.maxDenyLen = max(s.maxDenyLen, len(n))
	}
	if len(p.Allow) > 0 {
		s.allow = make(map[string]struct{}, len(p.Allow))
		for _, a := range p.Allow {
			s.allow[normalizeKey(a)] = struct{}{}
		}
	}
	return s
}

// sanitize applies the policy to m. When own is true the caller owns m's
// top level (not its nested values) and it may be changed in place.
func (s *claimsSanitizer) sanitize(m map[string]any, own bool) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	w := claimsWalk{s: s}
	out, _, err := w.object(m, 0, true, own)
	if err != nil {
		if errors.Is(err, ErrClaimsTooLarge) {
			return nil, fmt.Errorf("%w: their JSON encoding exceeds %d bytes", ErrClaimsTooLarge, s.maxBytes)
		}
		return nil, err
	}
	return out, nil
}

// identityClaims sanitizes the claims an identity sends: "email" and "name"
// from Email and Name, then Identity.Claims, which win on a clash.
func (s *claimsSanitizer) identityClaims(id Identity) (map[string]any, error) {
	if id.Email == "" && id.Name == "" {
		return s.sanitize(id.Claims, false)
	}
	m := make(map[string]any, len(id.Claims)+2)
	if id.Email != "" {
		m["email"] = id.Email
	}
	if id.Name != "" {
		m["name"] = id.Name
	}
	maps.Copy(m, id.Claims)
	return s.sanitize(m, true)
}

// SanitizeClaims returns a middleware that applies policy to the [Identity]
// in the request context and passes the sanitized identity on (through
// [WithIdentity]). Use it in front of [NewAuthorizeHandler] when the policy
// should be explicit on the route, or in front of your own handler.
//
// The claims are measured and filtered as the authorize handler sends them:
// Identity.Email and Name count as the claims "email" and "name". Afterwards
// Identity.Claims holds exactly those claims, and Email or Name is cleared
// when the policy dropped it.
//
// A request without an identity passes through unchanged: the authorize
// handler answers 401 itself. Claims too large are answered 413
// {"error":"Claims too large"}; claims that cannot be encoded as JSON are a
// bug in the application and are answered 500 {"error":"Internal server
// error"}. Both are logged with [slog.Default], without claim values. To
// render these errors your own way, leave this middleware out and set
// AuthorizeOptions.Claims and ErrorHandler: the handler applies the same
// policy.
func SanitizeClaims(policy ClaimsPolicy) func(http.Handler) http.Handler {
	s := policy.compile()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := IdentityFromContext(r.Context())
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			claims, err := s.identityClaims(id)
			if err != nil {
				status := claimsErrorStatus(err)
				level := slog.LevelWarn
				if status >= 500 {
					level = slog.LevelError
				}
				slog.Default().LogAttrs(r.Context(), level, "fanfare: claims refused",
					slog.String("path", r.URL.Path), slog.Int("status", status), slog.Any("error", err))
				writeJSONBytes(w, status, errorBodyFor(status))
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

// claimsErrorStatus maps a sanitizer error to its HTTP status.
func claimsErrorStatus(err error) int {
	if errors.Is(err, ErrClaimsTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// claimsWalk walks claims once, dropping what the policy denies, copying
// only the maps and slices that change, and adding up the size of their
// JSON encoding as it goes, so an oversized input stops the walk early.
type claimsWalk struct {
	s    *claimsSanitizer
	size int
}

func (w *claimsWalk) add(n int) error {
	w.size += n
	if w.size > w.s.maxBytes {
		return ErrClaimsTooLarge
	}
	return nil
}

// object sanitizes m and returns it, or a changed copy and true. top says m
// is the claims map itself (the allow-list applies); own says m may be
// changed in place.
func (w *claimsWalk) object(m map[string]any, depth int, top, own bool) (map[string]any, bool, error) {
	if m == nil {
		return nil, false, w.add(4) // null
	}
	if depth > maxClaimsDepth {
		return nil, false, errTooDeep
	}
	if err := w.add(2); err != nil {
		return nil, false, err
	}
	var out map[string]any
	if own {
		out = m
	}
	changed, n := false, 0
	change := func() {
		if !changed {
			changed = true
			if out == nil {
				out = maps.Clone(m)
			}
		}
	}
	for k, v := range m {
		if w.s.dropKey(k, top) {
			change()
			delete(out, k)
			continue
		}
		nv, drop, ch, err := w.value(v, depth+1)
		if err != nil {
			return nil, false, atKey(err, k)
		}
		if drop {
			change()
			delete(out, k)
			continue
		}
		if n > 0 {
			w.size++ // comma
		}
		n++
		if err := w.add(jsonStringLen(k) + 1); err != nil { // "key":
			return nil, false, err
		}
		if ch {
			change()
			out[k] = nv
		}
	}
	if !changed {
		return m, false, nil
	}
	return out, true, nil
}

func (w *claimsWalk) array(a []any, depth int) ([]any, bool, error) {
	if a == nil {
		return nil, false, w.add(4) // null
	}
	if depth > maxClaimsDepth {
		return nil, false, errTooDeep
	}
	if err := w.add(2); err != nil {
		return nil, false, err
	}
	var out []any
	changed, n := false, 0
	for i, v := range a {
		nv, drop, ch, err := w.value(v, depth+1)
		if err != nil {
			return nil, false, atIndex(err, i)
		}
		if (drop || ch) && !changed {
			changed = true
			out = make([]any, i, len(a))
			copy(out, a[:i])
		}
		if drop {
			continue
		}
		if n > 0 {
			w.size++
		}
		n++
		if changed {
			out = append(out, nv)
		}
	}
	if !changed {
		return a, false, nil
	}
	return out, true, nil
}

// value sanitizes one value. It returns the value to keep (v itself when
// unchanged), whether to drop it, and whether it changed.
func (w *claimsWalk) value(v any, depth int) (nv any, drop, changed bool, err error) {
	switch x := v.(type) {
	case nil:
		return v, false, false, w.add(4)
	case string:
		if sensitiveString(x) {
			return nil, true, false, nil
		}
		return v, false, false, w.add(jsonStringLen(x))
	case bool:
		if x {
			return v, false, false, w.add(4)
		}
		return v, false, false, w.add(5)
	case float64:
		return w.float(v, x, 64)
	case float32:
		return w.float(v, float64(x), 32)
	case int:
		return w.signed(v, int64(x))
	case int8:
		return w.signed(v, int64(x))
	case int16:
		return w.signed(v, int64(x))
	case int32:
		return w.signed(v, int64(x))
	case int64:
		return w.signed(v, x)
	case uint:
		return w.unsigned(v, uint64(x))
	case uint8:
		return w.unsigned(v, uint64(x))
	case uint16:
		return w.unsigned(v, uint64(x))
	case uint32:
		return w.unsigned(v, uint64(x))
	case uint64:
		return w.unsigned(v, x)
	case uintptr:
		return w.unsigned(v, uint64(x))
	case json.Number:
		if !isValidJSONNumber(string(x)) {
			return nil, false, false, fmt.Errorf("%w: invalid json.Number", ErrInvalidClaims)
		}
		if looksLikeCardInteger(string(x)) {
			return nil, true, false, nil
		}
		if x == "" {
			return v, false, false, w.add(1) // encoded as 0
		}
		return v, false, false, w.add(len(x))
	case map[string]any:
		out, ch, err := w.object(x, depth, false, false)
		if ch {
			return out, false, true, err
		}
		return v, false, false, err
	case []any:
		out, ch, err := w.array(x, depth)
		if ch {
			return out, false, true, err
		}
		return v, false, false, err
	case []string:
		return w.strings(v, x)
	case map[string]string:
		return w.stringMap(v, x)
	}
	// Any other type: take its JSON form, which is what would be sent.
	g, err := toGenericJSON(v)
	if err != nil {
		return nil, false, false, err
	}
	nv, drop, _, err = w.value(g, depth)
	return nv, drop, true, err
}

func (w *claimsWalk) float(v any, f float64, bits int) (any, bool, bool, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false, false, fmt.Errorf("%w: unsupported value %v", ErrInvalidClaims, f)
	}
	if f >= 1e12 && f < 1e19 && f == math.Trunc(f) {
		var buf [24]byte
		if looksLikeCardInteger(string(strconv.AppendUint(buf[:0], uint64(f), 10))) {
			return nil, true, false, nil
		}
	}
	return v, false, false, w.add(jsonFloatLen(f, bits))
}

func (w *claimsWalk) signed(v any, i int64) (any, bool, bool, error) {
	var buf [24]byte
	b := strconv.AppendInt(buf[:0], i, 10)
	if looksLikeCardInteger(string(b)) {
		return nil, true, false, nil
	}
	return v, false, false, w.add(len(b))
}

func (w *claimsWalk) unsigned(v any, u uint64) (any, bool, bool, error) {
	var buf [24]byte
	b := strconv.AppendUint(buf[:0], u, 10)
	if looksLikeCardInteger(string(b)) {
		return nil, true, false, nil
	}
	return v, false, false, w.add(len(b))
}

func (w *claimsWalk) strings(v any, a []string) (any, bool, bool, error) {
	if a == nil {
		return v, false, false, w.add(4)
	}
	if err := w.add(2); err != nil {
		return nil, false, false, err
	}
	var out []string
	changed, n := false, 0
	for i, s := range a {
		drop := sensitiveString(s)
		if drop && !changed {
			changed = true
			out = make([]string, i, len(a))
			copy(out, a[:i])
		}
		if drop {
			continue
		}
		if n > 0 {
			w.size++
		}
		n++
		if err := w.add(jsonStringLen(s)); err != nil {
			return nil, false, false, err
		}
		if changed {
			out = append(out, s)
		}
	}
	if !changed {
		return v, false, false, nil
	}
	return out, false, true, nil
}

func (w *claimsWalk) stringMap(v any, m map[string]string) (any, bool, bool, error) {
	if m == nil {
		return v, false, false, w.add(4)
	}
	if err := w.add(2); err != nil {
		return nil, false, false, err
	}
	var out map[string]string
	n := 0
	for k, s := range m {
		if w.s.dropKey(k, false) || sensitiveString(s) {
			if out == nil {
				out = maps.Clone(m)
			}
			delete(out, k)
			continue
		}
		if n > 0 {
			w.size++
		}
		n++
		if err := w.add(jsonStringLen(k) + 1 + jsonStringLen(s)); err != nil {
			return nil, false, false, err
		}
	}
	if out == nil {
		return v, false, false, nil
	}
	return out, false, true, nil
}

// toGenericJSON converts v to the generic form encoding/json decodes into
// (maps, slices, strings, json.Number, bools, nil).
func toGenericJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: a %T value: %w", ErrInvalidClaims, v, stripJSONValue(err))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var g any
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("%w: a %T value: %w", ErrInvalidClaims, v, err)
	}
	return g, nil
}

// stripJSONValue keeps encoding/json's errors, which name types and never
// quote values, except a *json.MarshalerError, whose cause comes from the
// application's MarshalJSON and may quote anything: keep only its type.
func stripJSONValue(err error) error {
	var me *json.MarshalerError
	if errors.As(err, &me) {
		return fmt.Errorf("MarshalJSON of %v failed", me.Type)
	}
	return err
}

var errTooDeep = fmt.Errorf("%w: nested deeper than %d levels (or a cycle)", ErrInvalidClaims, maxClaimsDepth)

// claimsPathError locates an error inside the claims: ["a"][0]["b"].
type claimsPathError struct {
	path string
	err  error
}

func (e *claimsPathError) Error() string {
	return e.err.Error() + " at claims" + e.path
}

func (e *claimsPathError) Unwrap() error { return e.err }

func atKey(err error, k string) error { return atPath(err, "["+strconv.Quote(truncate(k, 40))+"]") }
func atIndex(err error, i int) error  { return atPath(err, "["+strconv.Itoa(i)+"]") }
func atPath(err error, step string) error {
	if errors.Is(err, ErrClaimsTooLarge) {
		return err // the size error is about the whole, not a place
	}
	if pe, ok := err.(*claimsPathError); ok {
		pe.path = step + pe.path
		return pe
	}
	return &claimsPathError{path: step, err: err}
}

// Key matching.

// deniedStems drop a key when its normalized letters contain one of them.
var deniedStems = []string{
	"password", "passwd", "passphrase", "passcode",
	"creditcard", "debitcard", "cardnum", "cardverification", "cardsecurity", "securitycode",
	"socialsecurity",
}

// deniedWords drop a key when one of its words, or a run of consecutive
// words, equals one of them (or its plural).
var deniedWords, maxDeniedWordLen = func() (map[string]struct{}, int) {
	words := []string{"ssn", "pwd", "pin", "cvv", "cvc", "cvn", "ccv", "cardno", "ccnum", "ccnumber", "ccno"}
	m := make(map[string]struct{}, 2*len(words))
	n := 0
	for _, w := range words {
		m[w] = struct{}{}
		m[w+"s"] = struct{}{}
		n = max(n, len(w)+1)
	}
	return m, n
}()

// stemsByFirst indexes deniedStems by their first letter, so the scan of a
// key tests only the stems that can start at each position.
var stemsByFirst = func() (t [256][]string) {
	for _, s := range deniedStems {
		t[s[0]] = append(t[s[0]], s)
	}
	return t
}()

// dropKey reports whether the policy drops key k; top says k is a key of
// the claims map itself, where the allow-list applies.
func (s *claimsSanitizer) dropKey(k string, top bool) bool {
	var bufArr [64]byte
	var startsArr [17]int
	norm, starts := splitKey(k, bufArr[:0], startsArr[:0])
	if top && s.allow != nil {
		if _, ok := s.allow[string(norm)]; !ok {
			return true
		}
	}
	for i, c := range norm {
		for _, stem := range stemsByFirst[c] {
			if len(norm)-i >= len(stem) && string(norm[i:i+len(stem)]) == stem {
				return true
			}
		}
	}
	for i := 0; i+1 < len(starts); i++ {
		for j := i + 1; j < len(starts); j++ {
			run := norm[starts[i]:starts[j]]
			if len(run) > s.maxDenyLen {
				break
			}
			if _, ok := deniedWords[string(run)]; ok {
				return true
			}
			if s.deny != nil {
				if _, ok := s.deny[string(run)]; ok {
					return true
				}
			}
		}
	}
	return false
}

// normalizeKey returns the lowercase ASCII letters and digits of k.
func normalizeKey(k string) string {
	norm, _ := splitKey(k, nil, nil)
	return string(norm)
}

const (
	classOther = iota
	classLower
	classUpper
	classDigit
)

func charClass(c byte) int {
	switch {
	case 'a' <= c && c <= 'z':
		return classLower
	case 'A' <= c && c <= 'Z':
		return classUpper
	case '0' <= c && c <= '9':
		return classDigit
	}
	return classOther
}

// splitKey appends k's lowercase ASCII letters and digits to buf and the
// offset in buf where each word starts to starts, followed by len(buf).
// Words break at anything else (separators, non-ASCII), at a lower-to-upper
// case change, before the last capital of an acronym followed by a
// lowercase letter ("SSNLast" is ssn+last), and between letters and digits.
func splitKey(k string, buf []byte, starts []int) ([]byte, []int) {
	prev := classOther
	for i := 0; i < len(k); i++ {
		c := k[i]
		cl := charClass(c)
		if cl == classOther {
			prev = classOther
			continue
		}
		if prev == classOther ||
			(cl == classDigit) != (prev == classDigit) ||
			(cl == classUpper && prev == classLower) ||
			(cl == classUpper && prev == classUpper && i+1 < len(k) && charClass(k[i+1]) == classLower) {
			starts = append(starts, len(buf))
		}
		if cl == classUpper {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
		prev = cl
	}
	return buf, append(starts, len(buf))
}

// Value matching.

// sensitiveString reports whether s, trimmed, looks like a payment card
// number or a US social security number.
func sensitiveString(s string) bool {
	if len(s) < 11 || len(s) > 64 { // fast path: most values are neither
		return false
	}
	s = trimASCIISpace(s)
	return looksLikeSSN(s) || looksLikeCardNumber(s)
}

func trimASCIISpace(s string) string {
	for len(s) > 0 && isASCIISpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isASCIISpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isASCIISpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// looksLikeSSN matches NNN-NN-NNNN, with dashes or spaces.
func looksLikeSSN(s string) bool {
	if len(s) != 11 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 3 || i == 6 {
			if s[i] != '-' && s[i] != ' ' {
				return false
			}
		} else if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// looksLikeCardNumber matches 13 to 19 digits, optionally separated by
// spaces or dashes, that pass the Luhn check.
func looksLikeCardNumber(s string) bool {
	if len(s) < 13 || !isDigit(s[0]) || !isDigit(s[len(s)-1]) {
		return false
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			digits++
		case c == ' ' || c == '-':
		default:
			return false
		}
	}
	return digits >= 13 && digits <= 19 && luhnValid(s)
}

// looksLikeCardInteger matches the decimal digits of an integer: 13 to 19
// digits, the first 2 to 6, passing the Luhn check.
func looksLikeCardInteger(s string) bool {
	if len(s) < 13 || len(s) > 19 || s[0] < '2' || s[0] > '6' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return luhnValid(s)
}

// luhnValid runs the Luhn check over the digits of s, ignoring the rest.
func luhnValid(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// JSON sizes, exactly as encoding/json writes them.

// jsonStringLen is the length of s as a JSON string, quotes included, with
// encoding/json's escaping: \" \\ \b \f \n \r \t, \u00XX for the other
// control characters and for < > &, \ufffd for each invalid UTF-8 byte and
// \u2028, \u2029 for the line and paragraph separators.
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			n += int(asciiJSONLen[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// asciiJSONLen is the encoded length of each ASCII byte in a JSON string.
var asciiJSONLen = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		switch {
		case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
			t[c] = 2
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			t[c] = 6
		default:
			t[c] = 1
		}
	}
	return t
}()

// jsonFloatLen is the length of f as encoding/json writes a float of the
// given bit size.
func jsonFloatLen(f float64, bits int) int {
	var buf [32]byte
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b := strconv.AppendFloat(buf[:0], f, format, -1, bits)
	n := len(b)
	if format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		n-- // e-07 is written e-7
	}
	return n
}

// isValidJSONNumber reports whether s is a JSON number literal; the empty
// string is allowed (encoding/json writes it as 0).
func isValidJSONNumber(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		for s = s[1:]; s != "" && isDigit(s[0]); s = s[1:] {
		}
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
		for s = s[2:]; s != "" && isDigit(s[0]); s = s[1:] {
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		if !isDigit(s[0]) {
			return false
		}
		for ; s != "" && isDigit(s[0]); s = s[1:] {
		}
	}
	return s == ""
}
