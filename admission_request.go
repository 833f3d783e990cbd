package fanfare

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode"
)

// requestBody is the top level of a JSON request body, decoded once and
// shared through the request context: raw values by foldName of their name.
type requestBody map[string]json.RawMessage

// str returns the string field name, matched as encoding/json matches a
// struct tag; "" when absent or null, an error when not a string.
func (b requestBody) str(name string) (string, error) {
	var s string // null leaves it ""
	if raw, ok := b[foldName(name)]; ok && json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("fanfare: body field %q is not a string", truncate(name, 40))
	}
	return s, nil
}

// restoredBody is a body put back for the handler; closing closes the original.
type restoredBody struct {
	io.Reader
	io.Closer
}

// decodeBody decodes r's body, at most limit bytes, and puts it back for the
// handler; an empty body decodes to nil. A body not declared JSON is decoded
// when it opens a JSON object, because Go handlers decode JSON without
// looking: a checked field must not hide behind "text/plain". Any other body
// is read no further than its first non-space byte, however long it is.
func decodeBody(r *http.Request, limit int64) (requestBody, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if !isJSON(r.Header) {
		br := bufio.NewReader(r.Body)
		var lead []byte // the white space before the first other byte
		c, err := br.ReadByte()
		for ; err == nil && (c == ' ' || c == '\t' || c == '\n' || c == '\r'); c, err = br.ReadByte() {
			if lead = append(lead, c); int64(len(lead)) > limit {
				return nil, fmt.Errorf("request body: %w: it exceeds %d bytes", errBodyTooLarge, limit)
			}
		}
		switch {
		case err == nil:
			_ = br.UnreadByte()
		case err != io.EOF:
			return nil, fmt.Errorf("request body: %w", err)
		}
		r.Body = restoredBody{io.MultiReader(bytes.NewReader(lead), br), r.Body}
		if c != '{' {
			return nil, nil
		}
	}
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

var errNotObject = errors.New("request body is not a JSON object")

// decodeObject decodes the top level of one JSON object, refusing two names
// equal under case folding ("consumerId" twice, or beside "ConsumerID"):
// encoding/json keeps the last match, so the handler would see another value
// than the one checked here.
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

// foldName maps each rune to the least of its simple-folding orbit ('k',
// 'K' and the Kelvin sign become 'K'): foldName(a) == foldName(b) exactly
// when bytes.EqualFold(a, b), the folding encoding/json matches fields by.
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
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && (sub == "json" || len(sub) > len("+json") && strings.HasSuffix(sub, "+json"))
}

// bodyOf returns the body RequireAdmission decoded, or (outside the
// middleware) one read here, at most 1 MiB.
func bodyOf(r *http.Request) (requestBody, error) {
	if b, ok := r.Context().Value(requestBodyKey).(requestBody); ok {
		return b, nil
	}
	return decodeBody(r, 1<<20)
}
