package fanfaretest

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

// maxBodyBytes caps every request body the emulator reads.
const maxBodyBytes = 64 << 10

// maxBearerBytes caps the access token read from an Authorization header.
const maxBearerBytes = 8 << 10

// maxFingerprintBytes caps the fingerprint /enter copies into a token.
const maxFingerprintBytes = 1 << 10

// codePayloadTooLarge is the error code of a 413 answer.
const codePayloadTooLarge = "payload_too_large"

// codeMethodNotAllowed is the error code of a 405 answer.
const codeMethodNotAllowed = "method_not_allowed"

type handlerFunc func(w http.ResponseWriter, r *http.Request, d fanfare.Distribution)

// ServeHTTP routes a request to its endpoint. Each endpoint counts the
// request, applies any injected fault, then handles it. Requests under
// /_emulator/ go to the admin API (see [Server.AdminURL]), which is neither
// counted nor faulted.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if strings.HasPrefix(path, adminPrefix) || path == adminPrefix[:len(adminPrefix)-1] {
		s.serveAdmin(w, r)
		return
	}
	switch path {
	case wire.PathAuthorize:
		s.serve(w, r, EndpointAuthorize, false, fanfare.Distribution{}, s.handleAuthorize)
		return
	case wire.PathExchange:
		s.serve(w, r, EndpointExchange, true, fanfare.Distribution{}, s.handleExchange)
		return
	case wire.PathJWKS:
		s.serve(w, r, EndpointJWKS, true, fanfare.Distribution{}, s.handleJWKS)
		return
	}
	d, op, ok := parseOpPath(path)
	if !ok {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "no such endpoint")
		return
	}
	switch op {
	case "enter":
		s.serve(w, r, EndpointEnter, true, d, s.handleEnter)
	case "validate":
		s.serve(w, r, EndpointValidate, false, d, s.handleValidate)
	case "complete":
		s.serve(w, r, EndpointComplete, false, d, s.handleComplete)
	}
}

// serve runs the steps every endpoint shares. Browser endpoints answer CORS
// (preflights are neither counted nor faulted).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, e Endpoint, browser bool, d fanfare.Distribution, h handlerFunc) {
	if browser {
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			hdr.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			hdr.Set("Access-Control-Allow-Headers", s.corsAllowHeaders)
			hdr.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	i := e.index()
	s.calls[i].Add(1)
	if f, ok := s.faults.pick(i); ok && s.applyFault(w, r, f) {
		return
	}
	h(w, r, d)
}

// parseOpPath parses an escaped path "/{queues|draws|auctions}/{id}/{op}"
// with op one of enter, validate, complete. The id is path-unescaped, so an
// id holding "/" travels as %2F.
func parseOpPath(escaped string) (d fanfare.Distribution, op string, ok bool) {
	rest, found := strings.CutPrefix(escaped, "/")
	if !found {
		return d, "", false
	}
	collection, rest, found := strings.Cut(rest, "/")
	if !found {
		return d, "", false
	}
	rawID, op, found := strings.Cut(rest, "/")
	if !found || rawID == "" {
		return d, "", false
	}
	switch op {
	case "enter", "validate", "complete":
	default:
		return d, "", false
	}
	switch collection {
	case "queues":
		d.Type = fanfare.TypeQueue
	case "draws":
		d.Type = fanfare.TypeDraw
	case "auctions":
		d.Type = fanfare.TypeAuction
	default:
		return d, "", false
	}
	id, err := url.PathUnescape(rawID)
	if err != nil || id == "" {
		return fanfare.Distribution{}, "", false
	}
	d.ID = id
	return d, op, true
}

// parseBearer returns the token of an "Authorization: Bearer <token>"
// header value. The scheme is case-insensitive (RFC 9110); the token is one
// non-empty word of at most 8 KiB.
func parseBearer(h string) (string, bool) {
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > maxBearerBytes || strings.ContainsAny(token, " \t\r\n") {
		return "", false
	}
	return token, true
}

// errBodyTooLarge reports a request body over maxBodyBytes.
var errBodyTooLarge = errors.New("request body exceeds 64 KiB")

// readBody reads the request body through the size cap.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, codePayloadTooLarge, errBodyTooLarge.Error())
		} else {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "cannot read body")
		}
		return nil, false
	}
	return b, true
}

// decodeJSON decodes exactly one JSON value from b into v.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return errors.New("body is not the expected JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("body holds data after the JSON object")
	}
	return nil
}

// authorizeRequest is a decoded authorize body, its claims decoded too.
type authorizeRequest struct {
	wire.AuthorizeRequest
	claims map[string]any
}

// decodeAuthorize decodes an authorize body; provider, issuer and subject
// are required, and claims, when present, must be a JSON object.
func decodeAuthorize(b []byte) (authorizeRequest, error) {
	var req authorizeRequest
	if err := decodeJSON(b, &req.AuthorizeRequest); err != nil {
		return req, err
	}
	if req.Provider == "" || req.Issuer == "" || req.Subject == "" {
		return req, errors.New("provider, issuer and subject are required")
	}
	if len(req.Claims) > 0 && json.Unmarshal(req.Claims, &req.claims) != nil {
		return req, errors.New("claims must be a JSON object")
	}
	return req, nil
}

// decodeExchange decodes an exchange body and returns its exchange code.
func decodeExchange(b []byte) (string, error) {
	var req wire.ExchangeRequest
	if err := decodeJSON(b, &req); err != nil {
		return "", err
	}
	if req.ExchangeCode == "" {
		return "", errors.New("exchangeCode is required")
	}
	return req.ExchangeCode, nil
}

// decodeValidate decodes a validate body; consumerId and token are required.
func decodeValidate(b []byte) (wire.ValidateRequest, error) {
	var req wire.ValidateRequest
	if err := decodeJSON(b, &req); err != nil {
		return req, err
	}
	if req.ConsumerID == "" || req.Token == "" {
		return req, errors.New("consumerId and token are required")
	}
	return req, nil
}

// decodeComplete decodes a complete body and returns its consumer id.
func decodeComplete(b []byte) (string, error) {
	var req wire.CompleteRequest
	if err := decodeJSON(b, &req); err != nil {
		return "", err
	}
	if req.ConsumerID == "" {
		return "", errors.New("consumerId is required")
	}
	return req.ConsumerID, nil
}

// allow answers 405 unless the request uses one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "method not allowed")
	return false
}

// authenticated answers 401 unless the request carries the emulator's
// organization id and secret key. Both are compared in constant time, over
// their hashes so that not even their lengths leak.
func (s *Server) authenticated(w http.ResponseWriter, r *http.Request) bool {
	org := sha256.Sum256([]byte(r.Header.Get(wire.HeaderOrganizationID)))
	key := sha256.Sum256([]byte(r.Header.Get(wire.HeaderSecretKey)))
	if subtle.ConstantTimeCompare(org[:], s.orgHash[:])&subtle.ConstantTimeCompare(key[:], s.secretHash[:]) == 1 {
		return true
	}
	writeError(w, http.StatusUnauthorized, wire.CodeUnauthorized, "invalid organization id or secret key")
	return false
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request, _ fanfare.Distribution) {
	if !allow(w, r, http.MethodPost) || !s.authenticated(w, r) {
		return
	}
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	req, err := decodeAuthorize(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error())
		return
	}
	code := "exc_" + randomToken(32)
	expires := s.now().Add(exchangeCodeTTL)
	st := &s.state
	st.mu.Lock()
	st.codes[code] = &exchangeCode{
		id:      identity{req.Provider, req.Issuer, req.Subject},
		claims:  req.claims,
		expires: expires,
	}
	st.mu.Unlock()
	s.recorder.addAuthorization(Authorization{
		Provider: req.Provider, Issuer: req.Issuer, Subject: req.Subject,
		Claims: req.claims, ExchangeCode: code,
	})
	writeJSON(w, http.StatusOK, wire.AuthorizeResponse{
		ExchangeCode: code,
		ExpiresAt:    expires.UTC().Format(time.RFC3339),
	})
}

// handleExchange trades an exchange code for an access token. A valid
// access token in Authorization says who the browser already is: an
// identity seen for the first time is linked to that consumer, and an
// identity linked to another consumer is a conflict. An invalid or expired
// bearer is ignored (the browser is signing in afresh).
func (s *Server) handleExchange(w http.ResponseWriter, r *http.Request, _ fanfare.Distribution) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	code, err := decodeExchange(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error())
		return
	}
	var current string
	if tok, ok := parseBearer(r.Header.Get("Authorization")); ok {
		current, _ = s.verifyAccess(tok)
	}
	now := s.now()
	st := &s.state
	st.mu.Lock()
	rec := st.codes[code]
	switch {
	case rec == nil:
		st.mu.Unlock()
		writeError(w, http.StatusBadRequest, wire.CodeInvalidExchangeCode, "unknown or already used exchange code")
		return
	case !now.Before(rec.expires):
		st.mu.Unlock()
		writeError(w, http.StatusBadRequest, wire.CodeExchangeCodeExpired, "exchange code expired")
		return
	}
	if linked, ok := st.consumers[rec.id]; ok && current != "" && linked != current {
		st.mu.Unlock()
		writeError(w, http.StatusConflict, wire.CodeConsumerConflict, "identity already linked to another consumer")
		return
	}
	consumer := st.consumerFor(rec.id, current)
	delete(st.codes, code)
	st.mu.Unlock()

	token, exp := s.accessToken(consumer, rec.claims)
	writeJSON(w, http.StatusOK, wire.ExchangeResponse{
		AccessToken: token,
		ConsumerID:  consumer,
		ExpiresAt:   exp.UTC().Format(time.RFC3339),
	})
}

func (s *Server) handleEnter(w http.ResponseWriter, r *http.Request, d fanfare.Distribution) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	tok, ok := parseBearer(r.Header.Get("Authorization"))
	if !ok {
		writeError(w, http.StatusUnauthorized, wire.CodeUnauthorized, "Authorization: Bearer <accessToken> required")
		return
	}
	consumer, ok := s.verifyAccess(tok)
	if !ok {
		writeError(w, http.StatusUnauthorized, wire.CodeUnauthorized, "invalid or expired access token")
		return
	}
	var fingerprint string
	if s.fingerprintHeader != "" {
		fingerprint = r.Header.Get(s.fingerprintHeader)
		if len(fingerprint) > maxFingerprintBytes {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "fingerprint header exceeds 1 KiB")
			return
		}
	}
	admitted, waiting := s.enter(d, consumer, fingerprint)
	if waiting != nil {
		writeJSON(w, http.StatusAccepted, waiting)
		return
	}
	writeJSON(w, http.StatusOK, admitted)
}

var (
	trueBody  = []byte("true")
	falseBody = []byte("false")
)

func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request, d fanfare.Distribution) {
	if !allow(w, r, http.MethodPost) || !s.authenticated(w, r) {
		return
	}
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	req, err := decodeValidate(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error())
		return
	}
	valid := s.checkAdmission(d, req.ConsumerID, req.Token)
	s.recorder.addValidate(ValidateCall{Distribution: d, ConsumerID: req.ConsumerID, Token: req.Token, Valid: valid})
	if valid {
		writeRaw(w, http.StatusOK, trueBody)
	} else {
		writeRaw(w, http.StatusOK, falseBody)
	}
}

var completedBody = mustJSON(wire.CompleteResponse{Completed: true})

func (s *Server) handleComplete(w http.ResponseWriter, r *http.Request, d fanfare.Distribution) {
	if !allow(w, r, http.MethodPost) || !s.authenticated(w, r) {
		return
	}
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	consumer, err := decodeComplete(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error())
		return
	}
	if !s.complete(d, consumer) {
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "no admission for this consumer and distribution")
		return
	}
	writeRaw(w, http.StatusOK, completedBody)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request, _ fanfare.Distribution) {
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.jwksBody)
	}
}

// writeJSON writes v as the JSON body of a Fanfare answer. (The library's
// own writer in package fanfare answers for the merchant's app; this one
// plays Fanfare.)
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only the emulator's own types reach here
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal_server_error"}`)
	}
	writeRaw(w, status, body)
}

// writeError writes Fanfare's {"error": code, "message": text} body. The
// message never echoes request data.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, wire.ErrorBody{Error: code, Message: message})
}

// writeRaw writes a pre-encoded body as JSON that no cache may keep.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = cacheControlNoStore
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var (
	contentTypeJSON     = []string{"application/json"}
	cacheControlNoStore = []string{"no-store"}
)

// mustJSON encodes a value of the emulator's own types.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("fanfare: fanfaretest: " + err.Error())
	}
	return b
}
