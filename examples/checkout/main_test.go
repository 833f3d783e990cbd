package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/examples/internal/contract"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// TestContract runs the shared HTTP contract against the net/http app.
func TestContract(t *testing.T) {
	emu := fanfaretest.NewServer(fanfaretest.Options{})
	t.Cleanup(emu.Close)
	app, err := shop.NewApp(shop.Config{
		Client:         emu.Client(),
		Distribution:   fanfare.Queue("q_contract"),
		PublishableKey: emu.PublishableKey,
		Logger:         slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)

	contract.Run(t, srv.URL, emu)
}

// TestDemo runs `checkout -demo` in process, as CI runs the binary.
func TestDemo(t *testing.T) {
	t.Setenv("FANFARE_SECRET_KEY", "") // the demo uses its emulator either way
	var stdout, stderr strings.Builder
	code := shop.Main(context.Background(), "checkout", shop.NewApp, []string{"-demo"}, &stdout, &stderr)
	require.Equal(t, 0, code, "exit code; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	assert.Contains(t, lines[0], "embedded Fanfare emulator", "the first line says which Fanfare the run talks to")
	assert.Contains(t, stdout.String(), "Demo passed")
}
