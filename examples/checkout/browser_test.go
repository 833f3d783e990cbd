//go:build browser

// The storefront in a real browser: headless Chromium, driven by chromedp,
// clicks through the whole flow against the app and an embedded emulator.
// It needs a chromium binary and runs only with the browser build tag:
//
//	make browser
//	cd examples && go test -tags browser -race -count=1 -run Browser ./checkout/...
//
// -update also writes the screenshot to storefront.png, the README's.

package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

var update = flag.Bool("update", false, "write the storefront screenshot to storefront.png")

// chromiumPath finds a Chromium or Chrome binary: $CHROMIUM, or one on PATH.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func TestBrowserStorefront(t *testing.T) {
	bin := chromiumPath()
	if bin == "" {
		t.Skip("no chromium binary on PATH (nor $CHROMIUM): install one, e.g. apt-get install chromium, to run the storefront's browser test")
	}

	// The app on loopback, against an emulator that holds entries in line
	// until the test admits them, so the page shows its waiting state.
	drop := fanfare.Queue("q_drop")
	emu := fanfaretest.NewServer(fanfaretest.Options{HoldEntries: true})
	t.Cleanup(emu.Close)
	app, err := newApp(shop.Config{
		Client:         emu.Client(),
		Fanfare:        emu.Config(),
		Distribution:   drop,
		PublishableKey: emu.PublishableKey,
		Logger:         slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)

	// The network is closed: no background traffic, no QUIC, a fresh
	// profile. --no-sandbox because CI runs as root.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(760, 1000),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")), "start %s", bin)

	// Every console message, exception and browser log entry (a refused
	// request, a CSP violation) is kept; errors fail the test.
	var (
		mu      sync.Mutex
		console []chromedp.ConsoleMessage
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m)
			mu.Unlock()
		}
	}()

	// step runs actions with a deadline, so that a page that never reaches
	// a state fails the test instead of hanging it.
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		stepCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		require.NoError(t, chromedp.Do(stepCtx, actions...), what)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		require.NoError(t, err, "text of %s", sel)
		return s
	}
	state := func(id, want string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(`#` + id + `[data-state="` + want + `"]`)
	}

	// A poll runs in one execution context and does not survive a
	// navigation (chromedp's Poll doc): wait for the new page's DOM with a
	// query, which follows the frame, so that the poll cannot start in the
	// context of about:blank just as it is replaced ("Cannot find context
	// with specified id").
	step("open the storefront",
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitReady("#api-url"),
		chromedp.Poll[chromedp.Void](`document.getElementById("api-url").textContent === "`+emu.URL+`"`),
	)

	step("log in",
		chromedp.SetValue("#user-id", "alice"),
		chromedp.Click("#login"),
		state("login-status", "ok"),
	)
	assert.Contains(t, text("#login-status"), "Logged in as alice")

	step("join the queue", chromedp.Click("#join"), state("queue-status", "waiting"))
	assert.Contains(t, text("#queue-status"), "Waiting in line: position 1", "the place in line is shown")
	buyDisabled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("buy").disabled`))
	require.NoError(t, err)
	assert.True(t, buyDisabled, "no checkout while waiting")

	require.Equal(t, 1, emu.AdmitWaiting(drop), "one shopper in line")
	step("admitted", state("queue-status", "admitted"))
	assert.Contains(t, text("#queue-status"), "Admitted at position 1")

	step("buy", chromedp.Click("#buy"), state("order-status", "placed"))
	order := text("#order-status")
	assert.Regexp(t, `^Order ord_[0-9a-f]+ placed\.$`, order)
	require.Eventually(t, func() bool { return len(emu.Completions()) == 1 }, 5*time.Second, 10*time.Millisecond,
		"the admission is completed with Fanfare")

	step("buy again with the same admission", chromedp.Click("#buy-again"), state("again-status", "refused"))
	again := text("#again-status")
	assert.Contains(t, again, "409")
	assert.Contains(t, again, "ADMISSION_USED")

	steps, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#log li")].map(li => li.className + " " + li.textContent)`))
	require.NoError(t, err)
	t.Logf("the page's log:\n%s", strings.Join(steps, "\n"))
	for _, s := range steps {
		assert.False(t, strings.HasPrefix(s, "bad "), "a step failed: %s", s)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "storefront-") // kept after the test, to look at
	require.NoError(t, err)
	shot := filepath.Join(dir, "storefront.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if *update {
		require.NoError(t, os.WriteFile("storefront.png", png, 0o644))
	}

	mu.Lock()
	defer mu.Unlock()
	for _, m := range console {
		t.Logf("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
		if m.URL == srv.URL+"/api/checkout" && strings.Contains(m.Text, "status of 409") {
			continue // the replayed admission's refusal, which the browser logs
		}
		assert.NotContains(t, []chromedp.ConsoleType{chromedp.ConsoleError, chromedp.ConsoleException}, m.Type,
			"the page logged an error: %s", m.Text)
	}
}
