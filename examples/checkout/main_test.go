package main

import (
	"testing"

	"github.com/waitify-io/fanfare-go/examples/internal/contract"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
)

// TestContract runs the shared HTTP contract against the net/http app.
func TestContract(t *testing.T) { contract.RunApp(t, shop.NewApp) }

// TestDemo runs `checkout -demo` in process, as CI runs the binary.
func TestDemo(t *testing.T) { contract.RunDemo(t, "checkout", shop.NewApp) }
