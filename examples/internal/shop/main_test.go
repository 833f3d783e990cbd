package shop_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/waitify-io/fanfare-go/examples/internal/browser"
	"github.com/waitify-io/fanfare-go/examples/internal/contract"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
)

// serve runs shop.Main without -demo until the test ends (contract.Serve).
func serve(t *testing.T, args ...string) (appURL string, output func() string) {
	t.Helper()
	return contract.Serve(t, contract.ShopMain("checkout", newApp), args...)
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
	contract.RunWithCredentials(t, contract.ShopMain("checkout", newApp))
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
