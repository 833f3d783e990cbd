package shop

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/examples/internal/demo"
)

// Main is the main function of the gin, echo and chi checkout examples
// (examples/checkout spells its own out): name is the program's name, newApp
// builds its HTTP handler on the example's router. It serves until ctx is done or
// the process gets SIGINT or SIGTERM, and returns the exit code.
//
// Flags: -addr (default 127.0.0.1:8080), -distribution type:id (default
// queue:q_drop), -demo (serve on a free loopback port, drive the whole flow
// against it over HTTP, exit 0 if every answer was the contract's).
func Main(ctx context.Context, name string, newApp func(Config) (http.Handler, error), args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	distFlag := fs.String("distribution", "queue:q_drop", "the drop's Fanfare distribution, as type:id (queue, draw or auction)")
	demoMode := fs.Bool("demo", false, "run the whole flow against the app once, print each step, and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dist, err := ParseDistribution(*distFlag)
	if err != nil {
		fmt.Fprintf(stderr, "%s: -distribution: %v\n", name, err)
		return 2
	}

	// The first line says which Fanfare this run talks to.
	backend, err := OpenBackend(*demoMode)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	defer backend.Close()
	switch {
	case backend.Emulator != nil && *demoMode:
		fmt.Fprintf(stdout, "%s: demo against an embedded Fanfare emulator at %s, whatever the environment says (its browser steps exist only there)\n", name, backend.Config.APIURL)
	case backend.Emulator != nil:
		fmt.Fprintf(stdout, "%s: no FANFARE_SECRET_KEY in the environment, so using an embedded Fanfare emulator at %s, not the real API\n", name, backend.Config.APIURL)
	default:
		fmt.Fprintf(stdout, "%s: using the Fanfare API at %s, organization %s\n", name, backend.Config.APIURL, backend.Config.OrganizationID)
	}

	level := slog.LevelInfo
	if *demoMode {
		level = slog.LevelWarn // the demo's own lines tell the story
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	handler, err := newApp(Config{
		Client:         backend.Client,
		Fanfare:        backend.Config,
		Distribution:   dist,
		PublishableKey: backend.PublishableKey,
		Logger:         logger,
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}

	listenAddr := *addr
	if *demoMode {
		listenAddr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	srv := NewServer(handler, logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	appURL := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "%s: shop listening on %s (POST /login is a toy login standing in for your own auth)\n", name, appURL)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := 0
	if *demoMode {
		if err := demo.Run(ctx, stdout, appURL); err != nil {
			fmt.Fprintf(stdout, "Demo FAILED: %v\n", err)
			code = 1
		}
	} else {
		select {
		case <-ctx.Done():
		case err := <-served:
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "%s: shutdown: %v\n", name, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		code = 1
	}
	return code
}

// ParseDistribution parses the -distribution flag, "type:id", e.g.
// "queue:q_drop".
func ParseDistribution(s string) (fanfare.Distribution, error) {
	typ, id, ok := strings.Cut(s, ":")
	if !ok {
		return fanfare.Distribution{}, fmt.Errorf("%q is not type:id", s)
	}
	d := fanfare.Distribution{Type: fanfare.DistributionType(typ), ID: id}
	switch d.Type {
	case fanfare.TypeQueue, fanfare.TypeDraw, fanfare.TypeAuction:
	default:
		return fanfare.Distribution{}, fmt.Errorf("unknown distribution type %q (want queue, draw or auction)", typ)
	}
	if err := d.Validate(); err != nil {
		return fanfare.Distribution{}, err
	}
	return d, nil
}

// NewServer is the shop's http.Server: handler behind the timeouts a server
// on the internet needs (a slow client cannot hold a connection open), and
// its own errors in logger.
func NewServer(handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
