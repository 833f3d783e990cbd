package contract

import (
	"context"
	"io"
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

// NewApp builds an example's HTTP handler on its router.
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
		Fanfare:        emu.Config(),
		Distribution:   fanfare.Queue("q_contract"),
		PublishableKey: emu.PublishableKey,
		Logger:         slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)

	Run(t, srv.URL, emu)
}

// Main is an example's main function with its context, arguments and
// outputs: it serves until ctx is done and returns the exit code.
type Main func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// ShopMain is the Main of an example that runs on shop.Main: the gin, echo
// and chi examples.
func ShopMain(name string, newApp NewApp) Main {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return shop.Main(ctx, name, newApp, args, stdout, stderr)
	}
}

// RunDemo runs `main -demo` in process, as CI runs the binary: every
// checkout example's TestDemo.
func RunDemo(t *testing.T, main Main) {
	t.Helper()
	t.Setenv("FANFARE_SECRET_KEY", "") // the demo uses its emulator either way
	var stdout, stderr strings.Builder
	code := main(context.Background(), []string{"-demo"}, &stdout, &stderr)
	require.Equal(t, 0, code, "exit code; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	assert.Contains(t, lines[0], "embedded Fanfare emulator", "the first line says which Fanfare the run talks to")
	assert.Contains(t, stdout.String(), "Demo passed")
}
