package shop

import (
	"os"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// Backend is the Fanfare API the shop talks to: the real one, or an
// emulator embedded in the process.
type Backend struct {
	// Client calls the API with the organization's secret key.
	Client *fanfare.Client
	// Config is the config Client was built from.
	Config fanfare.Config
	// PublishableKey is the browser's key, for /api/config.
	PublishableKey string
	// Emulator is the embedded emulator, or nil for the real API.
	Emulator *fanfaretest.Server
}

// OpenBackend connects to the real Fanfare API when FANFARE_SECRET_KEY is
// set (with FANFARE_API_URL, FANFARE_ORG_ID and FANFARE_PUBLISHABLE_KEY),
// and otherwise, or when emulate is true, starts an embedded fanfaretest
// emulator on a free loopback port. Close it when done.
func OpenBackend(emulate bool) (*Backend, error) {
	if emulate || os.Getenv("FANFARE_SECRET_KEY") == "" {
		emu, err := fanfaretest.Start(fanfaretest.Options{})
		if err != nil {
			return nil, err
		}
		return &Backend{Client: emu.Client(), Config: emu.Config(), PublishableKey: emu.PublishableKey, Emulator: emu}, nil
	}
	cfg := fanfare.ConfigFromEnv()
	client, err := fanfare.NewClient(cfg)
	if err != nil {
		return nil, err // says what is missing; never shows the key
	}
	return &Backend{Client: client, Config: cfg, PublishableKey: os.Getenv("FANFARE_PUBLISHABLE_KEY")}, nil
}

// Close stops the embedded emulator, if any.
func (b *Backend) Close() {
	if b.Emulator != nil {
		b.Emulator.Close()
	}
}
