package contract

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// NewApp builds an example's HTTP handler: shop.NewApp for net/http, the
// gin, echo and chi examples' own.
type NewApp func(shop.Config) (http.Handler, error)

// RunApp builds the app with newApp against a fresh emulator, serves it on
// loopback and runs the contract against it: every checkout example's
// TestContract.
func RunApp(t *testing.T, newApp NewApp) {
	t.Helper()
	emu := fanfaretest.NewServer(fanfaretest.Options{})
	t.Cleanup(emu.Close)
	app, err := newApp(shop.Config{
		Client:         emu.Client(),
		Distribution:   fanfare.Queue("q_contract"),
		PublishableKey: emu.PublishableKey,
		Logger:         slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)

	Run(t, srv.URL, emu)
}

// RunDemo runs `name -demo` in process, as CI runs the binary: every
// checkout example's TestDemo.
func RunDemo(t *testing.T, name string, newApp NewApp) {
	t.Helper()
	t.Setenv("FANFARE_SECRET_KEY", "") // the demo uses its emulator either way
	var stdout, stderr strings.Builder
	code := shop.Main(context.Background(), name, newApp, []string{"-demo"}, &stdout, &stderr)
	require.Equal(t, 0, code, "exit code; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	assert.Contains(t, lines[0], "embedded Fanfare emulator", "the first line says which Fanfare the run talks to")
	assert.Contains(t, stdout.String(), "Demo passed")
}
