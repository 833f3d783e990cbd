// Command checkout is the vendor guide's "Complete Integration Example" as a
// Go program on net/http and alice: a shop whose checkout only admitted
// Fanfare consumers can use, once each, with a storefront page that walks
// the browser's side of the flow.
//
//	go run ./examples/checkout              # serve on 127.0.0.1:8080, storefront at /
//	go run ./examples/checkout -addr :9000  # elsewhere
//	go run ./examples/checkout -hold 5s     # the emulator keeps shoppers in line up to 5s
//	go run ./examples/checkout -demo        # drive the whole flow once over HTTP and exit
//	go run ./examples/checkout -redis redis://127.0.0.1:6379/0  # share limiter, store and outbox with other instances
//	go run ./examples/checkout -telemetry stdout      # print OpenTelemetry spans and metrics (otelfanfare) to stderr
//	go run ./examples/checkout -telemetry prometheus  # serve the metrics at GET /metrics
//
// Without FANFARE_SECRET_KEY in the environment it starts an embedded
// Fanfare emulator (and says so); with FANFARE_API_URL, FANFARE_ORG_ID,
// FANFARE_SECRET_KEY and FANFARE_PUBLISHABLE_KEY it talks to the real API.
// SIGINT or SIGTERM shuts it down gracefully.
//
// This file holds all of the library's wiring. The shop's own parts — the
// toy login standing in for your auth, the order book, the checkout handler,
// the storefront page and the demo — are in examples/internal.
package main

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
	"syscall"
	"time"

	"github.com/justinas/alice"
	"github.com/redis/go-redis/v9"
	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/examples/internal/demo"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
	"github.com/waitify-io/fanfare-go/examples/internal/storefront"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/otelfanfare"
	"github.com/waitify-io/fanfare-go/redisstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// newApp wires the shop's routes with the library: the guide's steps 1
// (authorize), 3 (validate) and 4 (checkout), plus the storefront page.
// The rate limiter's decisions and the checkout's admissions and refusals
// are measured by otelfanfare, with the providers telemetry names (by
// default OpenTelemetry's global ones).
func newApp(cfg shop.Config, telemetry ...otelfanfare.Option) (http.Handler, error) {
	s, err := shop.New(cfg) // the toy login, the order book, the checkout handler
	if err != nil {
		return nil, err
	}
	cfg = s.Config() // defaults filled in
	client := cfg.Client

	// Your own auth comes first on every route: here the toy login's
	// session cookie becomes a fanfare.Identity in the request context.
	login := alice.New(s.Sessions.Authenticate)

	// Guide step 1: an exchange code for the logged-in user (401 without
	// one), with the user's claims sanitized, at most 10 per user per
	// minute: the -redis limiter, or the in-memory one RateLimitAuthorize
	// would make, made here to count its decisions.
	limiter := cfg.Limiter
	if limiter == nil {
		limiter = fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Clock: cfg.Clock})
	}
	authorize := login.Append(
		fanfare.SanitizeClaims(fanfare.ClaimsOptions{Logger: cfg.Logger}),
		fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{
			Limiter: otelfanfare.Limiter(limiter, telemetry...),
			Clock:   cfg.Clock,
			Logger:  cfg.Logger,
		}),
	).Then(fanfare.NewAuthorizeHandler(client, fanfare.AuthorizeOptions{
		Provider: cfg.Provider, // "fanfare-go-example": your platform
		Issuer:   cfg.Issuer,   // "https://shop.example.com": your domain
		Logger:   cfg.Logger,
	}))

	// Guide step 3: the validation endpoint, as the guide has it.
	validate := fanfare.NewValidateAdmissionHandler(client, fanfare.ValidateAdmissionOptions{Logger: cfg.Logger})

	// Guide step 4: checkout for logged-in users holding an admission to
	// the drop that Fanfare confirms, one request per admission at a time;
	// a 2xx spends the admission (409 ADMISSION_USED afterwards) and
	// completes it with Fanfare. otelfanfare.Admission counts the
	// admissions and the refusals, by code.
	requireAdmission := fanfare.RequireAdmission(client, otelfanfare.Admission(fanfare.AdmissionOptions{
		// The guide's checkout body names the distribution
		// (experienceType, distributionId); the shop sells one drop and
		// refuses admissions to any other.
		Distribution: fanfare.DistributionFunc(s.DistributionOnSale),
		// Before Fanfare is asked: refuse a consumer tied to another user
		// of the shop, and one who already bought in this drop.
		BindConsumer: s.BindConsumer,
		// The library's answers, and 409 ADMISSION_USED for a consumer who
		// already bought.
		ErrorHandler: s.WriteAdmissionError,
		// Which admissions are in use and used, and the completions owed
		// to Fanfare; with several instances, a shared store (Redis).
		Store: cfg.Store,
		// Delivers the completions the Store records (see run).
		Completions: cfg.Completions,
		Clock:       cfg.Clock,
		Logger:      cfg.Logger,
	}, telemetry...))
	checkout := login.Append(shop.RequireLogin, requireAdmission).Then(s.Checkout())

	page := storefront.Handler(cfg.Fanfare.APIURL)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET "+storefront.AssetPrefix, page)
	mux.Handle("GET /api/config", s.ConfigHandler())
	mux.HandleFunc("POST /login", s.Sessions.Login)
	mux.Handle("POST /api/fanfare/authorize", authorize)
	mux.Handle("POST /api/validate-admission", validate)
	mux.Handle("POST /api/checkout", checkout)
	return mux, nil
}

// run is main with its context, arguments and outputs: it serves until ctx
// is done and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("checkout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	distFlag := fs.String("distribution", "queue:q_drop", "the drop's Fanfare distribution, as type:id (queue, draw or auction)")
	hold := fs.Duration("hold", 0, "embedded emulator only: keep each shopper waiting in line up to this long before admitting them (0: admit at once)")
	demoMode := fs.Bool("demo", false, "run the whole flow against the app once, print each step, and exit")
	redisURL := fs.String("redis", os.Getenv("REDIS_URL"), "a redis:// URL: keep the rate limiter, the single-use store and the completion outbox in Redis, shared by every instance (default $REDIS_URL; empty: in memory)")
	var telemetryFlag telemetryMode
	fs.Var(&telemetryFlag, "telemetry", "where otelfanfare's OpenTelemetry spans and metrics go, as `mode`: stdout prints spans as they end and metrics every 10s to stderr; prometheus serves the metrics at GET /metrics on the shop's address (default: nowhere)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dist, err := shop.ParseDistribution(*distFlag)
	if err != nil {
		fmt.Fprintf(stderr, "checkout: -distribution: %v\n", err)
		return 2
	}
	if *hold < 0 || (*hold > 0 && *demoMode) {
		fmt.Fprintln(stderr, "checkout: -hold must be positive, and cannot be used with -demo")
		return 2
	}
	level := slog.LevelInfo
	if *demoMode {
		level = slog.LevelWarn // the demo's own lines tell the story
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	// Telemetry (-telemetry): the OpenTelemetry SDK's providers, passed to
	// each otelfanfare wrapper below, and stopped after worker.Close, so
	// that the last metrics printed or scraped include its deliveries.
	tel, err := newTelemetry(telemetryFlag, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "checkout: -telemetry: %v\n", err)
		return 1
	}
	stopTelemetry := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.shutdown(ctx); err != nil {
			fmt.Fprintf(stderr, "checkout: -telemetry: %v\n", err)
		}
	}
	defer stopTelemetry() // on an early return; once stopped below, it does nothing

	// The Fanfare client, whose calls otelfanfare traces and times. The
	// first line says which Fanfare this run talks to.
	httpClient := otelfanfare.HTTPClient(tel.options...)
	defer httpClient.CloseIdleConnections()
	cfg, publishableKey, emu, err := openFanfare(*demoMode, *hold > 0)
	if err != nil {
		fmt.Fprintf(stderr, "checkout: %v\n", err)
		return 1
	}
	if emu != nil {
		defer emu.Close() // last: the worker below delivers to it on shutdown
	}
	cfg.HTTPClient = httpClient
	client, err := fanfare.NewClient(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "checkout: %v\n", err) // says what is missing; never shows the key
		return 1
	}
	switch {
	case emu != nil && *demoMode:
		fmt.Fprintf(stdout, "checkout: demo against an embedded Fanfare emulator at %s, whatever the environment says (its browser steps exist only there)\n", emu.URL)
	case emu != nil:
		fmt.Fprintf(stdout, "checkout: no FANFARE_SECRET_KEY in the environment, so using an embedded Fanfare emulator at %s, not the real API\n", emu.URL)
	default:
		fmt.Fprintf(stdout, "checkout: using the Fanfare API at %s, organization %s\n", cfg.APIURL, cfg.OrganizationID)
	}
	if *hold > 0 && emu == nil {
		fmt.Fprintln(stderr, "checkout: -hold needs the embedded emulator (unset FANFARE_SECRET_KEY)")
		return 2
	}

	// Completions. RequireAdmission marks an admission used and records the
	// completion it owes Fanfare in the Store, in one step; this worker
	// delivers them, retrying with backoff while Fanfare is unreachable.
	// Closed on shutdown, after the server, it delivers what is still due.
	//
	// With -redis, the limiter, the store and its outbox live in Redis, so
	// that several instances behind a load balancer admit each admission
	// once, count the authorize limit together, and deliver each other's
	// completions (the redisstore module).
	var store fanfare.Store = fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{})
	var limiter fanfare.Limiter
	if *redisURL != "" {
		opts, err := redis.ParseURL(*redisURL)
		if err != nil {
			fmt.Fprintf(stderr, "checkout: -redis: %v\n", err)
			return 2
		}
		opts.ContextTimeoutEnabled = true // lets the store's deadlines bound a hung Redis
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		prefix := "fanfare-example:" + cfg.OrganizationID
		if store, err = redisstore.NewStore(rdb, redisstore.StoreOptions{Prefix: prefix}); err == nil {
			limiter, err = redisstore.NewLimiter(rdb, redisstore.LimiterOptions{Prefix: prefix})
		}
		if err != nil {
			fmt.Fprintf(stderr, "checkout: -redis: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "checkout: rate limiter, admission store and completion outbox in Redis at %s\n", opts.Addr)
	}
	// otelfanfare counts the completions it gives up, and reports the
	// outbox's backlog at every collection.
	worker := fanfare.NewCompletionWorker(client, store,
		otelfanfare.Completions(fanfare.CompletionWorkerOptions{Logger: logger}, tel.options...))
	backlog, err := otelfanfare.ObserveCompletions(store, tel.options...)
	if err != nil {
		fmt.Fprintf(stderr, "checkout: -telemetry: %v\n", err)
		_ = worker.Close(ctx)
		return 1
	}
	defer backlog.Unregister()

	handler, err := newApp(shop.Config{
		Client:         client,
		Fanfare:        cfg,
		Distribution:   dist,
		PublishableKey: publishableKey,
		Logger:         logger,
		Store:          store,
		Completions:    worker,
		Limiter:        limiter,
	}, tel.options...)
	if err != nil {
		fmt.Fprintf(stderr, "checkout: %v\n", err)
		_ = worker.Close(ctx) // nothing was served: nothing is owed
		return 1
	}

	listenAddr := *addr
	if *demoMode {
		listenAddr = "127.0.0.1:0"
	}
	if tel.metrics != nil {
		// -telemetry prometheus: the scrape endpoint beside the shop's
		// routes. In production serve it on an address only your
		// Prometheus reaches.
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", tel.metrics)
		mux.Handle("/", handler)
		handler = mux
	}
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		fmt.Fprintf(stderr, "checkout: %v\n", err)
		_ = worker.Close(ctx)
		return 1
	}
	srv := shop.NewServer(handler, logger) // with read, write and idle timeouts
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	appURL := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "checkout: shop listening on %s (POST /login is a toy login standing in for your own auth)\n", appURL)
	switch telemetryFlag {
	case telemetryStdout:
		fmt.Fprintf(stdout, "checkout: OpenTelemetry spans and metrics go to stderr (metrics every %s and on exit)\n", metricsInterval)
	case telemetryPrometheus:
		fmt.Fprintf(stdout, "checkout: Prometheus metrics at %s/metrics\n", appURL)
	}

	code := 0
	if *demoMode {
		if err := demo.Run(ctx, stdout, appURL); err != nil {
			fmt.Fprintf(stdout, "Demo FAILED: %v\n", err)
			code = 1
		}
	} else {
		if emu != nil {
			fmt.Fprintf(stdout, "checkout: open %s/ in a browser: the storefront walks the whole flow against the emulator. Ctrl-C to stop.\n", appURL)
		} else {
			fmt.Fprintf(stdout, "checkout: the storefront at %s/ drives the emulator's consumer endpoints only; with the real API your page uses Fanfare's browser SDK. Ctrl-C to stop.\n", appURL)
		}
		if *hold > 0 {
			holdCtx, stopHold := context.WithCancel(ctx)
			defer stopHold()
			go admitEvery(holdCtx, emu, dist, *hold)
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "checkout: shutting down")
		case err := <-served:
			fmt.Fprintf(stderr, "checkout: %v\n", err)
			code = 1
		}
	}

	// Shut down: stop taking requests and let those in flight finish, then
	// deliver the completions they owe Fanfare.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "checkout: shutdown: %v\n", err)
		code = 1
	}
	if err := <-served; code == 0 && err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "checkout: %v\n", err)
		code = 1
	}
	if err := worker.Close(shutdownCtx); err != nil {
		if *redisURL != "" {
			// They stay in Redis: another instance, or the next start, delivers them.
			fmt.Fprintf(stdout, "checkout: %v; they stay in Redis for the other instances\n", err)
		} else {
			// An in-memory outbox dies with the process: say what is lost.
			fmt.Fprintf(stderr, "checkout: %v\n", err)
			code = 1
		}
	}
	stopTelemetry() // the last collection, with the outbox's backlog after Close
	return code
}

// openFanfare returns the config of the Fanfare API the environment names
// (fanfare.ConfigFromEnv: FANFARE_API_URL, FANFARE_ORG_ID,
// FANFARE_SECRET_KEY) and the browser's FANFARE_PUBLISHABLE_KEY. Without
// FANFARE_SECRET_KEY, or with emulate, it starts an embedded emulator on a
// free loopback port instead, holding entries in line when hold is set, and
// returns it to be closed.
func openFanfare(emulate, hold bool) (fanfare.Config, string, *fanfaretest.Server, error) {
	if emulate || os.Getenv("FANFARE_SECRET_KEY") == "" {
		emu, err := fanfaretest.Start(fanfaretest.Options{HoldEntries: hold})
		if err != nil {
			return fanfare.Config{}, "", nil, err
		}
		return emu.Config(), emu.PublishableKey, emu, nil // the emulator's URL, organization and secret key
	}
	return fanfare.ConfigFromEnv(), os.Getenv("FANFARE_PUBLISHABLE_KEY"), nil, nil
}

// admitEvery plays the queue's operator for -hold: every interval it admits
// everyone waiting in d's line, until ctx is done.
func admitEvery(ctx context.Context, emu *fanfaretest.Server, d fanfare.Distribution, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			emu.AdmitWaiting(d)
		}
	}
}
