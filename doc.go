// Package fanfare is the server side of a Fanfare integration for Go
// backends: it issues exchange codes to your logged-in users and lets only
// admitted consumers through to checkout during a high-demand drop (a
// queue, a draw or an auction in front of checkout). Each middleware is a
// plain func(http.Handler) http.Handler; adapters/ holds gin's and echo's.
//
//	client, err := fanfare.NewClient(fanfare.ConfigFromEnv()) // FANFARE_API_URL, FANFARE_ORG_ID, FANFARE_SECRET_KEY
//
//	// 1. The authorize endpoint: your auth → claims policy → rate limit → exchange code.
//	mux.Handle("POST /api/fanfare/authorize", alice.New(
//		yourAuth, // stores fanfare.WithIdentity(ctx, fanfare.Identity{Subject: user.ID})
//		fanfare.SanitizeClaims(fanfare.ClaimsOptions{}),
//		fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{}),
//	).Then(fanfare.NewAuthorizeHandler(client, fanfare.AuthorizeOptions{
//		Provider: "your-platform", Issuer: "https://your-domain.com",
//	})))
//
//	// 2. Checkout: only admitted consumers, one admission for one order, and
//	// every completion delivered to Fanfare.
//	store := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}) // many instances: redisstore.NewStore
//	worker := fanfare.NewCompletionWorker(client, store, fanfare.CompletionWorkerOptions{})
//	defer worker.Close(shutdownCtx)
//	mux.Handle("POST /api/checkout", fanfare.RequireAdmission(client, fanfare.AdmissionOptions{
//		Distribution: fanfare.Queue("q_drop"), Store: store, Completions: worker,
//	})(checkout)) // reads fanfare.AdmissionFromContext
//
// Everywhere: fail closed; the secret key never appears in a log line, an
// error or a response; every input is bounded; every error handler can be
// replaced. The README lists every answer. Package fanfaretest emulates the
// Fanfare API on loopback for tests; the redisstore and otelfanfare modules
// add shared state and OpenTelemetry.
package fanfare
