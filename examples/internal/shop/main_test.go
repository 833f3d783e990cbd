package shop_test

import (
	"bufio"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/waitify-io/fanfare-go/examples/internal/browser"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// serve runs shop.Main without -demo until the test ends, and returns the
// shop's URL and everything Main wrote.
func serve(t *testing.T, args ...string) (appURL string, output func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var (
		mu  sync.Mutex
		all strings.Builder
	)
	exit := make(chan int, 1)
	go func() {
		code := shop.Main(ctx, "checkout", newApp, append([]string{"-addr", "127.0.0.1:0"}, args...), pw, pw)
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
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exit:
			assert.Equal(t, 0, code, "exit code after shutdown")
		case <-time.After(10 * time.Second):
			t.Error("Main did not return after its context was cancelled")
		}
	})
	output = func() string {
		mu.Lock()
		defer mu.Unlock()
		return all.String()
	}
	select {
	case appURL = <-found:
	case code := <-exit:
		t.Fatalf("Main exited with %d before serving:\n%s", code, output())
	case <-time.After(10 * time.Second):
		t.Fatalf("Main did not start serving:\n%s", output())
	}
	return appURL, output
}

func TestMainWithoutCredentialsUsesTheEmulator(t *testing.T) {
	t.Setenv("FANFARE_SECRET_KEY", "")
	appURL, output := serve(t)

	first, _, _ := strings.Cut(output(), "\n")
	assert.Contains(t, first, "no FANFARE_SECRET_KEY", "the first line says why")
	assert.Contains(t, first, "embedded Fanfare emulator", "the first line says it is not the real API")

	b := browser.New(appURL)
	_, err := b.LoadConfig(context.Background())
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(b.Config.PublishableKey, "pk_test_"), "the emulator's publishable key")
	_, err = b.Admit(context.Background(), "alice")
	require.NoError(t, err, "the whole browser flow works against the served app")
}

func TestMainWithCredentialsUsesThem(t *testing.T) {
	// An emulator stands in for the real API: the app only knows it from
	// the environment.
	api := fanfaretest.NewServer(fanfaretest.Options{})
	t.Cleanup(api.Close)
	t.Setenv("FANFARE_API_URL", api.URL)
	t.Setenv("FANFARE_ORG_ID", api.OrganizationID)
	t.Setenv("FANFARE_SECRET_KEY", api.SecretKey)
	t.Setenv("FANFARE_PUBLISHABLE_KEY", "pk_live_from_env")
	appURL, output := serve(t, "-distribution", "draw:d_spring")

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
	assert.Equal(t, 200, resp.Status, "checkout through the API from the environment: %s", resp)
	assert.NotContains(t, output(), api.SecretKey, "the output never shows the secret key")
}

func TestMainRefusesBadSetup(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		args   []string
		code   int
		stderr string
	}{
		{"unknown flag", "", []string{"-nope"}, 2, "flag provided but not defined"},
		{"distribution without type", "", []string{"-distribution", "q_drop"}, 2, "is not type:id"},
		{"unknown distribution type", "", []string{"-distribution", "raffle:r"}, 2, "unknown distribution type"},
		{"publishable key as secret", "pk_live_abcdef", nil, 1, "publishable key"},
		{"key without sk_", "live_abcdef", nil, 1, "must start with sk_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("FANFARE_SECRET_KEY", tt.secret)
			t.Setenv("FANFARE_ORG_ID", "org_1")
			var stdout, stderr strings.Builder
			code := shop.Main(context.Background(), "checkout", newApp, tt.args, &stdout, &stderr)
			assert.Equal(t, tt.code, code, "exit code; stderr %s", stderr.String())
			assert.Contains(t, stderr.String(), tt.stderr)
			if tt.secret != "" {
				assert.NotContains(t, stdout.String()+stderr.String(), tt.secret, "the key is never printed")
			}
		})
	}
}
