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
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// defaultClaimsMaxBytes is the size limit of the claims sent to Fanfare, in
// bytes of JSON: the vendor guide's 10 000.
const defaultClaimsMaxBytes = 10000

// maxClaimsDepth bounds the nesting of claims. Real claims are a level or
// two deep; a cycle (a map that contains itself) is caught here too.
const maxClaimsDepth = 32

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

// ClaimsPolicy says which claims may be sent to Fanfare. Its zero value is
// the default policy: the vendor guide's size limit and deny list, applied
// with more care than the guide's example (which deletes three exact
// top-level keys).
//
// A policy always drops, at any depth (inside nested objects and arrays):
//
//   - keys naming a password, a US social security number or a payment card.
//     A key is first reduced to ASCII, so that every spelling of a word is
//     matched like its plain spelling: compatibility forms (fullwidth
//     "ｐａｓｓｗｏｒｄ", ligatures, mathematical letters) and accents are
//     undone (Unicode NFKD), invisible characters (zero-width spaces, soft
//     hyphens, joiners, other format and default-ignorable characters,
//     combining marks) are ignored, letters are case-folded in full
//     ("ß" is "ss"), and Cyrillic, Greek and Armenian letters that look like
//     Latin ones are read as those ("pаssword" with a Cyrillic "а"). A key
//     that mixes Latin letters with Cyrillic, Greek, Armenian or Cherokee
//     ones, holds a Latin letter with no ASCII reading, or is not valid
//     UTF-8 is dropped whatever it says: when in doubt, a key is dropped.
//     The result is split into lowercase words (at separators, case changes
//     and letter/digit boundaries: "creditCardNumber", "credit_card_number",
//     "CREDIT-CARD-NUMBER" and "creditcardnumber" all become
//     credit+card+number) and the key is dropped when
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
//     key: the whole value, trimmed and read like keys are (fullwidth digits,
//     invisible characters), must have that shape;
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
	// bytes of the JSON sent to Fanfare (the guide's
	// JSON.stringify(claims).length). Exactly MaxBytes passes; one byte
	// more fails with ErrClaimsTooLarge. Default (zero or negative): 10 000,
	// the vendor guide's limit.
	MaxBytes int

	// Deny lists more keys to drop, at any depth. An entry is reduced like
	// keys are (to lowercase ASCII letters and digits, separators and case
	// ignored) and matches a key when it equals one of the key's words or
	// several consecutive words joined: Deny "birthDate" drops "birthDate",
	// "birth_date", "BirthDate", "user.birth.date" and "birthDateVerified",
	// but not "birthdateverified". An entry that reads as no ASCII letter
	// or digit (one written in Cyrillic or Han, say) matches nothing: use
	// Allow to keep such keys out. Default: none.
	Deny []string

	// Allow, when not empty, switches to allow-list mode: only top-level
	// keys equal to an entry (reduced the same way) are kept. Nested
	// values of an allowed key are kept as they are, minus what the deny
	// rules drop: Allow never overrides Deny or the built-in rules. The
	// authorize handler sends Identity.Email and Name as "email" and
	// "name": list them to keep them. Default: none (every key not denied
	// is kept).
	Allow []string
}

// Sanitize applies the policy to claims and returns the JSON object to send
// to Fanfare: pass it as AuthorizeRequest.Claims, which sends these bytes
// as they are. The size limit counts exactly these bytes. It returns nil
// when no claims remain (claims is nil or everything was dropped), or an
// error matching ErrClaimsTooLarge or ErrInvalidClaims, which names the
// offending key but never quotes a claim's value. claims is not modified.
//
// Sanitize compiles Deny and Allow on each call; the handlers of this
// package do it once at construction.
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

	// Logger receives every refusal (claims too large: Warn; claims that
	// cannot be encoded: Error), without claim values. Set it to
	// slog.New(slog.DiscardHandler) to silence the middleware.
	// Default: slog.Default().
	Logger *slog.Logger

	// ErrorHandler writes the response when the claims are refused, after
	// the cause is logged. err matches (with errors.Is) one of:
	//   - ErrClaimsTooLarge: 413 {"error":"Claims too large"};
	//   - ErrInvalidClaims: a bug in the application, 500
	//     {"error":"Internal server error"}.
	// Default: WriteClaimsError.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// SanitizeClaims returns a middleware that applies opts.Policy to the
// [Identity] in the request context and passes the sanitized identity on
// (through [WithIdentity]). Use it in front of [NewAuthorizeHandler] when the
// policy should be explicit on the route, or in front of your own handler.
//
// The claims are measured and filtered as the authorize handler sends them:
// Identity.Email and Name count as the claims "email" and "name". Afterwards
// Identity.Claims holds exactly those claims, as their JSON decodes (numbers
// of types other than int, int64 and float64 become json.Number; structs
// become maps), and Email or Name is cleared when the policy dropped it.
//
// A request without an identity passes through unchanged: the authorize
// handler answers 401 itself. Refused claims are logged and answered by
// opts.ErrorHandler.
func SanitizeClaims(opts ClaimsOptions) func(http.Handler) http.Handler {
	s := opts.Policy.compile()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	onError := opts.ErrorHandler
	if onError == nil {
		onError = WriteClaimsError
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

// WriteClaimsError writes the default answer of [SanitizeClaims] to err:
// 413 {"error":"Claims too large"} for ErrClaimsTooLarge, 500
// {"error":"Internal server error"} otherwise. A custom ErrorHandler can
// call it for the errors it does not render itself.
func WriteClaimsError(w http.ResponseWriter, r *http.Request, err error) {
	status := claimsErrorStatus(err)
	writeJSONBytes(w, status, errorBodyFor(status))
}

func claimsErrorStatus(err error) int {
	if errors.Is(err, ErrClaimsTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// logClaimsError logs refused claims: Warn when too large (the user's data),
// Error when they cannot be encoded (the application's bug).
func logClaimsError(log *slog.Logger, r *http.Request, msg string, err error) {
	level := slog.LevelWarn
	if claimsErrorStatus(err) >= 500 {
		level = slog.LevelError
	}
	log.LogAttrs(r.Context(), level, msg, slog.String("path", r.URL.Path), slog.Any("error", err))
}

// claimsSanitizer is a ClaimsPolicy compiled for repeated use.
type claimsSanitizer struct {
	maxBytes   int
	deny       map[string]struct{} // deniedWords and the reduced Deny entries
	maxDenyLen int                 // longest key of deny
	allow      map[string]struct{} // reduced Allow entries; nil when not in allow-list mode
}

func (p ClaimsPolicy) compile() claimsSanitizer {
	s := claimsSanitizer{maxBytes: p.MaxBytes, deny: maps.Clone(deniedWords)}
	if s.maxBytes <= 0 {
		s.maxBytes = defaultClaimsMaxBytes
	}
	for _, d := range p.Deny {
		if n := reduceKey(d); n != "" {
			s.deny[n] = struct{}{}
		}
	}
	for d := range s.deny {
		s.maxDenyLen = max(s.maxDenyLen, len(d))
	}
	if len(p.Allow) > 0 {
		s.allow = make(map[string]struct{}, len(p.Allow))
		for _, a := range p.Allow {
			s.allow[reduceKey(a)] = struct{}{}
		}
	}
	return s
}

// sanitize is the whole pipeline: copy m into values the sanitizer owns,
// dropping what the policy denies and bounding the depth; encode the copy
// once; measure exactly those bytes. It returns the copy and its encoding,
// or nil and nil when no claims remain.
func (s *claimsSanitizer) sanitize(m map[string]any) (map[string]any, json.RawMessage, error) {
	w := claimsWalk{s: s}
	out, err := w.object(m, 0, true)
	if err != nil {
		return nil, nil, err
	}
	if len(out) == 0 {
		return nil, nil, nil
	}
	enc, err := json.Marshal(out)
	if err != nil {
		// The copy holds only maps, slices, strings, bools, nil and
		// checked numbers: this is not expected to happen.
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidClaims, stripJSONValue(err))
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
	for k, v := range id.Claims {
		m[k] = v
	}
	return s.sanitize(m)
}

// claimsWalk copies claims, keeping what the policy allows. It counts the
// values it keeps: each takes at least one byte of JSON, so more of them
// than MaxBytes means the claims are too large, and a map shared many
// times over (or a cycle) cannot make the walk run away.
type claimsWalk struct {
	s    *claimsSanitizer
	kept int
}

// object copies m. top says m is the claims map itself (the allow-list
// applies there).
func (w *claimsWalk) object(m map[string]any, depth int, top bool) (map[string]any, error) {
	if depth > maxClaimsDepth {
		return nil, errTooDeep
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if w.s.dropKey(k, top) {
			continue
		}
		nv, keep, err := w.value(v, depth+1)
		if err != nil {
			return nil, atPath(err, "["+strconv.Quote(truncate(k, 40))+"]")
		}
		if keep {
			out[k] = nv
		}
	}
	return out, nil
}

func (w *claimsWalk) array(a []any, depth int) ([]any, error) {
	if depth > maxClaimsDepth {
		return nil, errTooDeep
	}
	out := make([]any, 0, len(a))
	for i, v := range a {
		nv, keep, err := w.value(v, depth+1)
		if err != nil {
			return nil, atPath(err, "["+strconv.Itoa(i)+"]")
		}
		if keep {
			out = append(out, nv)
		}
	}
	return out, nil
}

// value copies v, or reports that the policy drops it (keep is false).
func (w *claimsWalk) value(v any, depth int) (nv any, keep bool, err error) {
	if w.kept++; w.kept > w.s.maxBytes {
		return nil, false, w.s.tooLarge()
	}
	switch x := v.(type) {
	case nil, bool:
		return v, true, nil
	case string:
		return v, !sensitiveString(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false, fmt.Errorf("%w: unsupported value %v", ErrInvalidClaims, x)
		}
		if x >= 1e12 && x < 1e19 && x == math.Trunc(x) {
			return v, !looksLikeCardInteger(strconv.FormatUint(uint64(x), 10)), nil
		}
		return v, true, nil
	case int:
		return v, !looksLikeCardInteger(strconv.Itoa(x)), nil
	case int64:
		return v, !looksLikeCardInteger(strconv.FormatInt(x, 10)), nil
	case json.Number:
		if !jsonNumberPattern.MatchString(string(x)) {
			return nil, false, fmt.Errorf("%w: a json.Number that is not a JSON number", ErrInvalidClaims)
		}
		return v, !looksLikeCardInteger(string(x)), nil
	case map[string]any:
		if x == nil {
			return nil, true, nil
		}
		out, err := w.object(x, depth, false)
		return out, err == nil, err
	case []any:
		if x == nil {
			return nil, true, nil
		}
		out, err := w.array(x, depth)
		return out, err == nil, err
	}
	// Any other type: take its JSON form, which is what would be sent.
	g, err := toGenericJSON(v)
	if err != nil {
		return nil, false, err
	}
	w.kept--
	return w.value(g, depth)
}

// jsonNumberPattern is a JSON number literal (RFC 8259), what encoding/json
// accepts to write a json.Number ("" is written as 0).
var jsonNumberPattern = regexp.MustCompile(`^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)?$`)

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
		return nil, fmt.Errorf("%w: a %T value: its JSON does not decode", ErrInvalidClaims, v)
	}
	return g, nil
}

// stripJSONValue keeps the errors of encoding/json that name types and never
// quote values; any other error (a MarshalJSON's, whose text may quote
// anything; an invalid number literal, which json quotes) is reduced to its
// kind.
func stripJSONValue(err error) error {
	var me *json.MarshalerError
	var te *json.UnsupportedTypeError
	var ve *json.UnsupportedValueError
	switch {
	case errors.As(err, &me):
		return fmt.Errorf("MarshalJSON of %v failed", me.Type)
	case errors.As(err, &te):
		return te
	case errors.As(err, &ve):
		return errors.New("json: unsupported value (NaN, ±Inf or a cycle)")
	}
	return errors.New("json: the value cannot be encoded")
}

var errTooDeep = fmt.Errorf("%w: nested deeper than %d levels (or a cycle)", ErrInvalidClaims, maxClaimsDepth)

// claimsPathError locates an error inside the claims: ["a"][0]["b"].
type claimsPathError struct {
	path string
	err  error
}

func (e *claimsPathError) Error() string { return e.err.Error() + " at claims" + e.path }

func (e *claimsPathError) Unwrap() error { return e.err }

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

// deniedStems drop a key when its reduced letters contain one of them.
var deniedStems = []string{
	"password", "passwd", "passphrase", "passcode",
	"creditcard", "debitcard", "cardnum", "cardverification", "cardsecurity", "securitycode",
	"socialsecurity",
}

// deniedWords drop a key when one of its words, or a run of consecutive
// words, equals one of them (or its plural).
var deniedWords = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, w := range []string{"ssn", "pwd", "pin", "cvv", "cvc", "cvn", "ccv", "cardno", "ccnum", "ccnumber", "ccno"} {
		m[w], m[w+"s"] = struct{}{}, struct{}{}
	}
	return m
}()

// dropKey reports whether the policy drops key k; top says k is a key of
// the claims map itself, where the allow-list applies.
func (s *claimsSanitizer) dropKey(k string, top bool) bool {
	joined, split, doubt := asciiForms(k)
	if doubt {
		return true
	}
	if top && s.allow != nil {
		if _, ok := s.allow[reduceKey(k)]; !ok {
			return true
		}
	}
	return s.denies(joined) || s.denies(split)
}

// denies applies the deny rules to an ASCII form of a key.
func (s *claimsSanitizer) denies(form string) bool {
	var bufArr [64]byte // a usual key stays off the heap (TestSanitizeAllocs)
	var startsArr [17]int
	norm, starts := splitWords(form, bufArr[:0], startsArr[:0])
	for _, stem := range deniedStems {
		if bytes.Contains(norm, []byte(stem)) {
			return true
		}
	}
	for i := 0; i+1 < len(starts); i++ {
		for j := i + 1; j < len(starts); j++ {
			run := norm[starts[i]:starts[j]]
			if len(run) > s.maxDenyLen {
				break
			}
			if _, ok := s.deny[string(run)]; ok {
				return true
			}
		}
	}
	return false
}

// reduceKey returns the lowercase ASCII letters and digits of k's ASCII
// form, the form Deny and Allow entries are compared in.
func reduceKey(k string) string {
	joined, _, _ := asciiForms(k)
	norm, _ := splitWords(joined, nil, nil)
	return string(norm)
}

// asciiForms reads key k as ASCII: every character becomes ASCII letters
// or digits (case kept, for the word splitter), or a separator (a space).
// Invisible characters are removed in joined and are separators in split,
// and the deny rules judge both; split is "" when k has none. doubt reports
// a key to drop whatever it reads as: not UTF-8 (then both forms are ""),
// mixing Latin letters with look-alike scripts, or holding a Latin letter
// with no ASCII reading.
//
// The steps: NFKD (compatibility forms and accents come apart), invisible
// characters and combining marks removed, look-alike letters mapped
// (lookalikes), any other letter case-folded in full (ß is ss) and kept
// when that gives ASCII letters.
func asciiForms(k string) (joined, split string, doubt bool) {
	if isPlainASCII(k) {
		return k, "", false
	}
	if !utf8.ValidString(k) {
		return "", "", true
	}
	var b strings.Builder // invisible characters written as 0, resolved at the end
	var latin, foreign bool
	fold := cases.Fold()
	for _, r := range norm.NFKD.String(k) {
		switch {
		case r < utf8.RuneSelf && isASCIIAlnum(byte(r)):
			b.WriteRune(r)
			latin = latin || !isDigit(byte(r))
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		case isInvisible(r):
			b.WriteByte(0)
		case r < utf8.RuneSelf:
			b.WriteByte(' ')
		default:
			if a, ok := lookalikes[r]; ok {
				b.WriteString(a)
				foreign = foreign || !unicode.Is(unicode.Latin, r)
				continue
			}
			if unicode.In(r, unicode.Cyrillic, unicode.Greek, unicode.Armenian, unicode.Cherokee) {
				foreign = true
			}
			if !unicode.IsLetter(r) {
				b.WriteByte(' ')
				continue
			}
			if f := norm.NFKD.String(fold.String(string(r))); isASCIIWord(f) {
				b.WriteString(f)
				continue
			}
			if unicode.Is(unicode.Latin, r) {
				doubt = true
			}
			b.WriteByte(' ')
		}
	}
	doubt = doubt || latin && foreign
	read := b.String()
	if !strings.Contains(read, "\x00") {
		return read, "", doubt
	}
	return strings.ReplaceAll(read, "\x00", ""), strings.ReplaceAll(read, "\x00", " "), doubt
}

// isPlainASCII reports whether k is printable ASCII, which needs no reading.
func isPlainASCII(k string) bool {
	return strings.IndexFunc(k, func(r rune) bool { return r < ' ' || r > '~' }) < 0
}

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c)
}

func isASCIIWord(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r >= utf8.RuneSelf || !isASCIIAlnum(byte(r)) }) < 0
}

// isInvisible reports characters that change a key's bytes but not how it
// reads: control and format characters (zero-width space and joiners, soft
// hyphen, bidi controls, tags), other default-ignorable code points
// (Hangul fillers, variation selectors) and combining marks, which NFKD has
// split from their letters.
func isInvisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Mn, unicode.Me,
		unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// lookalikes maps letters that read as Latin letters to those letters, case
// kept. It covers the Cyrillic, Greek and Armenian letters that pass for
// Latin ones in common fonts, and the Latin letters (small capitals, dotless
// i, stroked letters, ligatures) that NFKD leaves alone. It is short on
// purpose: a key mixing scripts is dropped anyway, so the table only has to
// catch keys spelled wholly in look-alikes. Extend it, never shrink it.
var lookalikes = map[rune]string{
	// Cyrillic.
	'А': "A", 'В': "B", 'Е': "E", 'Ѕ': "S", 'І': "I", 'Ј': "J", 'К': "K", 'М': "M", 'Н': "H",
	'О': "O", 'Р': "P", 'С': "C", 'Т': "T", 'Х': "X", 'У': "Y", 'Ү': "Y", 'Ԁ': "D", 'Ԛ': "Q",
	'Ԝ': "W", 'Ӏ': "l", 'Һ': "H", 'Ь': "b", 'Ѵ': "V",
	'а': "a", 'в': "b", 'е': "e", 'ѕ': "s", 'і': "i", 'ј': "j", 'к': "k", 'м': "m", 'н': "h",
	'о': "o", 'р': "p", 'с': "c", 'т': "t", 'х': "x", 'у': "y", 'ү': "y", 'ԁ': "d", 'ԛ': "q",
	'ԝ': "w", 'ӏ': "l", 'һ': "h", 'ь': "b", 'ѵ': "v", 'п': "n", 'г': "r",
	// Greek.
	'Α': "A", 'Β': "B", 'Ε': "E", 'Ζ': "Z", 'Η': "H", 'Ι': "I", 'Κ': "K", 'Μ': "M", 'Ν': "N",
	'Ο': "O", 'Ρ': "P", 'Τ': "T", 'Υ': "Y", 'Χ': "X", 'Ϲ': "C", 'Ϳ': "J", 'Ϝ': "F",
	'α': "a", 'β': "b", 'γ': "y", 'ε': "e", 'η': "n", 'ι': "i", 'κ': "k", 'ν': "v", 'ο': "o",
	'ρ': "p", 'τ': "t", 'υ': "u", 'χ': "x", 'ω': "w", 'ϲ': "c", 'ϳ': "j",
	// Armenian.
	'Օ': "O", 'Ս': "U", 'օ': "o", 'ս': "u", 'ո': "n", 'հ': "h", 'ց': "g", 'զ': "q",
	// Latin letters NFKD does not reduce.
	'ı': "i", 'ȷ': "j", 'ɑ': "a", 'ɡ': "g", 'ɩ': "i", 'ɪ': "i", 'ʟ': "l", 'ɴ': "n", 'ʀ': "r",
	'ʏ': "y", 'ʙ': "b", 'ʜ': "h", 'ɢ': "g", 'ᴀ': "a", 'ᴄ': "c", 'ᴅ': "d", 'ᴇ': "e", 'ᴊ': "j",
	'ᴋ': "k", 'ᴍ': "m", 'ᴏ': "o", 'ᴘ': "p", 'ᴛ': "t", 'ᴜ': "u", 'ᴠ': "v", 'ᴡ': "w", 'ᴢ': "z",
	'ꜱ': "s", 'ꜰ': "f", 'ø': "o", 'Ø': "O", 'ł': "l", 'Ł': "L", 'đ': "d", 'Đ': "D", 'ħ': "h",
	'Ħ': "H", 'ŧ': "t", 'Ŧ': "T", 'ƀ': "b", 'ɨ': "i", 'ʉ': "u", 'æ': "ae", 'Æ': "AE",
	'œ': "oe", 'Œ': "OE", 'ð': "d", 'Ð': "D",
}

// splitWords appends the ASCII form k's lowercase letters and digits to buf
// and the offset in buf where each word starts to starts, followed by
// len(buf). Words break at anything else (separators), at a lower-to-upper
// case change, before the last capital of an acronym followed by a
// lowercase letter ("SSNLast" is ssn+last), and between letters and digits.
func splitWords(k string, buf []byte, starts []int) ([]byte, []int) {
	at := func(i int) byte { // k[i], or a separator outside k or ASCII
		if i < 0 || i >= len(k) || k[i] >= utf8.RuneSelf {
			return ' '
		}
		return k[i]
	}
	for i := 0; i < len(k); i++ {
		c, prev, next := k[i], at(i-1), at(i+1)
		if !isASCIIAlnum(c) {
			continue
		}
		upper := unicode.IsUpper(rune(c))
		if !isASCIIAlnum(prev) || isDigit(c) != isDigit(prev) ||
			upper && (unicode.IsLower(rune(prev)) || unicode.IsUpper(rune(prev)) && unicode.IsLower(rune(next))) {
			starts = append(starts, len(buf))
		}
		buf = append(buf, byte(unicode.ToLower(rune(c))))
	}
	return buf, append(starts, len(buf))
}

// Value matching.

// sensitiveString reports whether s, trimmed, looks like a payment card
// number or a US social security number. The text is first read like keys
// are (NFKC, invisible characters removed, any dash a '-', any space a ' '),
// so fullwidth digits or a zero-width space change nothing. Strings longer
// than 64 bytes of printable ASCII, or 512 bytes otherwise, are not read.
func sensitiveString(s string) bool {
	limit := 512
	if isPlainASCII(s) {
		limit = 64
	}
	if len(s) < 11 || len(s) > limit {
		return false
	}
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.Is(unicode.Pd, r):
			return '-'
		case isInvisible(r):
			return -1
		}
		return r
	}, norm.NFKC.String(s)))
	return ssnPattern.MatchString(s) || cardPattern.MatchString(s) && luhnValid(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

var (
	// ssnPattern is NNN-NN-NNNN, with dashes or spaces.
	ssnPattern = regexp.MustCompile(`^[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}$`)
	// cardPattern is 13 to 19 digits, optionally separated by spaces or dashes.
	cardPattern = regexp.MustCompile(`^[0-9](?:[ -]*[0-9]){12,18}$`)
	// cardIntegerPattern is the decimal digits of an integer of 13 to 19
	// digits, the first 2 to 6.
	cardIntegerPattern = regexp.MustCompile(`^[2-6][0-9]{12,18}$`)
)

func looksLikeCardInteger(s string) bool {
	return cardIntegerPattern.MatchString(s) && luhnValid(s)
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
