package fanfaretest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	fanfare "github.com/waitify-io/fanfare-go"
)

// The emulator's request decoders face whatever a test, a browser or a
// fuzzer sends: none may panic, and what they accept must be usable.

func FuzzDecodeAuthorize(f *testing.F) {
	f.Add([]byte(`{"provider":"shop","issuer":"https://shop.example","subject":"u1","claims":{"email":"a@b.c","n":{"x":[1,2]}}}`))
	f.Add([]byte(`{"provider":"p","issuer":"i","subject":"s"}`))
	f.Add([]byte(`{"provider":"p","issuer":"i"}`))
	f.Add([]byte(`{"provider":"p","issuer":"i","subject":"s","claims":[]}`))
	f.Add([]byte(`{"provider":"p","issuer":"i","subject":"s"} trailing`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte(`{"subject":"\ud800"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeAuthorize(b)
		if err != nil {
			return
		}
		if req.Provider == "" || req.Issuer == "" || req.Subject == "" {
			t.Fatalf("accepted %q with an empty provider, issuer or subject", b)
		}
	})
}

func FuzzDecodeExchange(f *testing.F) {
	f.Add([]byte(`{"exchangeCode":"exc_abc"}`))
	f.Add([]byte(`{"exchangeCode":""}`))
	f.Add([]byte(`{"exchangeCode":1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"exchangeCode":"a"}{"exchangeCode":"b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		code, err := decodeExchange(b)
		if err == nil && code == "" {
			t.Fatalf("accepted %q with an empty code", b)
		}
	})
}

func FuzzDecodeValidate(f *testing.F) {
	f.Add([]byte(`{"consumerId":"c1","token":"a.b.c"}`))
	f.Add([]byte(`{"consumerId":"c1"}`))
	f.Add([]byte(`{"token":"t"}`))
	f.Add([]byte(`{"consumerId":null,"token":null}`))
	f.Add([]byte(`true`))
	f.Add([]byte(`{"consumerId":"c1","token":"t","extra":{"deep":[[[[]]]]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeValidate(b)
		if err == nil && (req.ConsumerID == "" || req.Token == "") {
			t.Fatalf("accepted %q with an empty consumer id or token", b)
		}
	})
}

func FuzzDecodeComplete(f *testing.F) {
	f.Add([]byte(`{"consumerId":"c1"}`))
	f.Add([]byte(`{"consumerId":""}`))
	f.Add([]byte(`{"consumerId":["c1"]}`))
	f.Add([]byte(`"c1"`))
	f.Add([]byte("{\"consumerId\":\"c1\"}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeComplete(b)
		if err == nil && c == "" {
			t.Fatalf("accepted %q with an empty consumer id", b)
		}
	})
}

func FuzzParseBearer(f *testing.F) {
	f.Add("Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig")
	f.Add("bearer abc")
	f.Add("BEARER  abc ")
	f.Add("Bearer ")
	f.Add("Bearer a b")
	f.Add("Basic dXNlcjpwYXNz")
	f.Add("Bearer\tabc")
	f.Add("")
	f.Add("Bearer " + strings.Repeat("a", maxBearerBytes+1))
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := parseBearer(h)
		if !ok {
			return
		}
		if tok == "" || len(tok) > maxBearerBytes || strings.ContainsAny(tok, " \t\r\n") {
			t.Fatalf("parseBearer(%q) = %q, accepted", h, tok)
		}
		if !strings.Contains(h, tok) {
			t.Fatalf("parseBearer(%q) = %q, not in the header", h, tok)
		}
	})
}

func FuzzParseOpPath(f *testing.F) {
	f.Add("/queues/q1/validate")
	f.Add("/draws/d_1/complete")
	f.Add("/auctions/a%2F1/enter")
	f.Add("/queues//validate")
	f.Add("/queues/q1/validate/")
	f.Add("/things/x/validate")
	f.Add("/queues/%zz/validate")
	f.Add("queues/q1/validate")
	f.Add("/queues/q1")
	f.Add("/")
	f.Fuzz(func(t *testing.T, path string) {
		d, op, ok := parseOpPath(path)
		if !ok {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("parseOpPath(%q) accepted an invalid distribution: %v", path, err)
		}
		switch op {
		case "enter", "validate", "complete":
		default:
			t.Fatalf("parseOpPath(%q) accepted op %q", path, op)
		}
		// What the client builds for d parses back to d.
		collection := map[fanfare.DistributionType]string{fanfare.TypeQueue: "queues", fanfare.TypeDraw: "draws", fanfare.TypeAuction: "auctions"}[d.Type]
		again, op2, ok := parseOpPath("/" + collection + "/" + url.PathEscape(d.ID) + "/" + op)
		if !ok || again != d || op2 != op {
			t.Fatalf("round trip of %q: got %v %q %v, want %v %q", path, again, op2, ok, d, op)
		}
	})
}

// FuzzCheckAdmission feeds arbitrary tokens to the validate verdict: none
// may panic, and none but the emulator's own may pass.
func FuzzCheckAdmission(f *testing.F) {
	s, err := newServer(Options{})
	if err != nil {
		f.Fatal(err)
	}
	valid := s.Admit(fanfare.Queue("q1"), "c1")
	f.Add(valid)
	f.Add(valid[:len(valid)-2])
	f.Add("eyJhbGciOiJub25lIn0.eyJjb25zdW1lcklkIjoiYzEifQ.")
	f.Add("a.b.c")
	f.Add("")
	f.Add(strings.Repeat(".", 100))
	f.Fuzz(func(t *testing.T, token string) {
		got := s.checkAdmission(fanfare.Queue("q1"), "c1", token)
		if got && token != valid {
			if utf8.ValidString(token) {
				t.Fatalf("token %q validated", token)
			}
			t.Fatalf("token %x validated", token)
		}
	})
}

// FuzzAdminRequest sends arbitrary bodies to the admin API's POST
// endpoints: none may panic, every answer is JSON with a known status, and
// a refused request changes nothing.
func FuzzAdminRequest(f *testing.F) {
	for _, seed := range []struct {
		op   uint8
		body string
	}{
		{0, `{"type":"queue","id":"q_1","consumerId":"cons_1","position":3,"ttl":"30s","fingerprint":"fp"}`},
		{0, `{"type":"draw","id":"d","consumerId":"c","expiresAt":"2030-01-01T00:00:00Z"}`},
		{0, `{"type":"queue","id":"q","consumerId":"c","ttl":"1m","expiresAt":"2030-01-01T00:00:00Z"}`},
		{0, `{"type":"queue","id":"q","consumerId":"c","position":-9223372036854775808}`},
		{0, `{"type":"queue","id":"q","consumerId":"c","expiresAt":"9999-12-31T23:59:59Z"}`},
		{1, `{"endpoint":"complete","status":503,"times":2}`},
		{1, `{"endpoint":"validate","latency":"1ns","fraction":0.5}`},
		{1, `{"endpoint":"validate","fraction":NaN}`},
		{1, `{"endpoint":"validate","status":503,"Status":500}`},
		{2, `{"advance":"30s"}`},
		{2, `{"set":"2031-01-01T00:00:00Z"}`},
		{2, `{"advance":"-9223372036854775807ns"}`},
		{3, `{"type":"queue","id":"q","count":1}`},
		{4, `{}`},
		{4, ``},
		{0, `{"type":"queue","id":"q","consumerId":"c"} x`},
		{1, `[`},
	} {
		f.Add(seed.op, []byte(seed.body))
	}
	srv, err := newServer(Options{ManualClock: NewClock(time.Time{}), HoldEntries: true})
	if err != nil {
		f.Fatal(err)
	}
	ops := []string{"admit", "faults", "clock", "admit-waiting", "reset"}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		path := adminPrefix + ops[int(op)%len(ops)]
		srv.state.mu.RLock()
		admissions := len(srv.state.admissions)
		srv.state.mu.RUnlock()
		faultsBefore := srv.faults.list()
		now := srv.Now()

		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.RemoteAddr, req.Host = "127.0.0.1:1234", "127.0.0.1:7070"
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)

		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %q: answer %q is not JSON", path, body, rec.Body)
		}
		switch rec.Code {
		case http.StatusOK:
			return
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("%s %q: status %d", path, body, rec.Code)
		}
		srv.state.mu.RLock()
		after := len(srv.state.admissions)
		srv.state.mu.RUnlock()
		if after != admissions || !reflect.DeepEqual(srv.faults.list(), faultsBefore) || !srv.Now().Equal(now) {
			t.Fatalf("%s %q: refused with %d yet changed the emulator", path, body, rec.Code)
		}
	})
}
