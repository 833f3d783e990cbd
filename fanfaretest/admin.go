package fanfaretest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

// adminPrefix is where the admin API lives on the emulator's URL.
const adminPrefix = "/_emulator/"

// Error codes of the admin API beyond the ones the emulated API uses.
const (
	codeForbidden      = "forbidden"
	codeClockNotManual = "clock_not_manual"
	codeEntriesNotHeld = "entries_not_held"
)

// AdminURL returns the base URL of the emulator's admin API,
// "http://127.0.0.1:port/_emulator", with no trailing slash.
//
// The admin API puts on HTTP what the Server's methods offer in Go, for
// tests written in other languages (a Node or Python suite driving the
// standalone cmd/fanfare-emulator). It answers only loopback clients that
// address the emulator by a loopback IP or "localhost" (so a web page cannot
// reach it through DNS rebinding), refuses cross-origin browser requests
// (403 {"error":"forbidden"} for all three), and needs no key. Bodies are
// JSON objects of at most 64 KiB (413 beyond); an unknown, misspelt or
// repeated field, an unknown query parameter, a body where none is
// expected, or a value out of range is refused with 400
// {"error":"bad_request","message":"..."} and changes nothing. An unknown
// route answers 404, a wrong method 405 with Allow. Durations are Go
// duration strings ("250ms", "30s", "1h"); times are RFC 3339.
//
//	GET    /_emulator/                 {url, organizationId, publishableKey, jwksUrl, signing, holdEntries, manualClock, fingerprintHeader, admissionTtl, now}
//	POST   /_emulator/admit            {type, id, consumerId, position?, ttl? | expiresAt?, fingerprint?} → {token, consumerId, distributionId, distributionType, position?, admittedAt, expiresAt}
//	POST   /_emulator/faults           {endpoint, status?, latency?, drop?, malformed?, oversized?, times?, fraction?} → {faults: [...]}
//	GET    /_emulator/faults           → {faults: [{endpoint, ..., remaining?}]}
//	DELETE /_emulator/faults[?endpoint=complete] → {faults: [...]} (what is left)
//	GET    /_emulator/calls            → {calls: {authorize: n, exchange: n, enter: n, validate: n, complete: n, jwks: n}}
//	GET    /_emulator/completions      → {completions: [{type, id, consumerId, at}]}
//	GET    /_emulator/completed?type=queue&id=q_1&consumerId=cons_1 → {completed: bool}
//	GET    /_emulator/authorizations   → {authorizations: [{provider, issuer, subject, claims, exchangeCode}]}
//	GET    /_emulator/validations      → {validations: [{type, id, consumerId, token, valid}]}
//	GET    /_emulator/waiting?type=queue&id=q_1 → {waiting: n}
//	POST   /_emulator/admit-waiting    {type, id, count?} → {admitted: n}
//	GET    /_emulator/clock            → {now, manual}
//	POST   /_emulator/clock            {advance: "30s"} or {set: "2030-01-01T00:00:00Z"} → {now, manual}
//	POST   /_emulator/reset            (no body, or {}) → {reset: true}
//
// admit is [Server.AdmitWith]: ttl (negative for a token already expired)
// or expiresAt, not both; position for queues only. faults is
// [Server.InjectFault], [Server.ClearFault] and [Server.ClearFaults]; a
// fault must do something (status, latency, drop, malformed or oversized)
// and may answer in one way only (at most one of status, drop, malformed,
// oversized). calls, completions, completed, authorizations and validations
// are [Server.Calls], [Server.Completions], [Server.Completed],
// [Server.Authorizations] and [Server.ValidateCalls]. waiting and
// admit-waiting are [Server.Waiting], [Server.AdmitNext] (with count) and
// [Server.AdmitWaiting] (without); they answer 409
// {"error":"entries_not_held"} unless Options.HoldEntries is set. POST
// clock moves Options.ManualClock and answers 409
// {"error":"clock_not_manual"} without one. reset is [Server.Reset]:
// counts, recordings and faults are forgotten, admissions are kept.
func (s *Server) AdminURL() string { return s.URL + strings.TrimSuffix(adminPrefix, "/") }

// serveAdmin answers a request under adminPrefix (or the prefix without its
// slash).
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if !loopbackRemote(r.RemoteAddr) {
		writeError(w, http.StatusForbidden, codeForbidden, "the admin API answers loopback clients only")
		return
	}
	if !loopbackHost(r.Host) {
		writeError(w, http.StatusForbidden, codeForbidden, "the admin API answers requests addressed to localhost or a loopback IP only")
		return
	}
	if crossOrigin(r) {
		writeError(w, http.StatusForbidden, codeForbidden, "the admin API refuses cross-origin browser requests")
		return
	}
	op := strings.TrimPrefix(strings.TrimPrefix(r.URL.EscapedPath(), strings.TrimSuffix(adminPrefix, "/")), "/")
	switch op {
	case "":
		if allow(w, r, http.MethodGet) && noInput(w, r) {
			s.adminInfo(w)
		}
	case "admit":
		if allow(w, r, http.MethodPost) && query(w, r) != nil {
			s.adminAdmit(w, r)
		}
	case "faults":
		if !allow(w, r, http.MethodGet, http.MethodPost, http.MethodDelete) {
			return
		}
		switch r.Method {
		case http.MethodGet:
			if noInput(w, r) {
				s.writeFaults(w)
			}
		case http.MethodPost:
			if query(w, r) != nil {
				s.adminInjectFault(w, r)
			}
		case http.MethodDelete:
			s.adminClearFaults(w, r)
		}
	case "calls":
		if allow(w, r, http.MethodGet) && noInput(w, r) {
			calls := make(map[Endpoint]int, numEndpoints)
			for _, e := range endpoints {
				calls[e] = s.Calls(e)
			}
			writeJSON(w, http.StatusOK, struct {
				Calls map[Endpoint]int `json:"calls"`
			}{calls})
		}
	case "completions":
		if allow(w, r, http.MethodGet) && noInput(w, r) {
			s.adminCompletions(w)
		}
	case "completed":
		if allow(w, r, http.MethodGet) {
			s.adminCompleted(w, r)
		}
	case "authorizations":
		if allow(w, r, http.MethodGet) && noInput(w, r) {
			s.adminAuthorizations(w)
		}
	case "validations":
		if allow(w, r, http.MethodGet) && noInput(w, r) {
			s.adminValidations(w)
		}
	case "waiting":
		if allow(w, r, http.MethodGet) {
			s.adminWaiting(w, r)
		}
	case "admit-waiting":
		if allow(w, r, http.MethodPost) && query(w, r) != nil {
			s.adminAdmitWaiting(w, r)
		}
	case "clock":
		if !allow(w, r, http.MethodGet, http.MethodPost) {
			return
		}
		if r.Method == http.MethodGet {
			if noInput(w, r) {
				s.writeClock(w)
			}
		} else if query(w, r) != nil {
			s.adminMoveClock(w, r)
		}
	case "reset":
		if allow(w, r, http.MethodPost) && query(w, r) != nil {
			s.adminReset(w, r)
		}
	default:
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "no such admin endpoint; GET "+adminPrefix+" describes the emulator")
	}
}

// loopbackRemote reports whether a RemoteAddr ("ip:port") is a loopback
// address. Anything unparsable is not.
func loopbackRemote(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// loopbackHost reports whether a Host header names localhost or a loopback
// IP, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// crossOrigin reports a request a browser sent from another origin, as
// http.CrossOriginProtection detects it: by Sec-Fetch-Site, else by an
// Origin whose host differs from Host. Clients that are not browsers send
// neither header.
func crossOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "":
	case "same-origin", "none":
		return false
	default:
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host != r.Host
}

// query parses the query string, refusing any parameter not in allowed and
// any given twice. It answers 400 and returns nil on refusal.
func query(w http.ResponseWriter, r *http.Request, allowed ...string) url.Values {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "malformed query string")
		return nil
	}
	for k, v := range q {
		switch {
		case !contains(allowed, k):
			if len(allowed) == 0 {
				writeError(w, http.StatusBadRequest, wire.CodeBadRequest, fmt.Sprintf("unknown query parameter %q: this endpoint takes none", k))
			} else {
				writeError(w, http.StatusBadRequest, wire.CodeBadRequest, fmt.Sprintf("unknown query parameter %q (known: %s)", k, strings.Join(allowed, ", ")))
			}
			return nil
		case len(v) > 1:
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, fmt.Sprintf("query parameter %q given twice", k))
			return nil
		}
	}
	return q
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// noBody answers 400 unless the request has an empty body: a GET or DELETE
// that carries one is a client that meant something the API does not do.
func noBody(w http.ResponseWriter, r *http.Request) bool {
	b, ok := readBody(w, r)
	if !ok {
		return false
	}
	if len(b) != 0 {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "this endpoint takes no body")
		return false
	}
	return true
}

// noInput answers 400 unless the request has no query and no body.
func noInput(w http.ResponseWriter, r *http.Request) bool {
	return query(w, r) != nil && noBody(w, r)
}

// readAdminBody reads and strictly decodes the JSON object body into v (a
// pointer to a struct): every key must be one of v's JSON field names,
// spelled exactly and given once. It answers 400 (413 when too large) and
// returns false on refusal. With optional, an empty body decodes as {}.
func readAdminBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	b, ok := readBody(w, r)
	if !ok {
		return false
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return true
		}
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "a JSON object body is required")
		return false
	}
	if err := decodeStrict(b, v); err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error())
		return false
	}
	return true
}

// decodeStrict decodes one JSON object from b into v, refusing unknown,
// misspelt (encoding/json matches names in any case) and repeated keys,
// values of the wrong type and trailing data.
func decodeStrict(b []byte, v any) error {
	known := jsonFields(v)
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("body must be a JSON object")
	}
	seen := make(map[string]bool, len(known))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("body is not valid JSON")
		}
		key, _ := tok.(string)
		switch {
		case len(known) == 0:
			return fmt.Errorf("unknown field %q: this endpoint takes no fields", truncateString(key, 64))
		case !contains(known, key):
			return fmt.Errorf("unknown field %q (known: %s)", truncateString(key, 64), strings.Join(known, ", "))
		case seen[key]:
			return fmt.Errorf("field %q given twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return errors.New("body is not valid JSON")
		}
	}
	if _, err := dec.Token(); err != nil {
		return errors.New("body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("body holds data after the JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return fmt.Errorf("field %q must be %s", typeErr.Field, jsonKind(typeErr.Type))
		}
		return errors.New("body is not the expected JSON object")
	}
	return nil
}

// jsonFields lists the JSON names of the fields of the struct v points to.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v).Elem()
	names := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// jsonKind describes the JSON a Go type decodes from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	}
	return "a " + t.Kind().String()
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseDistribution builds the distribution named by a type and an id.
func parseDistribution(typ, id string) (fanfare.Distribution, error) {
	switch {
	case typ == "":
		return fanfare.Distribution{}, errors.New(`"type" is required: queue, draw or auction`)
	case id == "":
		return fanfare.Distribution{}, errors.New(`"id" is required: the distribution's id`)
	}
	// id is set, so Validate can only refuse the type.
	d := fanfare.Distribution{Type: fanfare.DistributionType(typ), ID: id}
	if d.Validate() != nil {
		return fanfare.Distribution{}, fmt.Errorf(`"type" must be queue, draw or auction, not %q`, truncateString(typ, 32))
	}
	return d, nil
}

// parseDuration parses a duration field.
func parseDuration(field, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf(`%q must be a duration such as "250ms", "30s" or "1h30m", not %q`, field, truncateString(s, 32))
	}
	return d, nil
}

// parseTime parses an RFC 3339 time field.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf(`%q must be an RFC 3339 time such as "2030-01-01T00:00:00Z", not %q`, field, truncateString(s, 40))
	}
	return t, nil
}

// badRequest writes a 400 with err's text.
func badRequest(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error())
}

// timeString formats an emulator time for the admin API.
func timeString(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (s *Server) adminInfo(w http.ResponseWriter) {
	signing := "ES256"
	if s.hmacKey != nil {
		signing = "HS256"
	}
	writeJSON(w, http.StatusOK, struct {
		URL               string `json:"url"`
		OrganizationID    string `json:"organizationId"`
		PublishableKey    string `json:"publishableKey"`
		JWKSURL           string `json:"jwksUrl"`
		Signing           string `json:"signing"`
		HoldEntries       bool   `json:"holdEntries"`
		ManualClock       bool   `json:"manualClock"`
		FingerprintHeader string `json:"fingerprintHeader,omitempty"`
		AdmissionTTL      string `json:"admissionTtl"`
		Now               string `json:"now"`
	}{
		URL: s.URL, OrganizationID: s.OrganizationID, PublishableKey: s.PublishableKey, JWKSURL: s.JWKSURL(),
		Signing: signing, HoldEntries: s.holdEntries, ManualClock: s.manualClock != nil,
		FingerprintHeader: s.fingerprintHeader, AdmissionTTL: s.admissionTTL.String(), Now: timeString(s.now()),
	})
}

// adminAdmitRequest is the body of POST /_emulator/admit.
type adminAdmitRequest struct {
	Type        string  `json:"type"`
	ID          string  `json:"id"`
	ConsumerID  string  `json:"consumerId"`
	Position    *int    `json:"position"`
	TTL         *string `json:"ttl"`
	ExpiresAt   *string `json:"expiresAt"`
	Fingerprint string  `json:"fingerprint"`
}

// admitSpec checks req and turns it into an admission spec at now.
func (s *Server) admitSpec(req adminAdmitRequest, now time.Time) (admissionSpec, error) {
	d, err := parseDistribution(req.Type, req.ID)
	if err != nil {
		return admissionSpec{}, err
	}
	spec := admissionSpec{dist: d, consumer: req.ConsumerID, fingerprint: req.Fingerprint, ttl: s.admissionTTL}
	switch {
	case req.ConsumerID == "":
		return spec, errors.New(`"consumerId" is required`)
	case len(req.Fingerprint) > maxFingerprintBytes:
		return spec, errors.New(`"fingerprint" exceeds 1 KiB`)
	case req.Position != nil && d.Type != fanfare.TypeQueue:
		return spec, fmt.Errorf(`"position" applies to queues only, not to a %s`, d.Type)
	case req.Position != nil && *req.Position < 1:
		return spec, errors.New(`"position" must be at least 1 (omit it for the next place in line)`)
	case req.TTL != nil && req.ExpiresAt != nil:
		return spec, errors.New(`give "ttl" or "expiresAt", not both`)
	}
	if req.Position != nil {
		spec.position = *req.Position
	}
	if req.TTL != nil {
		ttl, err := parseDuration("ttl", *req.TTL)
		if err != nil {
			return spec, err
		}
		if ttl == 0 {
			return spec, errors.New(`"ttl" must not be zero: omit it for the emulator's admission TTL, or make it negative for a token already expired`)
		}
		spec.ttl = ttl
	}
	if req.ExpiresAt != nil {
		exp, err := parseTime("expiresAt", *req.ExpiresAt)
		if err != nil {
			return spec, err
		}
		spec.ttl = exp.Sub(now)
		if !now.Add(spec.ttl).Equal(exp) {
			return spec, errors.New(`"expiresAt" is too far from the emulator's time`)
		}
	}
	return spec, nil
}

func (s *Server) adminAdmit(w http.ResponseWriter, r *http.Request) {
	var req adminAdmitRequest
	if !readAdminBody(w, r, &req, false) {
		return
	}
	spec, err := s.admitSpec(req, s.now())
	if err != nil {
		badRequest(w, err)
		return
	}
	_, resp := s.mint(spec)
	writeJSON(w, http.StatusOK, struct {
		Token            string `json:"token"`
		ConsumerID       string `json:"consumerId"`
		DistributionID   string `json:"distributionId"`
		DistributionType string `json:"distributionType"`
		Position         *int   `json:"position,omitempty"`
		AdmittedAt       string `json:"admittedAt"`
		ExpiresAt        string `json:"expiresAt"`
	}{
		resp.AdmissionToken, resp.ConsumerID, resp.DistributionID, resp.DistributionType,
		resp.Position, resp.AdmittedAt, resp.ExpiresAt,
	})
}

// adminFaultRequest is the body of POST /_emulator/faults: a [Fault] for
// one endpoint.
type adminFaultRequest struct {
	Endpoint  Endpoint `json:"endpoint"`
	Status    int      `json:"status"`
	Latency   string   `json:"latency"`
	Drop      bool     `json:"drop"`
	Malformed bool     `json:"malformed"`
	Oversized bool     `json:"oversized"`
	Times     int      `json:"times"`
	Fraction  float64  `json:"fraction"`
}

// fault checks req and turns it into a Fault, with the rules of
// InjectFault plus two of its own: a fault must do something, and answer in
// one way only.
func (req adminFaultRequest) fault() (Fault, error) {
	f := Fault{
		Status: req.Status, Drop: req.Drop, Malformed: req.Malformed, Oversized: req.Oversized,
		Times: req.Times, Fraction: req.Fraction,
	}
	if req.Endpoint == "" {
		return f, fmt.Errorf(`"endpoint" is required (one of %s)`, endpointNames())
	}
	if req.Endpoint.index() < 0 {
		return f, fmt.Errorf(`"endpoint" must be one of %s, not %q`, endpointNames(), truncateString(string(req.Endpoint), 32))
	}
	if req.Latency != "" {
		d, err := parseDuration("latency", req.Latency)
		if err != nil {
			return f, err
		}
		f.Latency = d
	}
	answers := 0
	for _, set := range []bool{f.Status != 0, f.Drop, f.Malformed, f.Oversized} {
		if set {
			answers++
		}
	}
	switch {
	case f.Status != 0 && (f.Status < 200 || f.Status > 599):
		return f, errors.New(`"status" must be between 200 and 599`)
	case f.Latency < 0:
		return f, errors.New(`"latency" must not be negative`)
	case f.Times < 0:
		return f, errors.New(`"times" must not be negative (0 means every call)`)
	case f.Fraction < 0 || f.Fraction > 1:
		return f, errors.New(`"fraction" must be between 0 and 1 (0 means every call)`)
	case answers > 1:
		return f, errors.New(`set at most one of "status", "drop", "malformed" and "oversized"`)
	case answers == 0 && f.Latency == 0:
		return f, errors.New(`the fault does nothing: set "status", "latency", "drop", "malformed" or "oversized"`)
	}
	return f, nil
}

// endpointNames lists the endpoint names for error messages.
func endpointNames() string {
	names := make([]string, len(endpoints))
	for i, e := range endpoints {
		names[i] = string(e)
	}
	return strings.Join(names, ", ")
}

func (s *Server) adminInjectFault(w http.ResponseWriter, r *http.Request) {
	var req adminFaultRequest
	if !readAdminBody(w, r, &req, false) {
		return
	}
	f, err := req.fault()
	if err != nil {
		badRequest(w, err)
		return
	}
	s.InjectFault(req.Endpoint, f)
	s.writeFaults(w)
}

func (s *Server) adminClearFaults(w http.ResponseWriter, r *http.Request) {
	q := query(w, r, "endpoint")
	if q == nil || !noBody(w, r) {
		return
	}
	if _, one := q["endpoint"]; !one {
		s.ClearFaults()
		s.writeFaults(w)
		return
	}
	e := Endpoint(q.Get("endpoint"))
	if e.index() < 0 {
		badRequest(w, fmt.Errorf(`query parameter "endpoint" must be one of %s, not %q`, endpointNames(), truncateString(string(e), 32)))
		return
	}
	s.ClearFault(e)
	s.writeFaults(w)
}

// adminFault is an injected fault as the admin API lists it.
type adminFault struct {
	Endpoint  Endpoint `json:"endpoint"`
	Status    int      `json:"status,omitempty"`
	Latency   string   `json:"latency,omitempty"`
	Drop      bool     `json:"drop,omitempty"`
	Malformed bool     `json:"malformed,omitempty"`
	Oversized bool     `json:"oversized,omitempty"`
	Times     int      `json:"times,omitempty"`
	Fraction  float64  `json:"fraction,omitempty"`
	// Remaining is how many more calls the fault applies to; absent when
	// it applies until cleared.
	Remaining int `json:"remaining,omitempty"`
}

// writeFaults answers with the injected faults.
func (s *Server) writeFaults(w http.ResponseWriter) {
	list := s.faults.list()
	out := make([]adminFault, len(list))
	for i, a := range list {
		out[i] = adminFault{
			Endpoint: a.endpoint, Status: a.fault.Status, Drop: a.fault.Drop,
			Malformed: a.fault.Malformed, Oversized: a.fault.Oversized, Times: a.fault.Times,
			Fraction: a.fault.Fraction, Remaining: a.remaining,
		}
		if a.fault.Latency != 0 {
			out[i].Latency = a.fault.Latency.String()
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Faults []adminFault `json:"faults"`
	}{out})
}

func (s *Server) adminCompletions(w http.ResponseWriter) {
	type completion struct {
		Type       fanfare.DistributionType `json:"type"`
		ID         string                   `json:"id"`
		ConsumerID string                   `json:"consumerId"`
		At         string                   `json:"at"`
	}
	list := s.Completions()
	out := make([]completion, len(list))
	for i, c := range list {
		out[i] = completion{c.Distribution.Type, c.Distribution.ID, c.ConsumerID, timeString(c.At)}
	}
	writeJSON(w, http.StatusOK, struct {
		Completions []completion `json:"completions"`
	}{out})
}

// distributionQuery reads the distribution from the "type" and "id" query
// parameters, allowing extra parameters too. It answers 400 and returns
// ok false on refusal.
func distributionQuery(w http.ResponseWriter, r *http.Request, extra ...string) (fanfare.Distribution, url.Values, bool) {
	q := query(w, r, append([]string{"type", "id"}, extra...)...)
	if q == nil || !noBody(w, r) {
		return fanfare.Distribution{}, nil, false
	}
	d, err := parseDistribution(q.Get("type"), q.Get("id"))
	if err != nil {
		badRequest(w, fmt.Errorf("query parameter %w", err))
		return d, nil, false
	}
	return d, q, true
}

func (s *Server) adminCompleted(w http.ResponseWriter, r *http.Request) {
	d, q, ok := distributionQuery(w, r, "consumerId")
	if !ok {
		return
	}
	consumer := q.Get("consumerId")
	if consumer == "" {
		badRequest(w, errors.New(`query parameter "consumerId" is required`))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Completed bool `json:"completed"`
	}{s.Completed(d, consumer)})
}

func (s *Server) adminAuthorizations(w http.ResponseWriter) {
	type authorization struct {
		Provider     string         `json:"provider"`
		Issuer       string         `json:"issuer"`
		Subject      string         `json:"subject"`
		Claims       map[string]any `json:"claims,omitempty"`
		ExchangeCode string         `json:"exchangeCode"`
	}
	list := s.Authorizations()
	out := make([]authorization, len(list))
	for i, a := range list {
		out[i] = authorization(a)
	}
	writeJSON(w, http.StatusOK, struct {
		Authorizations []authorization `json:"authorizations"`
	}{out})
}

func (s *Server) adminValidations(w http.ResponseWriter) {
	type validation struct {
		Type       fanfare.DistributionType `json:"type"`
		ID         string                   `json:"id"`
		ConsumerID string                   `json:"consumerId"`
		Token      string                   `json:"token"`
		Valid      bool                     `json:"valid"`
	}
	list := s.ValidateCalls()
	out := make([]validation, len(list))
	for i, v := range list {
		out[i] = validation{v.Distribution.Type, v.Distribution.ID, v.ConsumerID, v.Token, v.Valid}
	}
	writeJSON(w, http.StatusOK, struct {
		Validations []validation `json:"validations"`
	}{out})
}

// heldEntries answers 409 unless the emulator holds entries.
func (s *Server) heldEntries(w http.ResponseWriter) bool {
	if !s.holdEntries {
		writeError(w, http.StatusConflict, codeEntriesNotHeld,
			"the emulator admits every entry at once; start it with -hold-entries (Options.HoldEntries)")
		return false
	}
	return true
}

func (s *Server) adminWaiting(w http.ResponseWriter, r *http.Request) {
	d, _, ok := distributionQuery(w, r)
	if !ok || !s.heldEntries(w) {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Waiting int `json:"waiting"`
	}{s.Waiting(d)})
}

func (s *Server) adminAdmitWaiting(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Type  string `json:"type"`
		ID    string `json:"id"`
		Count *int   `json:"count"`
	}
	if !readAdminBody(w, r, &req, false) {
		return
	}
	d, err := parseDistribution(req.Type, req.ID)
	if err != nil {
		badRequest(w, err)
		return
	}
	if req.Count != nil && *req.Count < 1 {
		badRequest(w, errors.New(`"count" must be at least 1 (omit it to admit everyone waiting)`))
		return
	}
	if !s.heldEntries(w) {
		return
	}
	var n int
	if req.Count != nil {
		n = s.AdmitNext(d, *req.Count)
	} else {
		n = s.AdmitWaiting(d)
	}
	writeJSON(w, http.StatusOK, struct {
		Admitted int `json:"admitted"`
	}{n})
}

// writeClock answers with the emulator's time.
func (s *Server) writeClock(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, struct {
		Now    string `json:"now"`
		Manual bool   `json:"manual"`
	}{timeString(s.now()), s.manualClock != nil})
}

func (s *Server) adminMoveClock(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Advance *string `json:"advance"`
		Set     *string `json:"set"`
	}
	if !readAdminBody(w, r, &req, false) {
		return
	}
	var (
		advance time.Duration
		set     time.Time
		err     error
	)
	switch {
	case req.Advance != nil && req.Set != nil:
		err = errors.New(`give "advance" or "set", not both`)
	case req.Advance != nil:
		advance, err = parseDuration("advance", *req.Advance)
	case req.Set != nil:
		set, err = parseTime("set", *req.Set)
	default:
		err = errors.New(`give "advance" (a duration such as "30s") or "set" (an RFC 3339 time)`)
	}
	if err != nil {
		badRequest(w, err)
		return
	}
	if s.manualClock == nil {
		writeError(w, http.StatusConflict, codeClockNotManual,
			"the emulator runs on a real clock; start it with -manual-clock (Options.ManualClock)")
		return
	}
	if req.Set != nil {
		s.manualClock.Set(set)
	} else {
		s.manualClock.Advance(advance)
	}
	s.writeClock(w)
}

func (s *Server) adminReset(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !readAdminBody(w, r, &req, true) {
		return
	}
	s.Reset()
	writeJSON(w, http.StatusOK, struct {
		Reset bool `json:"reset"`
	}{true})
}
