package fanfare

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file reads what a checkout request says: the admission token, the
// JSON body's fields, and the distribution it names.

// requestBody is the top level of a JSON request body, decoded once and
// shared with the DistributionFrom… helpers through the request context: its
// keys (unescaped) and raw values, in order, both usually slices of the
// buffered body. decodeObject leaves no two keys equal under case folding.
type requestBody []bodyField

// bodyField is one top-level member of a request body.
type bodyField struct {
	key []byte // unescaped, valid UTF-8
	raw []byte // the value as the body carries it
}

// field returns the field name as encoding/json would match it to a struct
// field tagged name: by exact key, else by a key equal under case folding.
// decodeObject left at most one key of each folding, so the first key equal
// under folding is the one.
func (b requestBody) field(name string) (json.RawMessage, bool) {
	for i := range b {
		if string(b[i].key) == name {
			return b[i].raw, true
		}
	}
	for i := range b {
		if equalFold(b[i].key, name) {
			return b[i].raw, true
		}
	}
	return nil, false
}

// equalFold is strings.EqualFold(string(k), name) without the copy.
func equalFold(k []byte, name string) bool {
	for i := 0; i < len(k); i++ {
		if k[i] >= utf8.RuneSelf {
			return strings.EqualFold(string(k), name)
		}
	}
	// k is ASCII: a non-ASCII rune of name may still fold to it ('ſ', 'K').
	if len(k) != len(name) {
		return strings.EqualFold(string(k), name)
	}
	for i := 0; i < len(k); i++ {
		a, c := k[i], name[i]
		if a == c {
			continue
		}
		if c >= utf8.RuneSelf {
			return strings.EqualFold(string(k), name)
		}
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if a != c {
			return false
		}
	}
	return true
}

// str returns the string field name (matched as [requestBody.field] does),
// "" when absent or null. A field of another type is an error: the request
// is not what the guide describes.
func (b requestBody) str(name string) (string, error) {
	raw, ok := b.field(name)
	if !ok {
		return "", nil
	}
	if s, ok := plainString(raw); ok {
		return s, nil
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

// plainString decodes a JSON string (or null) of a valid body when
// encoding/json would give its content back as it is: no escapes, valid
// UTF-8.
func plainString(raw []byte) (string, bool) {
	if string(raw) == "null" {
		return "", true
	}
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	if !plainKey(in) {
		return "", false
	}
	return string(in), true
}

// bodyCloser restores a buffered body; closing closes the original.
type bodyCloser struct {
	*bytes.Reader
	io.Closer
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

// decodeBody reads at most limit bytes of r's body, restores it and decodes
// its top level. An empty body decodes to nil.
func decodeBody(r *http.Request, limit int64) (requestBody, error) {
	raw, err := readCappedSized(r.Body, limit, r.ContentLength)
	if err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	r.Body = bodyCloser{bytes.NewReader(raw), r.Body}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	return decodeObject(raw)
}

// readCappedSized is readCapped with the body's declared length as a
// first guess of its size, so a body that says how long it is is read into
// one buffer instead of a growing one. The guess only sizes the buffer:
// what is read, and the limit, are readCapped's.
func readCappedSized(r io.Reader, n, size int64) ([]byte, error) {
	if size <= 0 || size > n {
		return readCapped(r, n)
	}
	lr := io.LimitedReader{R: r, N: n + 1}
	buf := make([]byte, 0, size+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > n {
		return nil, fmt.Errorf("%w: it exceeds %d bytes", errBodyTooLarge, n)
	}
	return buf, nil
}

// errNotObject refuses a body that is not one JSON object.
var errNotObject = errors.New("request body is not a JSON object")

// decodeObject decodes the top level of a JSON object, refusing two keys
// that are equal under Unicode case folding ("consumerId" twice, or beside
// "ConsumerID" or "con\u017fumerId"): encoding/json matches a struct field
// case-insensitively and keeps the last match, so such a body would show the
// handler another value than the one checked here.
//
// The body is checked whole by json.Valid (the grammar and nesting limit of
// json.Unmarshal), then its top level is walked once without allocating:
// keys and values stay slices of raw, unless a key has escapes or invalid
// UTF-8, which encoding/json's own unquoting then decodes.
func decodeObject(raw []byte) (requestBody, error) {
	if !json.Valid(raw) {
		return nil, errNotObject
	}
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, errNotObject
	}
	i = skipWS(raw, i+1)
	var fields [8]bodyField
	body := requestBody(fields[:0])
	if raw[i] != '}' {
		for {
			end := stringEnd(raw, i)
			key := raw[i+1 : end-1]
			if !plainKey(key) {
				var k string
				if err := json.Unmarshal(raw[i:end], &k); err != nil {
					return nil, errNotObject
				}
				key = []byte(k)
			}
			i = skipWS(raw, end)
			i = skipWS(raw, i+1) // ':'
			vend := valueEnd(raw, i)
			body = append(body, bodyField{key: key, raw: raw[i:vend:vend]})
			i = skipWS(raw, vend)
			if raw[i] == '}' {
				break
			}
			i = skipWS(raw, i+1) // ','
		}
	}
	if err := checkFoldedDuplicates(body); err != nil {
		return nil, err
	}
	return append(requestBody(nil), body...), nil
}

// plainKey reports the content of a JSON string (of a valid body) that
// unquotes to itself: no escapes, valid UTF-8.
func plainKey(k []byte) bool {
	for _, c := range k {
		if c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			return bytes.IndexByte(k, '\\') < 0 && utf8.Valid(k)
		}
	}
	return true
}

// checkFoldedDuplicates refuses two keys equal under case folding: by
// pairs for a few keys, by their folded forms beyond.
func checkFoldedDuplicates(body requestBody) error {
	dup := func(k []byte) error {
		return fmt.Errorf("request body repeats the field %q (in some case)", truncate(string(k), 40))
	}
	if len(body) <= 16 {
		for i := 1; i < len(body); i++ {
			for j := 0; j < i; j++ {
				if bytes.EqualFold(body[i].key, body[j].key) {
					return dup(body[i].key)
				}
			}
		}
		return nil
	}
	folded := make(map[string]struct{}, len(body))
	for _, f := range body {
		k := foldKey(string(f.key))
		if _, ok := folded[k]; ok {
			return dup(f.key)
		}
		folded[k] = struct{}{}
	}
	return nil
}

// foldKey maps s to one representative of the strings strings.EqualFold
// holds equal to it: each rune becomes the least rune of its case-folding
// orbit.
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s) // 'A' < 'a': the least of each ASCII orbit
	}
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

// skipWS returns the index of the first non-space byte of raw from i.
func skipWS(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the valid JSON string at raw[i].
func stringEnd(raw []byte, i int) int {
	for i++; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(raw)
}

// valueEnd returns the index just past the valid JSON value at raw[i].
func valueEnd(raw []byte, i int) int {
	switch raw[i] {
	case '"':
		return stringEnd(raw, i)
	case '{', '[':
		depth := 0
		for ; i < len(raw); i++ {
			switch raw[i] {
			case '"':
				i = stringEnd(raw, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(raw)
	}
	for ; i < len(raw); i++ {
		switch raw[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// decodeObjectBody decodes a body of another Content-Type when it opens a
// JSON object, with decodeBody's limit; any other body is put back unread
// past its first non-space byte, however long it is.
func decodeObjectBody(r *http.Request, limit int64) (requestBody, error) {
	var head []byte
	var chunk [512]byte
	for {
		n, err := r.Body.Read(chunk[:])
		for _, c := range chunk[:n] {
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				continue
			}
			head = append(head, chunk[:n]...)
			if c != '{' {
				r.Body = bodyReadCloser{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
				return nil, nil
			}
			if int64(len(head)) > limit {
				return nil, fmt.Errorf("request body: body exceeds %d bytes", limit)
			}
			rest, err := readCapped(r.Body, limit-int64(len(head)))
			if err != nil {
				return nil, fmt.Errorf("request body: %w", err)
			}
			raw := append(head, rest...)
			r.Body = bodyCloser{bytes.NewReader(raw), r.Body}
			return decodeObject(raw)
		}
		head = append(head, chunk[:n]...)
		if int64(len(head)) > limit {
			return nil, fmt.Errorf("request body: body exceeds %d bytes", limit)
		}
		if err == io.EOF {
			r.Body = bodyCloser{bytes.NewReader(head), r.Body}
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
	}
}

// bodyReadCloser puts back a body partly read; closing closes the original.
type bodyReadCloser struct {
	io.Reader
	io.Closer
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
