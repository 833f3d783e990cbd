package main

import (
	"testing"

	"github.com/waitify-io/fanfare-go/examples/internal/contract"
)

// TestContract runs the shared HTTP contract against the echo app.
func TestContract(t *testing.T) { contract.RunApp(t, newApp) }

// TestDemo runs `checkout-echo -demo` in process, as CI runs the binary.
func TestDemo(t *testing.T) { contract.RunDemo(t, contract.ShopMain("checkout-echo", newApp)) }
