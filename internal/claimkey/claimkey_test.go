package claimkey

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWords(t *testing.T) {
	tests := []struct {
		key  string
		want []string
	}{
		{"password", []string{"password"}},
		{"creditCardNumber", []string{"credit", "card", "number"}},
		{"credit_card-number", []string{"credit", "card", "number"}},
		{"CREDIT_CARD", []string{"credit", "card"}},
		{"userSSN", []string{"user", "ssn"}},
		{"SSNLast4", []string{"ssn", "last", "4"}},
		{"CVV2", []string{"cvv", "2"}},
		{"pin1Code", []string{"pin", "1", "code"}},
		{"user.pin", []string{"user", "pin"}},
		{"__", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			assert.Equal(t, tt.want, wordList(tt.key), "words of %q", tt.key)
		})
	}
}

// wordList returns the words splitWords finds in form.
func wordList(form string) []string {
	letters, starts := splitWords(form, nil, nil)
	var got []string
	for i := 0; i+1 < len(starts); i++ {
		got = append(got, string(letters[starts[i]:starts[i+1]]))
	}
	return got
}

// TestRead pins how keys are read before the deny rules see them.
func TestRead(t *testing.T) {
	tests := []struct {
		key          string
		joined       string
		split        string
		doubt        bool
		wantFastPath bool
	}{
		{key: "creditCard", joined: "creditCard", wantFastPath: true},
		{key: "p\u0430ssword", joined: "password", doubt: true}, // Cyrillic а among Latin letters
		{key: "\u0420\u0410SS", joined: "PASS", doubt: true},
		{key: "\u0420\u0410\u0405\u0405", joined: "PASS"},
		{key: "user\u200bPin", joined: "userPin", split: "user Pin"},
		{key: "AB\u00adc", joined: "ABc", split: "AB c"},
		{key: "\uff30\uff49\uff4e", joined: "Pin"},
		{key: "gro\u00dfe", joined: "grosse"},
		{key: "caf\u00e9", joined: "cafe", split: "cafe "},
		{key: "\u540d\u524d", joined: "  "},
		{key: "\u0438\u043c\u044f", joined: " m "}, // и and я read as nothing Latin
		{key: "pa\u0283word", joined: "pa word", doubt: true},
		{key: "bad\xff", doubt: true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			joined, split, doubt := read(tt.key)
			assert.Equal(t, tt.doubt, doubt, "doubt")
			assert.Equal(t, tt.joined, joined, "joined")
			assert.Equal(t, tt.split, split, "split")
			if tt.wantFastPath {
				assert.Zero(t, testing.AllocsPerRun(10, func() { read(tt.key) }), "allocs for a plain key")
			}
		})
	}
}

func TestReduceAndName(t *testing.T) {
	for key, want := range map[string]string{
		"DateOfBirth":              "dateofbirth",
		"birth-date":               "birthdate",
		"\uff54\uff49\uff45\uff52": "tier",
		"b\u200birth":              "birth",
		"d\u043eb":                 "dob", // a doubt, read all the same
		"\u540d\u524d":             "",
		"--":                       "",
	} {
		assert.Equal(t, want, reduce(key), "reduce(%q)", key)
	}
}

// FuzzRead checks the invariants the deny rules rely on, for any key: a key
// that is not UTF-8 is a doubt; a reading holds only ASCII letters, digits
// and spaces (a printable ASCII key reads as itself); splitWords gives lowercase
// letters and digits with word starts that only grow; and reduce gives a
// fixed point.
func FuzzRead(f *testing.F) {
	for _, k := range []string{"password", "p\u0430ssword", "user\u200bPin", "\uff30in", "gro\u00dfe", "\u540d\u524d", "bad\xff", "SSNLast4"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		joined, split, doubt := read(k)
		if !utf8.ValidString(k) {
			require.True(t, doubt, "a key that is not UTF-8 is a doubt")
		}
		if plain(k) {
			require.Equal(t, k, joined)
			require.Empty(t, split)
		} else {
			for _, form := range []string{joined, split} {
				require.Empty(t, strings.TrimFunc(form, func(r rune) bool { return alnum(r) || r == ' ' }), "reading %q of %q", form, k)
			}
		}
		letters, starts := splitWords(joined, nil, nil)
		require.Empty(t, strings.TrimFunc(string(letters), func(r rune) bool { return 'a' <= r && r <= 'z' || digit(r) }))
		require.Equal(t, len(letters), starts[len(starts)-1])
		for i := 1; i < len(starts); i++ {
			require.Less(t, starts[i-1], starts[i], "word starts of %q", joined)
		}
		r := reduce(k)
		require.Equal(t, string(letters), r)
		require.Equal(t, r, reduce(r))
	})
}

func TestReadValue(t *testing.T) {
	for value, want := range map[string]string{
		"  4111-1111-1111-1111 ":   "4111-1111-1111-1111",
		"\uff14\uff11\uff11\uff11": "4111",
		"4111\u200b1111":           "41111111",
		"123\u201145\u20116789":    "123-45-6789",
		"123\u00a045\t6789":        "123 45 6789",
		"caf\u00e9":                "caf\u00e9",
	} {
		assert.Equal(t, want, readValue(value), "readValue(%q)", value)
	}
}

// TestMatcher: stems match anywhere in a key's letters, words only as a
// whole word or a run of whole words, in either reading of the key; a key
// that cannot be read for sure always matches.
func TestMatcher(t *testing.T) {
	m := NewMatcher([]string{"password"}, []string{"pin", "card-no", "", "名前"})
	for key, want := range map[string]bool{
		"password":      true,
		"userPassword":  true,
		"pass_word":     true, // the letters hold the stem
		"pin":           true,
		"user_pin":      true,
		"pinCode":       true,
		"cardNo":        true, // a run of two words
		"card_no_2":     true,
		"shipping":      false,
		"userpin":       false, // not a word of its own
		"pins":          false, // no plural unless listed
		"cardnotes":     false,
		"user\u200bPin": true, // the split reading
		"p\u0430ss":     true, // Latin mixed with Cyrillic
		"tier":          false,
		"\u540d\u524d":  false, // an entry with no ASCII letters matches nothing
	} {
		assert.Equal(t, want, m.Match(key), "Match(%q)", key)
	}
}

func TestMatcherWith(t *testing.T) {
	base := NewMatcher(nil, []string{"pin"})
	more := base.With([]string{"DateOfBirth"})
	assert.True(t, more.Match("pin") && more.Match("date_of_birth"), "With keeps m's words and adds its own")
	assert.False(t, base.Match("date_of_birth"), "With leaves m as it was")
}

func TestLuhn(t *testing.T) {
	for _, s := range []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "4111 1111 1111 1111"} {
		assert.True(t, luhnValid(s), "luhnValid(%q)", s)
	}
	for _, s := range []string{"4111111111111112", "1234567812345678"} {
		assert.False(t, luhnValid(s), "luhnValid(%q)", s)
	}
}
