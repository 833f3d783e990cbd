// Command fanfare-emulator runs the fanfaretest emulator of the Fanfare API
// standalone, so a frontend team can point the browser SDK at it and a
// backend at FANFARE_API_URL without a Fanfare account.
//
//	go run github.com/waitify-io/fanfare-go/cmd/fanfare-emulator -addr 127.0.0.1:7070
//
// It prints its URL, organization id, publishable key and secret key, then
// serves until SIGINT or SIGTERM. It is a local emulator: its keys are test
// keys, printed on purpose; never give it real ones.
//
// Tests in any language drive it through its admin API under /_emulator/
// (loopback clients only, no key): admit a consumer, inject and clear
// faults per endpoint, list calls, completions, authorizations and validate
// calls, move a manual clock, admit consumers held in line, reset. See
// fanfaretest.Server.AdminURL for every route.
//
// Flags:
//
//	-addr 127.0.0.1:7070     listen address
//	-org-id ID               organization id (default: random org_test_…)
//	-secret-key sk_…         secret key (default: random sk_test_…)
//	-publishable-key pk_…    publishable key (default: random pk_test_…)
//	-admission-ttl 10m       lifetime of admission tokens
//	-hold-entries            /enter answers 202 "waiting" until POST /_emulator/admit-waiting
//	-manual-clock            time stands still until POST /_emulator/clock moves it
//	-clock-start RFC3339     where the manual clock starts (default: now)
//	-fingerprint-header NAME /enter copies this request header into the token's fingerprint claim
//	-hs256-secret SECRET     sign with HS256 and this secret (≥ 32 bytes) instead of ES256
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/waitify-io/fanfare-go/fanfaretest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "fanfare-emulator:", err)
		os.Exit(2)
	}
}

// minHS256SecretBytes is the shortest -hs256-secret accepted: what
// fanfare.NewHMACVerifier requires of the backend verifying the tokens.
const minHS256SecretBytes = 32

// run serves until ctx is done.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fanfare-emulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7070", "listen address")
	org := fs.String("org-id", "", "organization id (default: random org_test_…)")
	secretKey := fs.String("secret-key", "", "secret key, starting sk_ (default: random sk_test_…)")
	publishable := fs.String("publishable-key", "", "publishable key (default: random pk_test_…)")
	ttl := fs.Duration("admission-ttl", 10*time.Minute, "lifetime of admission tokens")
	hold := fs.Bool("hold-entries", false, "keep consumers waiting at /enter (202) until POST /_emulator/admit-waiting admits them")
	manual := fs.Bool("manual-clock", false, "run on a manual clock that stands still until POST /_emulator/clock moves it")
	clockStart := fs.String("clock-start", "", "RFC 3339 start time of the manual clock (default: now); needs -manual-clock")
	fingerprintHeader := fs.String("fingerprint-header", "", "request header whose value /enter writes into the admission token's fingerprint claim")
	hs256 := fs.String("hs256-secret", "", "sign tokens with HS256 and this shared secret (at least 32 bytes) instead of ES256")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; every option is a flag", fs.Arg(0))
	}
	if *secretKey != "" && !strings.HasPrefix(*secretKey, "sk_") {
		return fmt.Errorf("-secret-key must start with sk_")
	}
	if *ttl <= 0 {
		return fmt.Errorf("-admission-ttl must be positive")
	}
	if *hs256 != "" && len(*hs256) < minHS256SecretBytes {
		return fmt.Errorf("-hs256-secret is %d bytes; at least %d are required", len(*hs256), minHS256SecretBytes)
	}
	opts := fanfaretest.Options{
		Addr: *addr, OrganizationID: *org, SecretKey: *secretKey, PublishableKey: *publishable, AdmissionTTL: *ttl,
		HoldEntries: *hold, FingerprintHeader: *fingerprintHeader,
	}
	if *hs256 != "" {
		opts.HS256Secret = []byte(*hs256)
	}
	switch {
	case *manual:
		start := time.Now().UTC().Truncate(time.Second)
		if *clockStart != "" {
			t, err := time.Parse(time.RFC3339, *clockStart)
			if err != nil {
				return fmt.Errorf("-clock-start must be an RFC 3339 time such as 2030-01-01T00:00:00Z")
			}
			start = t
		}
		opts.ManualClock = fanfaretest.NewClock(start)
	case *clockStart != "":
		return fmt.Errorf("-clock-start needs -manual-clock")
	}
	srv, err := fanfaretest.Start(opts)
	if err != nil {
		return err
	}
	defer srv.Close()

	fmt.Fprintf(out, `fanfare-emulator: a local emulator of the Fanfare API for development, not Fanfare.
Its keys are test keys, printed on purpose; never give it real ones.
URL:             %s
Organization ID: %s
Publishable key: %s
Secret key:      %s
JWKS:            %s
Backend env:     FANFARE_API_URL=%s FANFARE_ORG_ID=%s FANFARE_SECRET_KEY=%s
Admin API:       %s/ (loopback clients only)
`, srv.URL, srv.OrganizationID, srv.PublishableKey, srv.SecretKey, srv.JWKSURL(),
		srv.URL, srv.OrganizationID, srv.SecretKey, srv.AdminURL())
	if *hs256 != "" {
		fmt.Fprintln(out, "Signing:         HS256 with the -hs256-secret secret (the JWKS is empty)")
	}
	if *hold {
		fmt.Fprintln(out, "Entries:         held until POST /_emulator/admit-waiting")
	}
	if opts.ManualClock != nil {
		fmt.Fprintf(out, "Clock:           manual, at %s; POST /_emulator/clock moves it\n", srv.Now().UTC().Format(time.RFC3339))
	}
	if *fingerprintHeader != "" {
		fmt.Fprintf(out, "Fingerprint:     /enter copies header %s into the token\n", http.CanonicalHeaderKey(*fingerprintHeader))
	}
	fmt.Fprintln(out, "Serving; Ctrl-C to stop.")

	<-ctx.Done()
	srv.Close()
	fmt.Fprintln(out, "fanfare-emulator: stopped")
	return nil
}
