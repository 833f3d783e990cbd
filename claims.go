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
	"math/big"
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

// maxClaimsDepth bounds the nesting of claims; it catches cycles too.
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
// with more care than the guide's example (three exact top-level keys).
//
// A policy always drops, at any depth (inside objects and arrays):
//
//   - keys naming a password, a US social security number or a payment card,
//     in any spelling. A key is first read as ASCII: compatibility forms
//     ("ｐａｓｓｗｏｒｄ", ligatures) and accents are undone (NFKD), invisible
//     characters and combining marks are ignored, letters are case-folded in
//     full ("ß" is "ss"), and Cyrillic, Greek and Armenian letters that look
//     Latin are read as such ("pаssword" with a Cyrillic "а"). A key that is
//     not UTF-8, mixes Latin with Cyrillic, Greek, Armenian or Cherokee
//     letters, or holds a Latin letter with no ASCII reading is dropped
//     whatever it says. The reading is split into lowercase words (at
//     separators, case changes and letter/digit boundaries: "creditCardNumber"
//     and "CREDIT-CARD-NUMBER" are credit+card+number) and the key is dropped
//     when (a) its letters contain "password", "passwd", "passphrase",
//     "passcode", "creditcard", "debitcard", "cardnum", "cardverification",
//     "cardsecurity", "securitycode" or "socialsecurity", or (b) a word or a
//     run of words joined is "ssn", "pwd", "pin", "cvv", "cvc", "cvn", "ccv",
//     "cardno", "ccnum", "ccnumber" or "ccno", or its plural. Rule (b) matches
//     whole words, so "pin" drops "pinCode" and "user_pin" but not "shipping"
//     or "opinion"; the price is that an all-lowercase "userpin" is kept:
//     write keys with separators or camelCase, or add them to Deny;
//   - string values that, trimmed and read like keys, are a payment card
//     number (13 to 19 digits, optionally grouped by spaces or dashes, passing
//     the Luhn check) or a US social security number (NNN-NN-NNNN), under any
//     key;
//   - integer values (Go integers, integral floats, json.Number) of 13 to 19
//     digits that start with 2 to 6 and pass the Luhn check; the first digit
//     keeps Unix millisecond timestamps.
//
// A dropped array element shortens the array. Values of other Go types
// (structs, typed maps, time.Time) are first converted to their JSON form,
// so their field names are checked too.
type ClaimsPolicy struct {
	// MaxBytes is the largest size of the sanitized claims, in bytes of the
	// JSON sent to Fanfare; one byte more fails with ErrClaimsTooLarge.
	// Default (zero or negative): 10 000, the vendor guide's limit.
	MaxBytes int
	// Deny lists more keys to drop, at any depth, matched like rule (b):
	// "birthDate" drops "birth_date" and "birthDateVerified", not
	// "birthdateverified". An entry with no ASCII reading (in Han, say)
	// matches nothing: use Allow to keep such keys out. Default: none.
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

func claimsErrorStatus(err error) int {
	if errors.Is(err, ErrClaimsTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// logClaimsError logs too large claims (the user's data) at Warn, claims
// that cannot be encoded (the application's bug) at Error.
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
	allow      map[string]struct{} // allowKey of the Allow entries; nil when not in allow-list mode
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
			s.allow[allowKey(a)] = struct{}{}
		}
	}
	return s
}

// sanitize copies m, dropping what the policy denies, encodes the copy once
// and measures those very bytes. It returns the copy and its encoding, or
// nils when no claims remain.
func (s *claimsSanitizer) sanitize(m map[string]any) (map[string]any, json.RawMessage, error) {
	w := claimsWalk{s: s}
	out, err := w.object(m, 0, true)
	if err != nil {
		if !errors.Is(err, ErrClaimsTooLarge) { // the size is about the whole, not a place
			err = fmt.Errorf("%w at claims%s", err, w.path)
		}
		return nil, nil, err
	}
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

// claimsWalk copies claims, keeping what the policy allows. Each value
// takes at least a byte of JSON, so counting them stops a map shared many
// times over from making the walk run away.
type claimsWalk struct {
	s    *claimsSanitizer
	kept int
	path string // where an error happened: ["a"][0]["b"]
}

// object copies m; top says m is the claims map itself.
func (w *claimsWalk) object(m map[string]any, depth int, top bool) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if w.s.dropKey(k, top) {
			continue
		}
		nv, keep, err := w.value(v, depth+1)
		if err != nil {
			w.path = "[" + strconv.Quote(truncate(k, 40)) + "]" + w.path
			return nil, err
		}
		if keep {
			out[k] = nv
		}
	}
	return out, nil
}

func (w *claimsWalk) array(a []any, depth int) ([]any, error) {
	out := make([]any, 0, len(a))
	for i, v := range a {
		nv, keep, err := w.value(v, depth+1)
		if err != nil {
			w.path = "[" + strconv.Itoa(i) + "]" + w.path
			return nil, err
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
		return v, !looksLikeCardInteger(string(x)) && !integralCard(x), nil
	case map[string]any:
		if x == nil {
			return nil, true, nil
		} else if depth > maxClaimsDepth {
			return nil, false, errTooDeep
		}
		out, err := w.object(x, depth, false)
		return out, err == nil, err
	case []any:
		if x == nil {
			return nil, true, nil
		} else if depth > maxClaimsDepth {
			return nil, false, errTooDeep
		}
		out, err := w.array(x, depth)
		return out, err == nil, err
	}
	// Any other type: its JSON form is what would be sent.
	g, err := toGenericJSON(v)
	if err != nil {
		return nil, false, err
	}
	w.kept--
	return w.value(g, depth)
}

// jsonNumberPattern is what encoding/json writes as a json.Number ("" as 0).
var jsonNumberPattern = regexp.MustCompile(`^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)?$`)

// toGenericJSON converts v to the values encoding/json decodes into. Its
// errors name v's type only: the text of encoding/json's errors may quote a
// value.
func toGenericJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	var g any
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		err = dec.Decode(&g)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: a %T value cannot be encoded", ErrInvalidClaims, v)
	}
	return g, nil
}

var errTooDeep = fmt.Errorf("%w: nested deeper than %d levels (or a cycle)", ErrInvalidClaims, maxClaimsDepth)

// deniedStems and deniedWords are rules (a) and (b) of ClaimsPolicy.
var deniedStems = []string{
	"password", "passwd", "passphrase", "passcode",
	"creditcard", "debitcard", "cardnum", "cardverification", "cardsecurity", "securitycode",
	"socialsecurity",
}

var deniedWords = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, w := range []string{"ssn", "pwd", "pin", "cvv", "cvc", "cvn", "ccv", "cardno", "ccnum", "ccnumber", "ccno"} {
		m[w], m[w+"s"] = struct{}{}, struct{}{}
	}
	return m
}()

// dropKey reports whether the policy drops key k; top says k is a key of
// the claims map itself.
func (s *claimsSanitizer) dropKey(k string, top bool) bool {
	joined, split, doubt := asciiForms(k)
	if doubt {
		return true
	}
	if top && s.allow != nil {
		if _, ok := s.allow[allowKey(k)]; !ok {
			return true
		}
	}
	return s.denies(joined) || s.denies(split)
}

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

// allowKey is the form Allow entries and keys are matched in: the reduced
// key, or for a key with no ASCII reading ("名前", "$$") its folded NFKC
// form, kept apart by a NUL so that such keys never all match as "".
func allowKey(k string) string {
	if r := reduceKey(k); r != "" {
		return r
	}
	return "\x00" + cases.Fold().String(norm.NFKC.String(k))
}

// reduceKey returns the lowercase ASCII letters and digits of k's ASCII
// form, the form Deny and Allow entries are compared in.
func reduceKey(k string) string {
	joined, _, _ := asciiForms(k)
	norm, _ := splitWords(joined, nil, nil)
	return string(norm)
}

// asciiForms reads key k as ASCII letters, digits and separators (spaces),
// case kept for the word splitter, as ClaimsPolicy describes. Invisible
// characters are removed in joined and are separators in split (so
// "user\u200bPin" is judged as "userPin" and as "user Pin"); split is ""
// when k has none. doubt reports a key to drop whatever it reads as.
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
// reads: controls, format characters (zero-width space, soft hyphen, bidi
// controls, tags), default-ignorable ones and combining marks.
func isInvisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Mn, unicode.Me,
		unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// lookalikes maps letters that pass for Latin ones in common fonts, and Latin
// letters NFKD leaves alone, to ASCII, case kept. A key mixing scripts is
// dropped anyway, so the table only has to catch keys spelled wholly in
// look-alikes. Extend it, never shrink it.
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
	// Latin.
	'ı': "i", 'ȷ': "j", 'ɑ': "a", 'ɡ': "g", 'ɩ': "i", 'ɪ': "i", 'ʟ': "l", 'ɴ': "n", 'ʀ': "r",
	'ʏ': "y", 'ʙ': "b", 'ʜ': "h", 'ɢ': "g", 'ᴀ': "a", 'ᴄ': "c", 'ᴅ': "d", 'ᴇ': "e", 'ᴊ': "j",
	'ᴋ': "k", 'ᴍ': "m", 'ᴏ': "o", 'ᴘ': "p", 'ᴛ': "t", 'ᴜ': "u", 'ᴠ': "v", 'ᴡ': "w", 'ᴢ': "z",
	'ꜱ': "s", 'ꜰ': "f", 'ø': "o", 'Ø': "O", 'ł': "l", 'Ł': "L", 'đ': "d", 'Đ': "D", 'ħ': "h",
	'Ħ': "H", 'ŧ': "t", 'Ŧ': "T", 'ƀ': "b", 'ɨ': "i", 'ʉ': "u", 'æ': "ae", 'Æ': "AE",
	'œ': "oe", 'Œ': "OE", 'ð': "d", 'Ð': "D",
}

// splitWords appends the lowercase letters and digits of the ASCII form k to
// buf, and where each word starts, then len(buf), to starts. Words break at
// separators, at a lower-to-upper case change, before the last capital of
// an acronym followed by a lowercase letter ("SSNLast" is ssn+last), and
// between letters and digits.
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

// sensitiveString reports whether s looks like a payment card number or a
// US social security number, read like keys are (fullwidth digits or a
// zero-width space change nothing). Strings too long to be either are not
// read.
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
	ssnPattern         = regexp.MustCompile(`^[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}$`)
	cardPattern        = regexp.MustCompile(`^[0-9](?:[ -]*[0-9]){12,18}$`)
	cardIntegerPattern = regexp.MustCompile(`^[2-6][0-9]{12,18}$`)
)

// integralCard reports a json.Number written with a fraction or an
// exponent ("4111111111111111.0", "4.111111111111111e15") whose value is a
// card number, as float64 claims are read. 128 bits hold 19 digits exactly.
func integralCard(n json.Number) bool {
	f, _, err := big.ParseFloat(string(n), 10, 128, big.ToNearestEven)
	if err != nil || !f.IsInt() || f.Cmp(big.NewFloat(1e12)) < 0 || f.Cmp(big.NewFloat(1e19)) >= 0 {
		return false
	}
	i, _ := f.Int(nil)
	return looksLikeCardInteger(i.String())
}

func looksLikeCardInteger(s string) bool {
	return cardIntegerPattern.MatchString(s) && luhnValid(s)
}

// luhnValid runs the Luhn check over the digits of s, ignoring the rest.
func luhnValid(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		if !isDigit(s[i]) {
			continue
		}
		d := int(s[i] - '0')
		if double {
			d = [10]int{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}[d] // 2d, digits summed
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
