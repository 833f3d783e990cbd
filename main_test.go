package fanfare_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a JWKS
// refresher not stopped, a completion left running, a connection not closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
