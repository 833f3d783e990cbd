// Package demo drives a checkout example against itself over HTTP, the way a
// shopper's browser would, and tells what happens at each step. Every
// checkout example's -demo flag runs it.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/waitify-io/fanfare-go/examples/internal/browser"
)

// AuthorizeLimit is the guide's rate limit on the authorize endpoint: 10
// exchange codes per user per minute.
const AuthorizeLimit = 10

// Run plays the whole flow against the shop at appURL, writing one line per
// step to out. It returns an error at the first answer that is not what the
// contract says. The shop must talk to the fanfaretest emulator: the browser
// steps (exchange, enter) are the emulator's.
func Run(ctx context.Context, out io.Writer, appURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p := &printer{w: out}
	b := browser.New(appURL)

	if _, err := b.LoadConfig(ctx); err != nil {
		return err
	}
	cfg := b.Config
	p.step("The page loads /api/config: %s %q of organization %s, Fanfare at %s.",
		cfg.DistributionType, cfg.DistributionID, cfg.OrganizationID, cfg.APIURL)

	resp, err := b.Login(ctx, "alice", "alice@example.com")
	if err != nil {
		return err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	p.step("Alice logs in (a toy login standing in for your own auth): %d, session cookie set.", resp.Status)

	if resp, err = b.Authorize(ctx); err != nil {
		return err
	}
	code := resp.Field("exchangeCode")
	if err := expect(resp, http.StatusOK); err != nil || code == "" {
		return fmt.Errorf("authorize: want 200 with an exchangeCode, got %s", resp)
	}
	p.step("The page asks the shop for an exchange code (POST /api/fanfare/authorize): %d, code expires %s.",
		resp.Status, resp.Field("expiresAt"))

	if resp, err = b.Exchange(ctx, code); err != nil {
		return err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	p.step("The browser trades the code at Fanfare for a session (the SDK's exchangeExternal): consumer %s.", b.ConsumerID)

	resp, adm, err := b.Enter(ctx)
	if err != nil {
		return err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return fmt.Errorf("enter: %w", err)
	}
	where := "admitted"
	if adm.Position != nil {
		where = fmt.Sprintf("admitted at position %d", *adm.Position)
	}
	p.step("The browser enters %s %q: %s, with an admission token (%d bytes).", cfg.DistributionType, cfg.DistributionID, where, len(adm.Token))

	cart := browser.CartItem{SKU: "sneaker-42", Quantity: 1}
	if resp, err = b.Checkout(ctx, adm, cart); err != nil {
		return err
	}
	orderID := resp.Field("orderId")
	if err := expect(resp, http.StatusOK); err != nil || orderID == "" {
		return fmt.Errorf("checkout: want 200 with an orderId, got %s", resp)
	}
	p.step("Alice checks out with the admission (POST /api/checkout): %d, order %s.", resp.Status, orderID)

	if resp, err = b.Checkout(ctx, adm, cart); err != nil {
		return err
	}
	if err := expect(resp, http.StatusConflict); err != nil {
		return fmt.Errorf("second checkout with a used admission: %w", err)
	}
	p.step("Alice tries the same admission again: %d %s, refused as it must be: one admission, one order.", resp.Status, resp.Field("code"))

	issued, retryAfter, err := exhaustAuthorize(ctx, b)
	if err != nil {
		return err
	}
	p.step("The page keeps asking for exchange codes: %d issued this minute, the next refused with 429 (Retry-After: %ss).", issued, retryAfter)

	fmt.Fprintln(out, "Demo passed: every answer was the one the contract promises.")
	return nil
}

// exhaustAuthorize asks for exchange codes until the rate limit answers
// 429, and checks that it let exactly AuthorizeLimit through in all (the
// code of step 3 included).
func exhaustAuthorize(ctx context.Context, b *browser.Browser) (issued int, retryAfter string, err error) {
	issued = 1 // the code exchanged above
	for range AuthorizeLimit {
		resp, err := b.Authorize(ctx)
		if err != nil {
			return 0, "", err
		}
		switch resp.Status {
		case http.StatusOK:
			issued++
			continue
		case http.StatusTooManyRequests:
			retryAfter = resp.Header.Get("Retry-After")
			if issued != AuthorizeLimit {
				return 0, "", fmt.Errorf("rate limit: 429 after %d codes, want after %d", issued, AuthorizeLimit)
			}
			if retryAfter == "" {
				return 0, "", errors.New("rate limit: 429 without a Retry-After header")
			}
			return issued, retryAfter, nil
		}
		return 0, "", fmt.Errorf("rate limit: want 200 or 429, got %s", resp)
	}
	return 0, "", fmt.Errorf("rate limit: %d codes issued in a row, want 429 after %d", issued, AuthorizeLimit)
}

// expect returns an error unless resp has the wanted status.
func expect(resp *browser.Response, want int) error {
	if resp.Status != want {
		return fmt.Errorf("want %d, got %s", want, resp)
	}
	return nil
}

// printer numbers the steps.
type printer struct {
	w io.Writer
	n int
}

func (p *printer) step(format string, args ...any) {
	p.n++
	fmt.Fprintf(p.w, "%d. "+format+"\n", append([]any{p.n}, args...)...)
}
