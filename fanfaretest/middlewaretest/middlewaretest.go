// Package middlewaretest is the behaviour table that every entry point of
// fanfare's middleware passes: the net/http middleware of the root package
// and the gin, echo and chi adapters. A test mounts the routes that [Run]
// documents on its own router, with its own adapter's functions, and Run
// drives them over loopback HTTP against a fanfaretest emulator: the same
// requests, the same expected answers, for every framework.
//
// Use it to check an adapter of your own. It depends on the standard
// library's testing package only (no assertion library), so importing it
// adds nothing to a module's graph beyond fanfare itself.
package middlewaretest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// The route parameter naming the queue of the checkout route, and the
// distribution the table checks out from.
const (
	QueueParam = "queue"
	QueueID    = "q_main"
)

// Request headers of the table's toy login, read by [Setup.Identity].
const (
	// HeaderUser is the logged-in user's id; no header, no user.
	HeaderUser = "X-Test-User"
	// HeaderClaims is a JSON object of the user's claims.
	HeaderClaims = "X-Test-Claims"
	// HeaderClaimsBytes asks for a claim of that many bytes.
	HeaderClaimsBytes = "X-Test-Claims-Bytes"
)

// guideClaimsMaxBytes is the vendor guide's claims limit, the default of
// fanfare.ClaimsPolicy.MaxBytes (README: "Step 6: validate claims, 10 000
// bytes").
const guideClaimsMaxBytes = 10000

// Setup is what the routes are built from. Run fills it and passes it to
// the mount function; a mount function must not change it.
type Setup struct {
	// Emulator is the Fanfare emulator the table runs against.
	Emulator *fanfaretest.Server
	// Clock is the time of the emulator and of every middleware.
	Clock *fanfaretest.Clock
	// Client calls the emulator.
	Client *fanfare.Client

	// Admission configures the checkout route's RequireAdmission. It names
	// no distribution: set Distribution to
	// fanfare.DistributionFromPath(fanfare.TypeQueue, QueueParam).
	Admission fanfare.AdmissionOptions
	// Claims is the policy of the authorize route's SanitizeClaims. It
	// allows only the claims "email" and "plan".
	Claims fanfare.ClaimsPolicy
	// RateLimit configures the authorize route's RateLimitAuthorize: 3
	// requests a minute per user.
	RateLimit fanfare.RateLimitOptions
	// Authorize configures the authorize handler. Its own claims policy
	// lets through what Claims drops, so the table sees whether the
	// sanitized identity reached the handler.
	Authorize fanfare.AuthorizeOptions
	// Validate configures the validate-admission handler.
	Validate fanfare.ValidateAdmissionOptions
}

// Identity is the table's toy login: the user named by the [HeaderUser]
// request header, if any. The routes' login middleware stores it with
// fanfare.WithIdentity.
func (s *Setup) Identity(r *http.Request) (fanfare.Identity, bool) {
	sub := r.Header.Get(HeaderUser)
	if sub == "" {
		return fanfare.Identity{}, false
	}
	id := fanfare.Identity{Subject: sub}
	if c := r.Header.Get(HeaderClaims); c != "" {
		_ = json.Unmarshal([]byte(c), &id.Claims)
	}
	if n, err := strconv.Atoi(r.Header.Get(HeaderClaimsBytes)); err == nil && n > 0 {
		id.Claims = map[string]any{"plan": strings.Repeat("x", n)}
	}
	return id, true
}

// Outcome is what the checkout handler does with a request.
type Outcome int

const (
	// Succeed: answer 200 with the JSON object {"consumerId": ...} of the
	// admission the adapter's getter returns (500 if it returns none).
	Succeed Outcome = iota
	// Fail: answer 500 the framework's usual way (an echo handler returns
	// an error).
	Fail
	// Panic: panic. The router's recovery middleware answers 500.
	Panic
)

// Outcome reads what the checkout handler must do from the request body
// that RequireAdmission read and put back: its "outcome" field ("fail",
// "panic", anything else succeeds). A body that was not put back cannot be
// read, and the answer is Fail.
func (s *Setup) Outcome(r *http.Request) Outcome {
	var body struct {
		Outcome string `json:"outcome"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		return Fail
	}
	switch body.Outcome {
	case "fail":
		return Fail
	case "panic":
		return Panic
	}
	return Succeed
}

// Run mounts the routes with mount and checks them. mount returns a handler
// (the router) serving:
//
//	POST /queues/{queue}/checkout   RequireAdmission(s.Admission), the checkout handler
//	POST /authorize                 login, SanitizeClaims(s.Claims), RateLimitAuthorize(s.RateLimit),
//	                                NewAuthorizeHandler(s.Client, s.Authorize)
//	POST /validate                  NewValidateAdmissionHandler(s.Client, s.Validate)
//
// in the router's own path syntax, where login stores [Setup.Identity] in
// the request context and the checkout handler does what [Setup.Outcome]
// says. The router recovers panics with its usual recovery middleware.
func Run(t *testing.T, mount func(s *Setup) http.Handler) {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	clock := fanfaretest.NewClock(time.Date(2031, time.March, 1, 12, 0, 0, 0, time.UTC))
	emu := fanfaretest.NewServer(fanfaretest.Options{Clock: clock.Now, HS256Secret: secret})
	t.Cleanup(emu.Close)

	cfg := emu.Config()
	cfg.AttemptTimeout = 2 * time.Second
	cfg.Retry = fanfare.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	client, err := fanfare.NewClient(cfg)
	if err != nil {
		t.Fatalf("fanfare.NewClient: %v", err)
	}
	verifier, err := fanfare.NewHMACVerifier(secret)
	if err != nil {
		t.Fatalf("fanfare.NewHMACVerifier: %v", err)
	}
	quiet := slog.New(slog.DiscardHandler)
	s := &Setup{
		Emulator: emu,
		Clock:    clock,
		Client:   client,
		Admission: fanfare.AdmissionOptions{
			// A verified token passes while Fanfare is down, so the table
			// sees this instance refuse a used admission on its own.
			Verifier:                   verifier,
			AcceptVerifiedDuringOutage: true,
			Clock:                      clock.Now,
			Logger:                     quiet,
		},
		Claims: fanfare.ClaimsPolicy{Allow: []string{"email", "plan"}},
		RateLimit: fanfare.RateLimitOptions{
			Limit:  fanfare.Limit{Requests: 3, Window: time.Minute},
			Clock:  clock.Now,
			Logger: quiet,
		},
		Authorize: fanfare.AuthorizeOptions{
			Provider: "middlewaretest",
			Issuer:   "https://middlewaretest.example",
			Claims:   fanfare.ClaimsPolicy{MaxBytes: 1 << 20},
			Logger:   quiet,
		},
		Validate: fanfare.ValidateAdmissionOptions{Logger: quiet},
	}
	h := mount(s)
	if h == nil {
		t.Fatal("mount returned a nil handler")
	}
	app := httptest.NewServer(h)
	t.Cleanup(app.Close)

	c := &suite{s: s, url: app.URL, http: app.Client()}
	t.Run("checkout", c.checkout)
	t.Run("authorize", c.authorize)
	t.Run("validate", c.validate)
}

type suite struct {
	s    *Setup
	url  string
	http *http.Client
	n    int
}

// consumer returns a consumer id no other subtest uses.
func (c *suite) consumer(name string) string {
	c.n++
	return name + "_" + strconv.Itoa(c.n)
}

// response is an answer, its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string {
	return strconv.Itoa(r.status) + " " + string(r.body)
}

// json decodes the body as a JSON object; nil if it is not one.
func (r *response) json() map[string]any {
	var m map[string]any
	if json.Unmarshal(r.body, &m) != nil {
		return nil
	}
	return m
}

// post sends body (JSON-encoded unless nil) with the headers in kv pairs.
func (c *suite) post(t *testing.T, path string, body any, kv ...string) *response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("encoding the request body: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(http.MethodPost, c.url+path, rd)
	if err != nil {
		t.Fatalf("building the request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the body: %v", path, err)
	}
	if bytes.Contains(b, []byte(c.s.Emulator.SecretKey)) {
		t.Errorf("POST %s: the answer shows the secret key", path)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantJSON checks an answer's status, that it is JSON, and that its body
// holds exactly want.
func wantJSON(t *testing.T, res *response, status int, want map[string]any) {
	t.Helper()
	if res.status != status {
		t.Errorf("status: got %d, want %d (body %s)", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	got := res.json()
	if got == nil {
		t.Errorf("body: got %q, want a JSON object", res.body)
		return
	}
	if want != nil && !sameJSON(got, want) {
		t.Errorf("body: got %s, want %s", res.body, mustJSON(want))
	}
}

// wantNoStore checks the Cache-Control of an answer carrying a code or a
// refusal.
func wantNoStore(t *testing.T, res *response) {
	t.Helper()
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", got)
	}
}

func sameJSON(a, b map[string]any) bool {
	return bytes.Equal(mustJSON(a), mustJSON(b)) // map keys are sorted
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// refusal is the body of an admission refusal with code.
func refusal(code string) map[string]any {
	switch code {
	case "ADMISSION_USED":
		return map[string]any{"error": "Admission used", "message": "This admission has already been used", "code": code}
	case "ADMISSION_UNAVAILABLE":
		return map[string]any{"error": "Admission check unavailable", "message": "Please try again in a moment", "code": code}
	}
	return map[string]any{"error": "Invalid admission", "message": "Your access has expired or is invalid", "code": code}
}

// checkoutPath is the checkout route of queue id.
func checkoutPath(id string) string { return "/queues/" + id + "/checkout" }

// checkoutBody is the guide's CheckoutRequest body with the table's outcome.
func checkoutBody(token, consumer, outcome string) map[string]any {
	return map[string]any{"admissionToken": token, "consumerId": consumer, "outcome": outcome}
}

// completions counts the emulator's completions of consumer's admission.
func (c *suite) completions(consumer string) int {
	n := 0
	for _, cp := range c.s.Emulator.Completions() {
		if cp.ConsumerID == consumer && cp.Distribution == fanfare.Queue(QueueID) {
			n++
		}
	}
	return n
}

func (c *suite) wantCompletions(t *testing.T, consumer string, want int) {
	t.Helper()
	if got := c.completions(consumer); got != want {
		t.Errorf("completions of %s recorded by the emulator: got %d, want %d", consumer, got, want)
	}
}

// succeed checks out with token and expects the order to go through.
func (c *suite) succeed(t *testing.T, token, consumer string) {
	t.Helper()
	res := c.post(t, checkoutPath(QueueID), checkoutBody(token, consumer, "ok"))
	wantJSON(t, res, http.StatusOK, map[string]any{"consumerId": consumer})
}

func (c *suite) checkout(t *testing.T) {
	emu := c.s.Emulator
	queue := fanfare.Queue(QueueID)

	refusals := []struct {
		name   string
		token  func(consumer string) string
		header bool // send the token in the Fanfare-Admission header
		status int
		code   string
	}{
		{"no token", func(string) string { return "" }, false, http.StatusForbidden, "ADMISSION_REQUIRED"},
		{"garbage token", func(string) string { return "not.a.token" }, false, http.StatusForbidden, "ADMISSION_INVALID"},
		{"garbage token in the header", func(string) string { return "garbage" }, true, http.StatusForbidden, "ADMISSION_INVALID"},
		{"token of another distribution", func(cons string) string { return emu.Admit(fanfare.Queue("q_other"), cons) }, false, http.StatusForbidden, "ADMISSION_MISMATCH"},
		{"token of another draw with the same id", func(cons string) string { return emu.Admit(fanfare.Draw(QueueID), cons) }, true, http.StatusForbidden, "ADMISSION_MISMATCH"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			cons := c.consumer("refused")
			tok := tt.token(cons)
			var res *response
			if tt.header {
				res = c.post(t, checkoutPath(QueueID), checkoutBody("", cons, "ok"), "Fanfare-Admission", tok)
			} else {
				res = c.post(t, checkoutPath(QueueID), checkoutBody(tok, cons, "ok"))
			}
			wantJSON(t, res, tt.status, refusal(tt.code))
			wantNoStore(t, res)
			if n := len(emu.Completions()); n != 0 {
				t.Errorf("completions after refusals: got %d, want 0", n)
			}
		})
	}

	t.Run("valid admission completes once, then is refused", func(t *testing.T) {
		cons := c.consumer("buyer")
		tok := emu.Admit(queue, cons)
		c.succeed(t, tok, cons)
		c.wantCompletions(t, cons, 1)

		// Fanfare knows the admission is used and refuses it; this instance
		// knows why and says so.
		res := c.post(t, checkoutPath(QueueID), checkoutBody(tok, cons, "ok"))
		wantJSON(t, res, http.StatusConflict, refusal("ADMISSION_USED"))

		// With Fanfare down, this instance refuses the used admission on
		// its own.
		emu.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: http.StatusServiceUnavailable})
		defer emu.ClearFaults()
		res = c.post(t, checkoutPath(QueueID), checkoutBody(tok, cons, "ok"))
		wantJSON(t, res, http.StatusConflict, refusal("ADMISSION_USED"))
		wantNoStore(t, res)
		c.wantCompletions(t, cons, 1)
	})

	t.Run("token in the header", func(t *testing.T) {
		cons := c.consumer("header")
		tok := emu.Admit(queue, cons)
		res := c.post(t, checkoutPath(QueueID), checkoutBody("", cons, "ok"), "Fanfare-Admission", tok)
		wantJSON(t, res, http.StatusOK, map[string]any{"consumerId": cons})
		c.wantCompletions(t, cons, 1)
	})

	for _, tt := range []struct{ name, outcome string }{
		{"handler fails: released, not completed", "fail"},
		{"handler panics: released, not completed", "panic"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cons := c.consumer(tt.outcome)
			tok := emu.Admit(queue, cons)
			res := c.post(t, checkoutPath(QueueID), checkoutBody(tok, cons, tt.outcome))
			if res.status != http.StatusInternalServerError {
				t.Errorf("status: got %d, want 500 (body %s)", res.status, res.body)
			}
			c.wantCompletions(t, cons, 0)
			// The admission is still good for another try.
			c.succeed(t, tok, cons)
			c.wantCompletions(t, cons, 1)
		})
	}

	t.Run("Fanfare refuses our key: 503 with Retry-After", func(t *testing.T) {
		cons := c.consumer("unavailable")
		tok := emu.Admit(queue, cons)
		emu.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: http.StatusUnauthorized})
		res := c.post(t, checkoutPath(QueueID), checkoutBody(tok, cons, "ok"))
		emu.ClearFaults()
		wantJSON(t, res, http.StatusServiceUnavailable, refusal("ADMISSION_UNAVAILABLE"))
		wantNoStore(t, res)
		if got := res.header.Get("Retry-After"); got != "5" {
			t.Errorf("Retry-After: got %q, want 5", got)
		}
		// Nothing was held: the admission works once Fanfare answers.
		c.succeed(t, tok, cons)
	})
}

func (c *suite) authorize(t *testing.T) {
	emu := c.s.Emulator

	t.Run("anonymous: 401", func(t *testing.T) {
		res := c.post(t, "/authorize", nil)
		wantJSON(t, res, http.StatusUnauthorized, map[string]any{"error": "Unauthorized"})
	})

	t.Run("logged in: an exchange code, claims sanitized", func(t *testing.T) {
		user := c.consumer("user")
		res := c.post(t, "/authorize", nil, HeaderUser, user, HeaderClaims, `{"plan":"gold","color":"red","email":"a@example.com"}`)
		wantJSON(t, res, http.StatusOK, nil)
		wantNoStore(t, res)
		if code, _ := res.json()["exchangeCode"].(string); code == "" {
			t.Errorf("exchangeCode: got none in %s", res.body)
		}
		got := lastAuthorization(emu, user)
		if got == nil {
			t.Fatalf("the emulator saw no authorize call for %s", user)
		}
		want := map[string]any{"plan": "gold", "email": "a@example.com"}
		if !sameJSON(got.Claims, want) {
			t.Errorf("claims sent to Fanfare: got %s, want %s (SanitizeClaims' identity must reach the handler)", mustJSON(got.Claims), mustJSON(want))
		}
	})

	t.Run("claims too large: 413, Fanfare not called", func(t *testing.T) {
		before := emu.Calls(fanfaretest.EndpointAuthorize)
		res := c.post(t, "/authorize", nil, HeaderUser, c.consumer("big"), HeaderClaimsBytes, strconv.Itoa(guideClaimsMaxBytes))
		wantJSON(t, res, http.StatusRequestEntityTooLarge, map[string]any{"error": "Claims too large"})
		wantNoStore(t, res)
		if got := emu.Calls(fanfaretest.EndpointAuthorize); got != before {
			t.Errorf("authorize calls to Fanfare: got %d more, want none", got-before)
		}
	})

	t.Run("rate limited: 429 with Retry-After", c.rateLimit)
}

// rateLimit checks the limit per user, its headers, and the window.
func (c *suite) rateLimit(t *testing.T) {
	emu := c.s.Emulator
	user, other := c.consumer("limited"), c.consumer("other")
	for i := 1; i <= 3; i++ {
		res := c.post(t, "/authorize", nil, HeaderUser, user)
		wantJSON(t, res, http.StatusOK, nil)
		wantHeader(t, res, "RateLimit-Policy", `"default";q=3;w=60`)
		wantHeader(t, res, "RateLimit", `"default";r=`+strconv.Itoa(3-i)+`;t=60`)
	}
	before := emu.Calls(fanfaretest.EndpointAuthorize)
	res := c.post(t, "/authorize", nil, HeaderUser, user)
	wantJSON(t, res, http.StatusTooManyRequests, map[string]any{"error": "Too many auth requests"})
	wantHeader(t, res, "Retry-After", "60")
	wantHeader(t, res, "RateLimit", `"default";r=0;t=60`)
	if got := emu.Calls(fanfaretest.EndpointAuthorize); got != before {
		t.Errorf("authorize calls to Fanfare over the limit: got %d, want none", got-before)
	}

	// Another user has a budget of their own.
	wantJSON(t, c.post(t, "/authorize", nil, HeaderUser, other), http.StatusOK, nil)

	// A minute later the first request left the window.
	c.s.Clock.Advance(time.Minute)
	wantJSON(t, c.post(t, "/authorize", nil, HeaderUser, user), http.StatusOK, nil)
}

func wantHeader(t *testing.T, res *response, name, want string) {
	t.Helper()
	if got := res.header.Get(name); got != want {
		t.Errorf("%s: got %q, want %q", name, got, want)
	}
}

func lastAuthorization(emu *fanfaretest.Server, subject string) *fanfaretest.Authorization {
	all := emu.Authorizations()
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Subject == subject {
			return &all[i]
		}
	}
	return nil
}

func (c *suite) validate(t *testing.T) {
	cons := c.consumer("validate")
	tok := c.s.Emulator.Admit(fanfare.Queue(QueueID), cons)
	tests := []struct {
		name   string
		body   map[string]any
		status int
		want   map[string]any
	}{
		{"admitted", map[string]any{"queueId": QueueID, "consumerId": cons, "token": tok}, http.StatusOK,
			map[string]any{"valid": true}},
		{"garbage token", map[string]any{"queueId": QueueID, "consumerId": cons, "token": "garbage"}, http.StatusForbidden,
			map[string]any{"valid": false, "error": "Invalid or expired admission token"}},
		{"no distribution", map[string]any{"consumerId": cons, "token": tok}, http.StatusBadRequest,
			map[string]any{"error": "queueId or drawId required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.post(t, "/validate", tt.body)
			wantJSON(t, res, tt.status, tt.want)
		})
	}
}
