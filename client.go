package fanfare

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/waitify-io/fanfare-go/internal/wire"
)

// Version is the library's version, sent in the User-Agent header.
const Version = "0.2.0"

// defaultAPIURL is the Fanfare API used when Config.APIURL is empty.
const defaultAPIURL = "https://api.fanfare.io"

// maxResponseBytes caps every Fanfare response body the client reads. The
// API's answers are a few hundred bytes; anything larger is malformed.
const maxResponseBytes = 64 << 10

// Config configures a [Client]. The zero value of every optional field is a
// safe default. Printing a Config with fmt or log/slog never shows the secret
// key.
type Config struct {
	// APIURL is the base URL of the Fanfare API. It must be https, except
	// for a loopback host (the fanfaretest emulator, a local proxy).
	// Default: "https://api.fanfare.io".
	APIURL string

	// OrganizationID is sent as X-Organization-Id. Required.
	OrganizationID string

	// SecretKey is the server-side API key, sent as X-Secret-Key. Required;
	// it starts with "sk_". Never expose it to a browser, a log or a
	// response: publishable keys ("pk_") belong in the browser and are
	// refused here.
	SecretKey string

	// HTTPClient sends the requests. Its Timeout should be zero: the client
	// bounds each attempt with AttemptTimeout and honours the caller's
	// context. Redirects are never followed (a copy's CheckRedirect is
	// replaced): a 3xx is an error, so the secret key never goes to another
	// host. Default: a client on [NewTransport].
	HTTPClient *http.Client

	// AttemptTimeout bounds one attempt of a call; the caller's context
	// bounds the whole call, retries included. Default: 3s.
	AttemptTimeout time.Duration

	// Retry says how calls that are safe to repeat are retried.
	Retry RetryPolicy

	// UserAgent is prepended to the library's own User-Agent.
	// Default: empty (the header is "fanfare-go/<Version>").
	UserAgent string
}

// RetryPolicy bounds retries with exponential backoff and full jitter.
// Validate and complete calls are retried after network errors and 408, 429
// and 5xx answers; authorize calls only when the request surely never reached
// Fanfare (the connection could not be made), because a repeated authorize
// would mint a second exchange code.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included; 1 disables
	// retries. Default: 3.
	MaxAttempts int
	// InitialBackoff is the upper bound of the first wait. Default: 50ms.
	InitialBackoff time.Duration
	// MaxBackoff caps every wait. Default: 1s.
	MaxBackoff time.Duration
}

// ConfigFromEnv returns a Config read from FANFARE_API_URL (default
// "https://api.fanfare.io"), FANFARE_ORG_ID and FANFARE_SECRET_KEY. Pass it to
// [NewClient], which reports what is missing or wrong.
func ConfigFromEnv() Config {
	return Config{
		APIURL:         cmp.Or(os.Getenv("FANFARE_API_URL"), defaultAPIURL),
		OrganizationID: os.Getenv("FANFARE_ORG_ID"),
		SecretKey:      os.Getenv("FANFARE_SECRET_KEY"),
	}
}

// redacted is what printing shows in place of a secret key.
func redacted(secret string) string {
	if secret == "" {
		return ""
	}
	return redactedText
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, ...) print the config
// without its secret key, so no verb reaches the key through reflection.
// log/slog's TextHandler prints with %+v, so it goes through Format too.
func (c Config) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "fanfare.Config{APIURL:%q OrganizationID:%q SecretKey:%q}",
		c.APIURL, c.OrganizationID, redacted(c.SecretKey))
}

// MarshalJSON encodes the config with its secret key redacted, for a debug
// endpoint or log/slog's JSONHandler. Decoding still reads SecretKey.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		APIURL, OrganizationID, SecretKey string
		AttemptTimeout                    time.Duration
		Retry                             RetryPolicy
		UserAgent                         string
	}{c.APIURL, c.OrganizationID, redacted(c.SecretKey), c.AttemptTimeout, c.Retry, c.UserAgent})
}

// Client calls the Fanfare API with the organization's secret key. It is safe
// for concurrent use; make one and share it.
type Client struct {
	base           string // without trailing slash
	orgID          string
	secret         string
	hc             *http.Client
	attemptTimeout time.Duration
	retry          RetryPolicy
	userAgent      string
	scrubber       scrubber // removes the secret key from upstream text
}

// NewClient checks cfg and returns a client. It refuses a missing
// organization id, a missing secret key, a publishable ("pk_") key, a key
// without the "sk_" prefix, and an API URL that is not https (loopback hosts
// excepted). Errors match [ErrInvalidConfig] and never contain the key.
func NewClient(cfg Config) (*Client, error) {
	base, err := checkAPIURL(cmp.Or(cfg.APIURL, defaultAPIURL))
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.OrganizationID) == "" {
		return nil, fmt.Errorf("%w: OrganizationID is empty (set FANFARE_ORG_ID)", ErrInvalidConfig)
	}
	switch {
	case cfg.SecretKey == "":
		return nil, fmt.Errorf("%w: SecretKey is empty (set FANFARE_SECRET_KEY)", ErrInvalidConfig)
	case strings.HasPrefix(cfg.SecretKey, "pk_"):
		return nil, fmt.Errorf("%w: SecretKey is a publishable key (pk_...): publishable keys belong in the browser; the server needs the secret key (sk_...)", ErrInvalidConfig)
	case !strings.HasPrefix(cfg.SecretKey, "sk_"):
		return nil, fmt.Errorf("%w: SecretKey must start with sk_", ErrInvalidConfig)
	case strings.ContainsAny(cfg.SecretKey, "\r\n\t "):
		return nil, fmt.Errorf("%w: SecretKey contains white space", ErrInvalidConfig)
	}
	if cfg.AttemptTimeout < 0 || cfg.Retry.MaxAttempts < 0 || cfg.Retry.InitialBackoff < 0 || cfg.Retry.MaxBackoff < 0 {
		return nil, fmt.Errorf("%w: negative timeout or retry setting", ErrInvalidConfig)
	}
	hc := http.Client{Transport: NewTransport()}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	// net/http would resend X-Secret-Key to the host a redirect names (it
	// strips only Authorization and cookies), and that host's answer would
	// pass for Fanfare's.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	userAgent := "fanfare-go/" + Version
	if cfg.UserAgent != "" {
		userAgent = cfg.UserAgent + " " + userAgent
	}
	return &Client{
		base:           base,
		orgID:          cfg.OrganizationID,
		secret:         cfg.SecretKey,
		hc:             &hc,
		attemptTimeout: cmp.Or(cfg.AttemptTimeout, 3*time.Second),
		retry: RetryPolicy{
			MaxAttempts:    cmp.Or(cfg.Retry.MaxAttempts, 3),
			InitialBackoff: cmp.Or(cfg.Retry.InitialBackoff, 50*time.Millisecond),
			MaxBackoff:     cmp.Or(cfg.Retry.MaxBackoff, time.Second),
		},
		userAgent: userAgent,
		scrubber:  newScrubber(cfg.SecretKey),
	}, nil
}

// NewTransport returns the transport the default client uses: keep-alive,
// HTTP/2 when the server offers it, and up to 512 idle connections per host
// so a burst of checkouts reuses connections (Go's default transport keeps 2
// and collapses under a drop).
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func checkAPIURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("%w: APIURL %q is not an absolute http(s) URL", ErrInvalidConfig, truncate(raw, 100))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: APIURL must not carry user info, a query or a fragment", ErrInvalidConfig)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "", fmt.Errorf("%w: APIURL %q must use https (plain http is allowed only for loopback hosts)", ErrInvalidConfig, truncate(raw, 100))
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// APIURL returns the base URL the client calls.
func (c *Client) APIURL() string { return c.base }

// OrganizationID returns the organization id the client sends.
func (c *Client) OrganizationID() string { return c.orgID }

// Format makes every fmt verb print the client without its secret key
// (log/slog's TextHandler included; its JSONHandler prints a Client as {}).
func (c Client) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "fanfare.Client{APIURL:%q OrganizationID:%q SecretKey:%q}", c.base, c.orgID, redacted(c.secret))
}

// AuthorizeRequest is an external identity to exchange for a code: the
// guide's ExternalAuthPayload.
type AuthorizeRequest struct {
	// Provider identifies your platform, e.g. "your-platform". Required.
	Provider string
	// Issuer is your domain, e.g. "https://your-domain.com". Required.
	Issuer string
	// Subject is the user's unique id in your system. Required.
	Subject string
	// Claims is the JSON object ClaimsPolicy.Sanitize returned. It is sent
	// as it is (encoding/json copies compact JSON unchanged), so the size
	// the policy measured is the size Fanfare receives. Anything but a
	// JSON object is refused with ErrInvalidClaims. Default: nil, no claims.
	Claims json.RawMessage
}

// ExchangeCode is a single-use code the browser SDK trades for a Fanfare
// session (exchangeExternal). It expires 60 seconds after it is issued.
type ExchangeCode struct {
	Code      string    `json:"exchangeCode"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Authorize asks Fanfare for an exchange code for an external identity
// (POST /auth/external/authorize). It is retried only when the request surely
// never reached Fanfare.
func (c *Client) Authorize(ctx context.Context, req AuthorizeRequest) (ExchangeCode, error) {
	if req.Provider == "" || req.Issuer == "" || req.Subject == "" {
		return ExchangeCode{}, errors.New("fanfare: authorize: provider, issuer and subject are required")
	}
	if len(req.Claims) > 0 && (req.Claims[0] != '{' || !json.Valid(req.Claims)) {
		return ExchangeCode{}, fmt.Errorf("%w: authorize: claims must be a JSON object (see ClaimsPolicy.Sanitize)", ErrInvalidClaims)
	}
	raw, err := c.call(ctx, "authorize", wire.PathAuthorize, wire.AuthorizeRequest{
		Provider: req.Provider, Issuer: req.Issuer, Subject: req.Subject, Claims: req.Claims,
	}, false, c.retry.MaxAttempts)
	if err != nil {
		return ExchangeCode{}, err
	}
	code, err := decodeAuthorizeResponse(raw)
	if err != nil {
		return ExchangeCode{}, c.unavailable("authorize", err)
	}
	return code, nil
}

// ValidateAdmission asks Fanfare whether token admits consumerID to d
// (POST /{queues|draws|auctions}/{id}/validate). Fanfare's answer is
// authoritative. It returns (true, nil) or (false, nil) for a clear answer;
// otherwise false and an error: one matching [ErrUnavailable] when Fanfare
// could not answer (answer 503 and let the consumer retry), or an *APIError
// for any other refusal.
func (c *Client) ValidateAdmission(ctx context.Context, d Distribution, consumerID, token string) (bool, error) {
	if err := d.Validate(); err != nil {
		return false, err
	}
	if consumerID == "" || token == "" {
		return false, errors.New("fanfare: validate: consumer id and token are required")
	}
	raw, err := c.call(ctx, "validate", d.path("validate"),
		wire.ValidateRequest{ConsumerID: consumerID, Token: token}, true, c.retry.MaxAttempts)
	if err != nil {
		return false, err
	}
	valid, err := decodeValidateResponse(raw)
	if err != nil {
		return false, c.unavailable("validate", err)
	}
	return valid, nil
}

// CompleteAdmission tells Fanfare that consumerID's admission to d was used
// (POST /{queues|draws|auctions}/{id}/complete), so it cannot buy a second
// order. Completing twice is harmless. An unknown admission matches
// [ErrNotFound].
func (c *Client) CompleteAdmission(ctx context.Context, d Distribution, consumerID string) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if consumerID == "" {
		return errors.New("fanfare: complete: consumer id is required")
	}
	return c.complete(ctx, d, consumerID, c.retry.MaxAttempts)
}

// complete posts the completion in at most attempts tries (the outbox
// makes one and retries on its own schedule). A 2xx body that is not JSON (a captive
// portal's page, a body cut short) did not come from Fanfare, and the
// completion must be delivered again.
func (c *Client) complete(ctx context.Context, d Distribution, consumerID string, attempts int) error {
	raw, err := c.call(ctx, "complete", d.path("complete"), wire.CompleteRequest{ConsumerID: consumerID}, true, attempts)
	if err == nil && len(bytes.TrimSpace(raw)) > 0 && !json.Valid(raw) {
		err = c.unavailable("complete", errors.New("malformed complete response: not JSON"))
	}
	return err
}

// call posts v as JSON to path and returns the body of a 2xx answer, in up
// to attempts attempts; idempotent says whether a request that may have
// reached Fanfare can be repeated.
func (c *Client) call(ctx context.Context, op, path string, v any, idempotent bool, attempts int) ([]byte, error) {
	body, err := json.Marshal(v) // the wire types always encode: Authorize checked the claims
	if err != nil {
		return nil, fmt.Errorf("fanfare: %s: encoding the request failed", op)
	}
	for attempt := 1; ; attempt++ {
		raw, retryable, err := c.attempt(ctx, op, path, body, idempotent)
		if err == nil || !retryable || attempt >= attempts || ctx.Err() != nil {
			return raw, err
		}
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// backoff returns the wait before attempt n+1: full jitter over an
// exponentially growing bound.
func (c *Client) backoff(n int) time.Duration {
	bound := c.retry.InitialBackoff << min(n-1, 20)
	if bound <= 0 || bound > c.retry.MaxBackoff {
		bound = c.retry.MaxBackoff
	}
	return rand.N(bound) + 1
}

func (c *Client) attempt(ctx context.Context, op, path string, body []byte, idempotent bool) (raw []byte, retryable bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("fanfare: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set(wire.HeaderOrganizationID, c.orgID)
	req.Header.Set(wire.HeaderSecretKey, c.secret)

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, idempotent || neverSent(err), c.unavailable(op, err)
	}
	defer resp.Body.Close()
	raw, err = readCapped(resp.Body, maxResponseBytes)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err != nil {
			// A body cut short is worth another try; an oversized one is not.
			return nil, idempotent && !errors.Is(err, errBodyTooLarge), c.unavailable(op, err)
		}
		return raw, false, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// Not an answer the API gives: a proxy or URL misconfigured.
		return nil, false, c.unavailable(op, fmt.Errorf("redirect (status %d) not followed", resp.StatusCode))
	}
	apiErr := decodeAPIError(resp.StatusCode, raw, c.scrubber)
	apiErr.Op = op
	return nil, idempotent && apiErr.temporary(), apiErr
}

// neverSent reports whether err happened before any byte of the request
// could reach the server: the connection was never made.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// errBodyTooLarge reports a body past its cap: a Fanfare response, a JWKS
// document, a request body the middleware reads.
var errBodyTooLarge = errors.New("body too large")

// readCapped reads all of r, but at most n bytes: a longer body is an error
// matching errBodyTooLarge, and whatever is left is not read.
func readCapped(r io.Reader, n int64) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > n {
		return nil, fmt.Errorf("%w: it exceeds %d bytes", errBodyTooLarge, n)
	}
	return raw, nil
}

// decodeAuthorizeResponse parses {"exchangeCode": ..., "expiresAt": RFC 3339}.
func decodeAuthorizeResponse(raw []byte) (ExchangeCode, error) {
	var code ExchangeCode
	if err := json.Unmarshal(raw, &code); err != nil {
		return ExchangeCode{}, fmt.Errorf("malformed authorize response: %w", err)
	}
	if code.Code == "" || code.ExpiresAt.IsZero() {
		return ExchangeCode{}, errors.New("malformed authorize response: no exchangeCode or expiresAt")
	}
	return code, nil
}

// decodeValidateResponse parses the bare JSON boolean validate answers with.
// Anything else is malformed: fail closed.
func decodeValidateResponse(raw []byte) (bool, error) {
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("malformed validate response: not a JSON boolean")
}

// decodeAPIError reads Fanfare's {"error": code, "message": text} body,
// scrubbed of the secret key before it is cut to size (a cut key would
// escape the scrubber). The raw body is never kept: it may echo what we
// sent.
func decodeAPIError(status int, raw []byte, s scrubber) *APIError {
	e := &APIError{StatusCode: status}
	var body wire.ErrorBody
	if json.Unmarshal(raw, &body) == nil {
		e.Code = truncate(s.scrub(body.Error), 64)
		e.Message = truncate(s.scrub(body.Message), 200)
	}
	return e
}

// unavailable wraps err, whose text may quote upstream bytes, scrubbed.
func (c *Client) unavailable(op string, err error) *unavailableError {
	return &unavailableError{op: op, msg: c.scrubber.scrub(err.Error()), err: err}
}
