package main

import (
	"os"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/waitify-io/fanfare-go/examples/internal/contract"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // no route listing on stdout
	os.Exit(m.Run())
}

// TestContract runs the shared HTTP contract against the gin app.
func TestContract(t *testing.T) { contract.RunApp(t, newApp) }

// TestDemo runs `checkout-gin -demo` in process, as CI runs the binary.
func TestDemo(t *testing.T) { contract.RunDemo(t, contract.ShopMain("checkout-gin", newApp)) }
