package contract

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/examples/internal/browser"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// Serve runs main without -demo on a free loopback port until the test
// ends, and returns the shop's URL and everything main wrote. When the test
// ends it cancels main's context and checks that main returns 0.
func Serve(t *testing.T, main Main, args ...string) (appURL string, output func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var (
		mu  sync.Mutex
		all strings.Builder
	)
	exit := make(chan int, 1)
	go func() {
		code := main(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw, pw)
		pw.Close()
		exit <- code
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			all.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if _, rest, ok := strings.Cut(sc.Text(), "shop listening on "); ok {
				found <- strings.Fields(rest)[0]
			}
		}
	}()
	output = func() string {
		mu.Lock()
		defer mu.Unlock()
		return all.String()
	}
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exit:
			assert.Equal(t, 0, code, "exit code after shutdown:\n%s", output())
		case <-time.After(15 * time.Second):
			t.Error("main did not return after its context was cancelled")
		}
	})
	select {
	case appURL = <-found:
	case code := <-exit:
		t.Fatalf("main exited with %d before serving:\n%s", code, output())
	case <-time.After(10 * time.Second):
		t.Fatalf("main did not start serving:\n%s", output())
	}
	return appURL, output
}

// RunWithCredentials serves main with Fanfare credentials in the
// environment (an emulator stands in for the real API: the app knows it only
// from there) and checks the app uses them: its first line, /api/config,
// and a checkout completed with that Fanfare; the output never shows the
// secret key.
func RunWithCredentials(t *testing.T, main Main) {
	t.Helper()
	api := fanfaretest.NewServer(fanfaretest.Options{})
	t.Cleanup(api.Close)
	t.Setenv("FANFARE_API_URL", api.URL)
	t.Setenv("FANFARE_ORG_ID", api.OrganizationID)
	t.Setenv("FANFARE_SECRET_KEY", api.SecretKey)
	t.Setenv("FANFARE_PUBLISHABLE_KEY", "pk_live_from_env")
	appURL, output := Serve(t, main, "-distribution", "draw:d_spring")

	first, _, _ := strings.Cut(output(), "\n")
	assert.Contains(t, first, "using the Fanfare API at "+api.URL)

	b := browser.New(appURL)
	_, err := b.LoadConfig(context.Background())
	require.NoError(t, err)
	assert.Equal(t, browser.Config{
		OrganizationID: api.OrganizationID, PublishableKey: "pk_live_from_env", APIURL: api.URL,
		DistributionType: "draw", DistributionID: "d_spring",
	}, b.Config)

	a, err := b.Admit(context.Background(), "alice")
	require.NoError(t, err)
	resp, err := b.Checkout(context.Background(), a, browser.CartItem{SKU: "s", Quantity: 1})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.Status, "checkout through the API from the environment: %s", resp)
	assert.True(t, api.Completed(fanfare.Draw("d_spring"), a.ConsumerID), "the admission is completed with Fanfare")
	assert.NotContains(t, output(), api.SecretKey, "the output never shows the secret key")
}
