// Package claimkey reads a claim key as lowercase ASCII words, whatever its
// spelling, and matches it against the claims sanitizer's deny and allow
// lists: look-alike letters from another script, invisible characters,
// compatibility forms, accents and case forms count as their plain
// spelling. It also tells the claim values that are card or social security
// numbers.
package claimkey

import (
	"bytes"
	"maps"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// A Matcher matches keys by how they read: a stem anywhere in a key's
// letters, a word only as a whole word or a run of whole words ("pin"
// matches "user_pin" and "pinCode", not "shipping").
type Matcher struct {
	stems  []string
	words  map[string]struct{}
	maxLen int // the longest word
}

// NewMatcher returns a Matcher of stems, in lowercase ASCII letters and
// digits, and words, each compared in its reduced form: its lowercase ASCII
// letters and digits ("birth-date" is birthdate). A word with none ("名前",
// "--") is ignored.
func NewMatcher(stems, words []string) *Matcher {
	m := &Matcher{stems: stems, words: make(map[string]struct{}, len(words))}
	m.add(words)
	return m
}

// With returns a copy of m that also matches words.
func (m *Matcher) With(words []string) *Matcher {
	c := &Matcher{stems: m.stems, words: maps.Clone(m.words), maxLen: m.maxLen}
	c.add(words)
	return c
}

func (m *Matcher) add(words []string) {
	for _, w := range words {
		if r := reduce(w); r != "" {
			m.words[r] = struct{}{}
			m.maxLen = max(m.maxLen, len(r))
		}
	}
}

// Match reports whether either reading of key k (see read) holds a stem or
// a word of m, or k cannot be read for sure.
func (m *Matcher) Match(k string) bool {
	joined, split, doubt := read(k)
	return doubt || m.match(joined) || m.match(split)
}

func (m *Matcher) match(form string) bool {
	var lettersArr [64]byte // a usual key stays off the heap
	var startsArr [17]int
	letters, starts := splitWords(form, lettersArr[:0], startsArr[:0])
	for _, stem := range m.stems {
		if bytes.Contains(letters, []byte(stem)) {
			return true
		}
	}
	for i := 0; i+1 < len(starts); i++ {
		for j := i + 1; j < len(starts); j++ {
			run := letters[starts[i]:starts[j]]
			if len(run) > m.maxLen {
				break
			}
			if _, ok := m.words[string(run)]; ok {
				return true
			}
		}
	}
	return false
}

// Name returns the form in which keys and Allow entries are compared: the
// reduced key, or for a key with no ASCII letters or digits ("名前", "$$")
// its folded NFKC form, after a NUL so that such keys never all match as "".
func Name(k string) string {
	if r := reduce(k); r != "" {
		return r
	}
	return "\x00" + cases.Fold().String(norm.NFKC.String(k))
}

// read reads key k as ASCII letters, digits and separators (spaces), case
// kept for splitWords. Compatibility forms and accents are undone (NFKD),
// letters are case-folded in full ("ß" is "ss") and look-alikes read as the
// Latin letter they pass for. Invisible characters are removed in joined and
// are separators in split (so "user\u200bPin" reads as "userPin" and as
// "user Pin"); split is "" when k has none. doubt reports a key that cannot
// be read for sure: not UTF-8, Latin letters mixed with Cyrillic, Greek,
// Armenian or Cherokee ones, or a Latin letter with no ASCII reading.
func read(k string) (joined, split string, doubt bool) {
	if plain(k) {
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
		case alnum(r):
			b.WriteRune(r)
			latin = latin || !digit(r)
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		case invisible(r):
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
			if f := norm.NFKD.String(fold.String(string(r))); f != "" && strings.TrimFunc(f, alnum) == "" {
				b.WriteString(f)
				continue
			}
			doubt = doubt || unicode.Is(unicode.Latin, r)
			b.WriteByte(' ')
		}
	}
	doubt = doubt || latin && foreign
	out := b.String()
	if !strings.Contains(out, "\x00") {
		return out, "", doubt
	}
	return strings.ReplaceAll(out, "\x00", ""), strings.ReplaceAll(out, "\x00", " "), doubt
}

// reduce returns the lowercase ASCII letters and digits of k's joined
// reading: "" for a key with none ("名前", "$$").
func reduce(k string) string {
	joined, _, _ := read(k)
	letters, _ := splitWords(joined, nil, nil)
	return string(letters)
}

// splitWords appends the lowercase letters and digits of form, a reading from
// read, to buf, and where each word starts, then len(buf), to starts.
// Words break at separators, at a lower-to-upper case change, before the
// last capital of an acronym followed by a lowercase letter ("SSNLast" is
// ssn+last), and between letters and digits.
func splitWords(form string, buf []byte, starts []int) ([]byte, []int) {
	at := func(i int) rune { // form[i], or a separator outside form or ASCII
		if i < 0 || i >= len(form) || form[i] >= utf8.RuneSelf {
			return ' '
		}
		return rune(form[i])
	}
	upper := func(r rune) bool { return 'A' <= r && r <= 'Z' }
	lower := func(r rune) bool { return 'a' <= r && r <= 'z' }
	for i := range len(form) {
		c, prev, next := at(i), at(i-1), at(i+1)
		if !alnum(c) {
			continue
		}
		if !alnum(prev) || digit(c) != digit(prev) || upper(c) && (lower(prev) || upper(prev) && lower(next)) {
			starts = append(starts, len(buf))
		}
		buf = append(buf, byte(unicode.ToLower(c)))
	}
	return buf, append(starts, len(buf))
}

// readValue reads a string value the way keys are read, for the checks of
// card numbers and social security numbers: compatibility forms undone
// (NFKC: fullwidth digits are digits), spaces as ' ', dashes as '-',
// invisible characters removed, then trimmed.
func readValue(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.Is(unicode.Pd, r):
			return '-'
		case invisible(r):
			return -1
		}
		return r
	}, norm.NFKC.String(s)))
}

// plain reports whether s is printable ASCII, which reads as itself.
func plain(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r > '~' }) < 0
}

// invisible reports characters that change a key's bytes but not how it
// reads: controls, format characters (zero-width space, soft hyphen, bidi
// controls, tags), default-ignorable ones and combining marks.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Mn, unicode.Me,
		unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

func alnum(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || digit(r) }

func digit(r rune) bool { return '0' <= r && r <= '9' }

// lookalikes maps letters that pass for Latin ones in common fonts, and Latin
// letters NFKD leaves alone, to ASCII, case kept. A key mixing scripts is a
// doubt anyway, so the table only has to catch keys spelled wholly in
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

// SensitiveString reports whether s, read like a key, is a payment card
// number or a US social security number. Strings too long to be either
// (64 bytes of plain ASCII, 512 otherwise) are not read.
func SensitiveString(s string) bool {
	if len(s) < 11 || len(s) > 512 || len(s) > 64 && plain(s) {
		return false
	}
	s = readValue(s)
	return ssnPattern.MatchString(s) || cardPattern.MatchString(s) && luhnValid(s)
}

var (
	ssnPattern  = regexp.MustCompile(`^[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}$`)
	cardPattern = regexp.MustCompile(`^[0-9](?:[ -]*[0-9]){12,18}$`)
)

// CardInteger reports whether n has 13 to 19 digits, starts with 2 to 6
// (not 1: Unix millisecond timestamps are kept) and passes the Luhn check.
func CardInteger(n int64) bool {
	if n < 2e12 || n >= 7e18 {
		return false
	}
	s := strconv.FormatInt(n, 10)
	return '2' <= s[0] && s[0] <= '6' && luhnValid(s)
}

// CardNumber reports whether the JSON number n, however written
// ("4.111111111111111e15"), is a CardInteger. 128 bits hold 19 digits
// exactly.
func CardNumber(n string) bool {
	f, _, err := big.ParseFloat(n, 10, 128, big.ToNearestEven)
	if err != nil {
		return false
	}
	i, acc := f.Int64()
	return acc == big.Exact && CardInteger(i)
}

// luhnValid runs the Luhn check over the digits of s, ignoring the rest.
func luhnValid(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < '0' || s[i] > '9' {
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
