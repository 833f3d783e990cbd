package fanfare

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"
)

// This file reads what a checkout request says: the admission token, the
// JSON body's fields, and the distribution it names.

// requestBody is the top level of a JSON request body, decoded once and
// shared with the DistributionFrom… helpers through the request context:
// each member's raw value, keyed by its name folded as encoding/json folds
// names to match them to struct fields (see foldName). decodeObject refuses a
// body with two names of one folding, so each key stands for one member.
type requestBody map[string]json.RawMessage

// field returns the member a struct field tagged name would decode from, as
// encoding/json matches it: by a name equal to it under case folding.
func (b requestBody) field(name string) (json.RawMessage, bool) {
	raw, ok := b[foldName(name)]
	return raw, ok
}

// str returns the string field name (matched as [requestBody.field] does),
// "" when absent or null. A field of another type is an error: the request
// is not what the guide describes.
func (b requestBody) str(name string) (string, error) {
	raw, ok := b.field(name)
	if !ok {
		return "", nil
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("body field %q is not a string", truncate(name, 40))
	}
	if s == nil {
		return "", nil
	}
	return *s, nil
}

// readBody buffers and decodes a JSON body when the middleware reads body
// fields, and puts it back for the handler. A body that opens a JSON object
// is decoded whatever its Content-Type says, because Go handlers decode JSON
// without looking: a checked field must not hide behind "text/plain". Other
// bodies are left alone.
func (m *AdmissionGuard) readBody(r *http.Request) (requestBody, *http.Request, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, r, nil
	}
	var body requestBody
	var err error
	if isJSON(r.Header) {
		body, err = decodeBody(r, m.maxBody)
	} else {
		body, err = decodeObjectBody(r, m.maxBody)
	}
	if err != nil {
		return nil, r, err
	}
	// For BodyToken and the DistributionFrom…Body helpers.
	r = r.WithContext(contextWithBody(r.Context(), body))
	return body, r, nil
}

// restoredBody is a request body put back for the handler: what was read,
// then whatever was not; closing closes the original.
type restoredBody struct {
	io.Reader
	io.Closer
}

// decodeBody reads at most limit bytes of r's body, restores it and decodes
// its top level. An empty body decodes to nil.
func decodeBody(r *http.Request, limit int64) (requestBody, error) {
	raw, err := readCapped(r.Body, limit)
	if err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	r.Body = restoredBody{bytes.NewReader(raw), r.Body}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	return decodeObject(raw)
}

// decodeObjectBody decodes a body of another Content-Type when it opens a
// JSON object, with decodeBody's limit; any other body is put back unread
// past its first non-space byte, however long it is.
func decodeObjectBody(r *http.Request, limit int64) (requestBody, error) {
	br := bufio.NewReader(r.Body)
	var lead []byte // the white space before the first other byte
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			r.Body = restoredBody{bytes.NewReader(lead), r.Body}
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			if lead = append(lead, c); int64(len(lead)) > limit {
				return nil, fmt.Errorf("request body: %w: it exceeds %d bytes", errBodyTooLarge, limit)
			}
			continue
		}
		_ = br.UnreadByte() // cannot fail right after ReadByte
		if c != '{' {
			r.Body = restoredBody{io.MultiReader(bytes.NewReader(lead), br), r.Body}
			return nil, nil
		}
		rest, err := readCapped(br, limit-int64(len(lead)))
		if err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
		raw := append(lead, rest...)
		r.Body = restoredBody{bytes.NewReader(raw), r.Body}
		return decodeObject(raw)
	}
}

// errNotObject refuses a body that is not one JSON object.
var errNotObject = errors.New("request body is not a JSON object")

// decodeObject decodes the top level of one JSON object with encoding/json's
// tokenizer, refusing two names that are equal under case folding
// ("consumerId" twice, or beside "ConsumerID" or "con\u017fumerId"):
// encoding/json matches a struct field case-insensitively and keeps the last
// match, so such a body would show the handler another value than the one
// checked here.
func decodeObject(raw []byte) (requestBody, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errNotObject
	}
	body := requestBody{}
	for dec.More() {
		t, err := dec.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return nil, errNotObject
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errNotObject
		}
		k := foldName(name)
		if _, dup := body[k]; dup {
			return nil, fmt.Errorf("request body repeats the field %q (in some case)", truncate(name, 40))
		}
		body[k] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotObject
	}
	return body, nil
}

// foldName maps a JSON name to the one representative of its case-folding
// class that encoding/json uses to match names to struct fields: each rune
// becomes the least rune of its Unicode simple-folding orbit ('k', 'K' and
// the Kelvin sign all become 'K'). foldName(a) == foldName(b) exactly when
// bytes.EqualFold(a, b).
func foldName(s string) string {
	return strings.Map(func(r rune) rune {
		for {
			f := unicode.SimpleFold(r)
			if f <= r {
				return f
			}
			r = f
		}
	}, s)
}

// isJSON reports a Content-Type of application/json or application/*+json.
func isJSON(h http.Header) bool {
	v := h["Content-Type"]
	if len(v) == 0 {
		return false
	}
	ct := v[0]
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	return strings.EqualFold(ct, "application/json") ||
		(len(ct) > len("application/+json") && strings.EqualFold(ct[:len("application/")], "application/") &&
			strings.EqualFold(ct[len(ct)-len("+json"):], "+json"))
}

// maxHelperBody bounds the body the DistributionFrom…Body helpers read when
// they run outside RequireAdmission.
const maxHelperBody = 1 << 20

// bodyOf returns the decoded JSON body: the one RequireAdmission already
// read, or (outside the middleware) one read here and put back.
func bodyOf(r *http.Request) (requestBody, error) {
	if b, ok := bodyFromContext(r.Context()); ok {
		return b, nil
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	return decodeBody(r, maxHelperBody)
}
