package fanfare

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// refDecodeObject is decodeObject as it was before the one-pass scanner:
// encoding/json's tokenizer, every key and value copied, duplicates found
// by folded key. FuzzDecodeObjectMatchesReference holds the scanner to it.
func refDecodeObject(raw []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errNotObject
	}
	body := map[string]json.RawMessage{}
	folded := make(map[string]struct{})
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errNotObject
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errNotObject
		}
		f := foldKey(key)
		if _, dup := folded[f]; dup {
			return nil, errors.New("dup")
		}
		folded[f] = struct{}{}
		body[key] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotObject
	}
	return body, nil
}

// FuzzDecodeObjectMatchesReference: the scanner accepts exactly the bodies
// the tokenizer accepted, with the same keys and the same values (compact,
// as the tokenizer compacted them), and reads each field alike.
func FuzzDecodeObjectMatchesReference(f *testing.F) {
	for _, s := range []string{
		`{"consumerId":"c_1","admissionToken":"t"}`,
		`{"ConsumerID":"c_2"}`, `{"consumerId":"a","consumerId":"b"}`,
		`{"con\u017fumerId":"x"}`, `{"\u212aey":1,"key":2}`, `{"k\u0065y":"\u00e9\ud800"}`,
		` { "a" : [ 1 , { "b" : "}" } ] , "c" : -1.5e3 , "d" : true } `,
		"{\"a\xff\":\"b\xfe\"}", `{"a":"\"\\"}`, `{}{}`, `[]`, `"s"`, `{"a":1,}`, `{"a" 1}`,
		`{"a":{"b":[]},"A":null}`, `{"":1,"":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := decodeObject(raw)
		want, werr := refDecodeObject(raw)
		if (err == nil) != (werr == nil) {
			t.Fatalf("body %q: scanner error %v, reference error %v", raw, err, werr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("body %q: %d fields, reference %d", raw, len(got), len(want))
		}
		for _, f := range got {
			w, ok := want[string(f.key)]
			if !ok {
				t.Fatalf("body %q: key %q not in the reference", raw, f.key)
			}
			var a, b bytes.Buffer
			if json.Compact(&a, f.raw) != nil || json.Compact(&b, w) != nil || a.String() != b.String() {
				t.Fatalf("body %q key %q: value %q, reference %q", raw, f.key, f.raw, w)
			}
			gs, gerr := got.str(string(f.key))
			ws, werr := requestBodyRef(want).str(string(f.key))
			if gs != ws || (gerr == nil) != (werr == nil) {
				t.Fatalf("body %q key %q: str %q %v, reference %q %v", raw, f.key, gs, gerr, ws, werr)
			}
		}
	})
}

// requestBodyRef reads a reference body's string fields as str did.
type requestBodyRef map[string]json.RawMessage

func (b requestBodyRef) str(name string) (string, error) {
	raw, ok := b[name]
	if !ok {
		return "", nil
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	if s == nil {
		return "", nil
	}
	return *s, nil
}
