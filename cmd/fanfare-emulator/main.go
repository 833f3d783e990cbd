// Command fanfare-emulator runs the fanfaretest emulator of the Fanfare API
// standalone, so a frontend team can point the browser SDK at it and a
// backend at FANFARE_API_URL without a Fanfare account.
//
//	go run github.com/waitify-io/fanfare-go/cmd/fanfare-emulator -addr 127.0.0.1:7070
//
// It prints its URL, organization id, publishable key and secret key, then
// serves until SIGINT or SIGTERM. It is a local emulator: its keys are test
// keys, printed on purpose; never give it real ones.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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

// run serves until ctx is done.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fanfare-emulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7070", "listen address")
	org := fs.String("org-id", "", "organization id (default: random org_test_…)")
	secretKey := fs.String("secret-key", "", "secret key, starting sk_ (default: random sk_test_…)")
	publishable := fs.String("publishable-key", "", "publishable key (default: random pk_test_…)")
	ttl := fs.Duration("admission-ttl", 10*time.Minute, "lifetime of admission tokens")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secretKey != "" && !strings.HasPrefix(*secretKey, "sk_") {
		return fmt.Errorf("-secret-key must start with sk_")
	}
	if *ttl <= 0 {
		return fmt.Errorf("-admission-ttl must be positive")
	}
	srv, err := fanfaretest.Start(fanfaretest.Options{
		Addr: *addr, OrganizationID: *org, SecretKey: *secretKey, PublishableKey: *publishable, AdmissionTTL: *ttl,
	})
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
Serving; Ctrl-C to stop.
`, srv.URL, srv.OrganizationID, srv.PublishableKey, srv.SecretKey, srv.JWKSURL(),
		srv.URL, srv.OrganizationID, srv.SecretKey)

	<-ctx.Done()
	srv.Close()
	fmt.Fprintln(out, "fanfare-emulator: stopped")
	return nil
}
