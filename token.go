package fanfare

import (
	"errors"
	"fmt"
	"net/http"
)

// A TokenExtractor returns the admission token a request carries, or ""
// when it carries none. An error refuses the request with 403
// ADMISSION_INVALID (503 if it matches [ErrUnavailable]).
// AdmissionOptions.Token takes one; compose several with [TokenFrom].
type TokenExtractor func(r *http.Request) (string, error)

const maxTokenBytes = 8 << 10 // an admission token is a few hundred bytes

var defaultToken = TokenFrom(HeaderToken("Fanfare-Admission"), BodyToken("admissionToken"))

// HeaderToken takes the token from the request header name, e.g.
// HeaderToken("Fanfare-Admission"). A request repeating the header is
// refused.
func HeaderToken(name string) TokenExtractor {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) (string, error) {
		switch v := r.Header[name]; len(v) {
		case 0:
			return "", nil
		case 1:
			return v[0], nil
		}
		return "", errors.New("fanfare: more than one admission header")
	}
}

// CookieToken takes the token from the cookie name. A request carrying the
// cookie twice with different values is refused.
func CookieToken(name string) TokenExtractor {
	return func(r *http.Request) (token string, err error) {
		for _, c := range r.CookiesNamed(name) {
			if token, err = oneToken(token, c.Value); err != nil {
				return "", err
			}
		}
		return token, nil
	}
}

// BodyToken takes the token from the string field of a JSON request body,
// e.g. the guide's "admissionToken", matched in any case; a body repeating
// it in any case is refused. Only a body declared JSON (application/json or
// +json) is read: a cross-site form can post text/plain without a
// preflight. The body is put back for the handler.
func BodyToken(field string) TokenExtractor {
	return func(r *http.Request) (string, error) {
		if !isJSON(r.Header) {
			return "", nil
		}
		body, err := bodyOf(r)
		if err != nil {
			return "", fmt.Errorf("fanfare: %w", err)
		}
		return body.str(field)
	}
}

// TokenFrom takes the token from every source that carries one; two
// different tokens are refused (403 ADMISSION_INVALID), never decided by
// order.
func TokenFrom(sources ...TokenExtractor) TokenExtractor {
	sources = append([]TokenExtractor(nil), sources...)
	return func(r *http.Request) (token string, err error) {
		for _, src := range sources {
			t, err := src(r)
			if err == nil {
				token, err = oneToken(token, t)
			}
			if err != nil {
				return "", err
			}
		}
		return token, nil
	}
}

// oneToken adds t to the token found so far: an empty or repeated token
// changes nothing, a different one is refused.
func oneToken(found, t string) (string, error) {
	switch {
	case t == "" || t == found:
		return found, nil
	case found != "":
		return "", errors.New("fanfare: the request carries two different admission tokens")
	}
	return t, nil
}
