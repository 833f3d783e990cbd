// Command checkout is the vendor guide's "Complete Integration Example" as a
// Go program on net/http and alice: a shop whose checkout only admitted
// Fanfare consumers can use, once each.
//
//	go run ./examples/checkout          # serve on 127.0.0.1:8080
//	go run ./examples/checkout -demo    # drive the whole flow once and exit
//
// Without FANFARE_SECRET_KEY in the environment it starts an embedded
// Fanfare emulator (and says so); with FANFARE_API_URL, FANFARE_ORG_ID,
// FANFARE_SECRET_KEY and FANFARE_PUBLISHABLE_KEY it talks to the real API.
// The app itself is in examples/internal/shop.
package main

import (
	"context"
	"os"

	"github.com/waitify-io/fanfare-go/examples/internal/shop"
)

func main() {
	os.Exit(shop.Main(context.Background(), "checkout", shop.NewApp, os.Args[1:], os.Stdout, os.Stderr))
}
