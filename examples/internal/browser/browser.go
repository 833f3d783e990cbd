// Package browser plays the part of a shopper's browser against a checkout
// example, over real HTTP: it logs in to the shop, fetches an exchange code,
// trades it at Fanfare for a session (the SDK's exchangeExternal), enters the
// drop's distribution and checks out. The demo and the contract test both
// drive the examples through it.
//
// The two Fanfare calls (exchange and enter) are the browser SDK's; their
// shape is the fanfaretest emulator's, so this browser works against the
// emulator only.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// maxBody bounds every response body the browser reads.
const maxBody = 1 << 20

// Config is what GET /api/config tells the browser.
type Config struct {
	OrganizationID   string `json:"organizationId"`
	PublishableKey   string `json:"publishableKey"`
	APIURL           string `json:"apiUrl"`
	DistributionType string `json:"distributionType"`
	DistributionID   string `json:"distributionId"`
}

// Admission is what entering a distribution gave the browser.
type Admission struct {
	Token            string `json:"admissionToken"`
	ConsumerID       string `json:"consumerId"`
	DistributionID   string `json:"distributionId"`
	DistributionType string `json:"distributionType"`
	Position         *int   `json:"position,omitempty"`
	ExpiresAt        string `json:"expiresAt"`
}

// CheckoutRequest is the guide's CheckoutRequest body.
type CheckoutRequest struct {
	AdmissionToken string     `json:"admissionToken"`
	ConsumerID     string     `json:"consumerId"`
	ExperienceType string     `json:"experienceType"`
	DistributionID string     `json:"distributionId"`
	Cart           []CartItem `json:"cart"`
}

// CartItem is one line of the cart.
type CartItem struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Response is an HTTP answer, read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body into v.
func (r *Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("browser: status %d, body is not the JSON expected: %w (%.200q)", r.Status, err, r.Body)
	}
	return nil
}

// Field returns a top-level string field of a JSON object body, or "".
func (r *Response) Field(name string) string {
	var m map[string]any
	if json.Unmarshal(r.Body, &m) != nil {
		return ""
	}
	s, _ := m[name].(string)
	return s
}

// String describes the answer for messages: its status and a cut of its body.
func (r *Response) String() string {
	return fmt.Sprintf("%d %.300s", r.Status, bytes.TrimSpace(r.Body))
}

// Browser is one shopper: a cookie jar for the shop and, once exchanged, a
// Fanfare session. It is not safe for concurrent use.
type Browser struct {
	// App is the shop's base URL.
	App string
	// HTTP sends every request; it holds the shop's session cookie.
	HTTP *http.Client
	// Config is the shop's /api/config, once LoadConfig ran.
	Config Config
	// AccessToken and ConsumerID are the Fanfare session, once Exchange ran.
	AccessToken, ConsumerID string
}

// New returns a browser with an empty cookie jar for the shop at appURL.
func New(appURL string) *Browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &Browser{
		App:  strings.TrimRight(appURL, "/"),
		HTTP: &http.Client{Jar: jar, Timeout: 10 * time.Second},
	}
}

// Do sends a request with body encoded as JSON (none when body is nil) and
// extra headers, and reads the answer. Only a transport failure is an error.
func (b *Browser) Do(ctx context.Context, method, url string, body any, header http.Header) (*Response, error) {
	var rd io.Reader
	if body != nil {
		raw, ok := body.([]byte)
		if !ok {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				return nil, err
			}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}, nil
}

// LoadConfig fetches GET /api/config, as the page does before it starts the
// Fanfare SDK.
func (b *Browser) LoadConfig(ctx context.Context) (*Response, error) {
	resp, err := b.Do(ctx, http.MethodGet, b.App+"/api/config", nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return resp, fmt.Errorf("browser: GET /api/config: %s", resp)
	}
	return resp, resp.Decode(&b.Config)
}

// Login logs in to the shop's toy login.
func (b *Browser) Login(ctx context.Context, userID, email string) (*Response, error) {
	return b.Do(ctx, http.MethodPost, b.App+"/login", map[string]string{"userId": userID, "email": email}, nil)
}

// Authorize asks the shop for an exchange code (the guide's step 1).
func (b *Browser) Authorize(ctx context.Context) (*Response, error) {
	return b.Do(ctx, http.MethodPost, b.App+"/api/fanfare/authorize", nil, nil)
}

// Exchange trades an exchange code at Fanfare for a session (the SDK's
// exchangeExternal) and keeps the session.
func (b *Browser) Exchange(ctx context.Context, code string) (*Response, error) {
	if b.Config.APIURL == "" {
		return nil, fmt.Errorf("browser: no Fanfare API URL: run LoadConfig first")
	}
	resp, err := b.Do(ctx, http.MethodPost, b.Config.APIURL+"/auth/external/exchange", map[string]string{"exchangeCode": code}, nil)
	if err != nil || resp.Status != http.StatusOK {
		return resp, err
	}
	var s struct {
		AccessToken string `json:"accessToken"`
		ConsumerID  string `json:"consumerId"`
	}
	if err := resp.Decode(&s); err != nil {
		return resp, err
	}
	if s.AccessToken == "" || s.ConsumerID == "" {
		return resp, fmt.Errorf("browser: exchange answered without accessToken or consumerId: %s", resp)
	}
	b.AccessToken, b.ConsumerID = s.AccessToken, s.ConsumerID
	return resp, nil
}

// Enter enters the shop's distribution with the Fanfare session and returns
// the admission (200). The emulator admits at once unless told otherwise.
func (b *Browser) Enter(ctx context.Context) (*Response, Admission, error) {
	if b.AccessToken == "" {
		return nil, Admission{}, fmt.Errorf("browser: no Fanfare session: run Exchange first")
	}
	u := b.Config.APIURL + "/" + b.Config.DistributionType + "s/" + url.PathEscape(b.Config.DistributionID) + "/enter"
	resp, err := b.Do(ctx, http.MethodPost, u, []byte("{}"), http.Header{"Authorization": {"Bearer " + b.AccessToken}})
	if err != nil || resp.Status != http.StatusOK {
		return resp, Admission{}, err
	}
	var a Admission
	if err := resp.Decode(&a); err != nil {
		return resp, Admission{}, err
	}
	if a.Token == "" {
		return resp, Admission{}, fmt.Errorf("browser: enter answered without an admissionToken: %s", resp)
	}
	return resp, a, nil
}

// Checkout posts the guide's CheckoutRequest for a with cart.
func (b *Browser) Checkout(ctx context.Context, a Admission, cart ...CartItem) (*Response, error) {
	return b.CheckoutBody(ctx, CheckoutRequest{
		AdmissionToken: a.Token,
		ConsumerID:     a.ConsumerID,
		ExperienceType: b.Config.DistributionType,
		DistributionID: b.Config.DistributionID,
		Cart:           cart,
	})
}

// CheckoutBody posts body, as it is, to POST /api/checkout.
func (b *Browser) CheckoutBody(ctx context.Context, body any) (*Response, error) {
	return b.Do(ctx, http.MethodPost, b.App+"/api/checkout", body, nil)
}

// ValidateAdmission posts body to POST /api/validate-admission.
func (b *Browser) ValidateAdmission(ctx context.Context, body any) (*Response, error) {
	return b.Do(ctx, http.MethodPost, b.App+"/api/validate-admission", body, nil)
}

// SignIn is the whole sign-in of a shopper: load the config, log in, get an
// exchange code, exchange it. Every step must succeed.
func (b *Browser) SignIn(ctx context.Context, userID string) error {
	if b.Config.APIURL == "" {
		if _, err := b.LoadConfig(ctx); err != nil {
			return err
		}
	}
	if resp, err := b.Login(ctx, userID, userID+"@example.com"); err != nil {
		return err
	} else if resp.Status != http.StatusOK {
		return fmt.Errorf("browser: log in as %q: %s", userID, resp)
	}
	resp, err := b.Authorize(ctx)
	if err != nil {
		return err
	}
	code := resp.Field("exchangeCode")
	if resp.Status != http.StatusOK || code == "" {
		return fmt.Errorf("browser: authorize as %q: %s", userID, resp)
	}
	if resp, err := b.Exchange(ctx, code); err != nil {
		return err
	} else if resp.Status != http.StatusOK {
		return fmt.Errorf("browser: exchange for %q: %s", userID, resp)
	}
	return nil
}

// Admit signs in as userID and enters the distribution.
func (b *Browser) Admit(ctx context.Context, userID string) (Admission, error) {
	if err := b.SignIn(ctx, userID); err != nil {
		return Admission{}, err
	}
	resp, a, err := b.Enter(ctx)
	if err != nil {
		return Admission{}, err
	}
	if resp.Status != http.StatusOK {
		return Admission{}, fmt.Errorf("browser: enter as %q: %s", userID, resp)
	}
	return a, nil
}
