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

	"github.com/waitify-io/fanfare-go/internal/scrub"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

const (
	userAgent     = "fanfare-go/0.2.0"
	defaultAPIURL = "https://api.fanfare.io"
	// maxResponseBytes caps every Fanfare response body the client reads:
	// the API's answers are a few hundred bytes.
	maxResponseBytes = 64 << 10
)

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

	// HTTPClient sends the requests; leave its Timeout zero (AttemptTimeout
	// and the caller's context bound the calls). Redirects are never
	// followed, so the secret key never goes to another host. Default: a
	// client keeping up to 512 idle connections per host (Go's keeps 2).
	HTTPClient *http.Client

	// AttemptTimeout bounds one attempt of a call; the caller's context
	// bounds the whole call, retries included. Default: 3s.
	AttemptTimeout time.Duration

	// Retry says how calls that are safe to repeat are retried.
	Retry RetryPolicy

	// UserAgent is prepended to the library's own User-Agent.
	// Default: empty (the header is "fanfare-go/<version>").
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

func redacted(secret string) string {
	if secret == "" {
		return ""
	}
	return scrub.Redacted
}

// Format makes every fmt verb (%v, %+v, %#v, ...) print the config without
// its secret key, log/slog's TextHandler included.
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
	header         http.Header // of every request, cloned for each
	hc             *http.Client
	attemptTimeout time.Duration
	retry          RetryPolicy
	scrubber       scrub.Scrubber
}

// NewClient checks cfg and returns a client. Its errors never contain the
// key.
func NewClient(cfg Config) (*Client, error) {
	raw := cmp.Or(cfg.APIURL, defaultAPIURL)
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, configError("APIURL %q is not an absolute http(s) URL", truncate(raw, 100))
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, configError("APIURL must not carry user info, a query or a fragment")
	case !secureURL(u):
		return nil, configError("APIURL %q must use https (plain http is allowed only for loopback hosts)", truncate(raw, 100))
	case strings.TrimSpace(cfg.OrganizationID) == "":
		return nil, configError("OrganizationID is empty (set FANFARE_ORG_ID)")
	case cfg.SecretKey == "":
		return nil, configError("SecretKey is empty (set FANFARE_SECRET_KEY)")
	case strings.HasPrefix(cfg.SecretKey, "pk_"):
		return nil, configError("SecretKey is a publishable key (pk_...): publishable keys belong in the browser; the server needs the secret key (sk_...)")
	case !strings.HasPrefix(cfg.SecretKey, "sk_"):
		return nil, configError("SecretKey must start with sk_")
	case strings.ContainsAny(cfg.SecretKey, "\r\n\t "):
		return nil, configError("SecretKey contains white space")
	case cfg.AttemptTimeout < 0 || cfg.Retry.MaxAttempts < 0 || cfg.Retry.InitialBackoff < 0 || cfg.Retry.MaxBackoff < 0:
		return nil, configError("negative timeout or retry setting")
	}
	hc := http.Client{Transport: newTransport()}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	// net/http would resend X-Secret-Key to the host a redirect names (it
	// strips only Authorization and cookies), and that host's answer would
	// pass for Fanfare's.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		base:  strings.TrimRight(u.String(), "/"),
		orgID: cfg.OrganizationID,
		header: http.Header{
			"Content-Type":            {"application/json"},
			"Accept":                  {"application/json"},
			"User-Agent":              {strings.TrimPrefix(cfg.UserAgent+" "+userAgent, " ")},
			wire.HeaderOrganizationID: {cfg.OrganizationID},
			wire.HeaderSecretKey:      {cfg.SecretKey},
		},
		hc:             &hc,
		attemptTimeout: cmp.Or(cfg.AttemptTimeout, 3*time.Second),
		retry: RetryPolicy{cmp.Or(cfg.Retry.MaxAttempts, 3),
			cmp.Or(cfg.Retry.InitialBackoff, 50*time.Millisecond), cmp.Or(cfg.Retry.MaxBackoff, time.Second)},
		scrubber: scrub.New(cfg.SecretKey),
	}, nil
}

func configError(format string, a ...any) error {
	return fmt.Errorf("fanfare: invalid config: "+format, a...)
}

// newTransport returns the transport of the default HTTP clients: Go's
// default settings with shorter timeouts and more idle connections. Not a
// clone of http.DefaultTransport, which programs often wrap (otelhttp,
// httpmock) or reconfigure.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DialContext:       (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      1024, MaxIdleConnsPerHost: 512,
		IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 5 * time.Second, ExpectContinueTimeout: time.Second,
	}
}

// secureURL reports whether u is https, or http on a loopback host.
func secureURL(u *url.URL) bool {
	ip, err := netip.ParseAddr(u.Hostname())
	return u.Host != "" && (u.Scheme == "https" ||
		u.Scheme == "http" && (u.Hostname() == "localhost" || err == nil && ip.IsLoopback()))
}

// Format makes every fmt verb print the client without its secret key
// (log/slog's TextHandler included; its JSONHandler prints a Client as {}).
func (c Client) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "fanfare.Client{APIURL:%q OrganizationID:%q SecretKey:%q}", c.base, c.orgID, scrub.Redacted)
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
	// Claims is the JSON object ClaimsPolicy.Sanitize returned, sent as it
	// is, so the size the policy measured is the size Fanfare receives.
	// Anything but a JSON object is refused with ErrInvalidClaims.
	// Default: nil, no claims.
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
func (c *Client) Authorize(ctx context.Context, req AuthorizeRequest) (code ExchangeCode, err error) {
	if req.Provider == "" || req.Issuer == "" || req.Subject == "" {
		return code, errors.New("fanfare: authorize: provider, issuer and subject are required")
	}
	if len(req.Claims) > 0 && (req.Claims[0] != '{' || !json.Valid(req.Claims)) {
		return code, fmt.Errorf("%w: authorize: claims must be a JSON object (see ClaimsPolicy.Sanitize)", ErrInvalidClaims)
	}
	body := wire.AuthorizeRequest{Provider: req.Provider, Issuer: req.Issuer, Subject: req.Subject, Claims: req.Claims}
	err = c.call(ctx, "authorize", wire.PathAuthorize, body, c.retry.MaxAttempts, func(raw []byte) (err error) {
		code, err = decodeAuthorizeResponse(raw)
		return err
	})
	return code, err
}

// ValidateAdmission asks Fanfare whether token admits consumerID to d
// (POST /{queues|draws|auctions}/{id}/validate): (true, nil) or (false, nil)
// for a clear answer; otherwise false and an error matching [ErrUnavailable]
// when Fanfare could not answer (answer 503 and let the consumer retry), or
// an *APIError for any other refusal.
func (c *Client) ValidateAdmission(ctx context.Context, d Distribution, consumerID, token string) (valid bool, err error) {
	if err := d.Validate(); err != nil {
		return false, err
	}
	if consumerID == "" || token == "" {
		return false, errors.New("fanfare: validate: consumer id and token are required")
	}
	body := wire.ValidateRequest{ConsumerID: consumerID, Token: token}
	err = c.call(ctx, "validate", d.path("validate"), body, c.retry.MaxAttempts, func(raw []byte) (err error) {
		valid, err = decodeValidateResponse(raw)
		return err
	})
	return valid, err
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

// complete posts the completion in at most attempts tries (the outbox makes
// one). A 2xx body that is not JSON did not come from Fanfare: the
// completion must be delivered again.
func (c *Client) complete(ctx context.Context, d Distribution, consumerID string, attempts int) error {
	return c.call(ctx, "complete", d.path("complete"), wire.CompleteRequest{ConsumerID: consumerID}, attempts, func(raw []byte) error {
		if len(bytes.TrimSpace(raw)) > 0 && !json.Valid(raw) {
			return errors.New("malformed complete response: not JSON")
		}
		return nil
	})
}

// call posts v as JSON to path in up to attempts attempts and passes the body
// of a 2xx answer to decode.
func (c *Client) call(ctx context.Context, op, path string, v any, attempts int, decode func([]byte) error) error {
	body, err := json.Marshal(v) // the wire types always encode: Authorize checked the claims
	if err != nil {
		return fmt.Errorf("fanfare: %s: encoding the request failed", op)
	}
	for attempt := 1; ; attempt++ {
		raw, retryable, err := c.attempt(ctx, op, path, body)
		if err == nil {
			if err := decode(raw); err != nil {
				return c.unavailable(op, err)
			}
			return nil
		}
		if !retryable || attempt >= attempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(c.backoff(attempt)):
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

func (c *Client) attempt(ctx context.Context, op, path string, body []byte) (raw []byte, retryable bool, err error) {
	idempotent := op != "authorize" // a repeated authorize mints a second code
	ctx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("fanfare: %s: %w", op, err)
	}
	req.Header = c.header.Clone() // a Jar on the HTTPClient adds to it
	resp, err := c.hc.Do(req)
	if err != nil {
		var dial *net.OpError // a failed dial: no byte reached Fanfare
		return nil, idempotent || errors.As(err, &dial) && dial.Op == "dial", c.unavailable(op, err)
	}
	defer resp.Body.Close()
	raw, err = readCapped(resp.Body, maxResponseBytes)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300 && err != nil:
		// A body cut short is worth another try; an oversized one is not.
		return nil, idempotent && !errors.Is(err, errBodyTooLarge), c.unavailable(op, err)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return raw, false, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400: // a proxy or URL misconfigured
		return nil, false, c.unavailable(op, fmt.Errorf("redirect (status %d) not followed", resp.StatusCode))
	}
	apiErr := decodeAPIError(resp.StatusCode, raw, c.scrubber)
	apiErr.Op = op
	return nil, idempotent && apiErr.temporary(), apiErr
}

var errBodyTooLarge = errors.New("body too large")

// readCapped reads all of r, failing with errBodyTooLarge past n bytes.
func readCapped(r io.Reader, n int64) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, n+1))
	switch {
	case err != nil:
		return nil, err
	case int64(len(raw)) > n:
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
// scrubbed before it is cut to size (a cut key would escape the scrubber).
// The raw body is never kept: it may echo what we sent.
func decodeAPIError(status int, raw []byte, s scrub.Scrubber) *APIError {
	e := &APIError{StatusCode: status}
	var body wire.ErrorBody
	if json.Unmarshal(raw, &body) == nil {
		e.Code = truncate(s.Scrub(body.Error), 64)
		e.Message = truncate(s.Scrub(body.Message), 200)
	}
	return e
}

// unavailable wraps err, whose text may quote upstream bytes, scrubbed.
func (c *Client) unavailable(op string, err error) *unavailableError {
	return &unavailableError{op: op, msg: c.scrubber.Scrub(err.Error()), err: err}
}
