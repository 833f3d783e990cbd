// Package fanfare is the server side of a Fanfare integration for Go
// backends: it issues exchange codes to your logged-in users and lets only
// admitted consumers through to checkout during a high-demand drop (a
// queue, a draw or an auction in front of checkout).
//
// Everything is plain net/http: each middleware is a
// func(http.Handler) http.Handler, so it composes with alice, chi,
// http.ServeMux and anything else that speaks net/http (adapters for gin and
// echo live in nested modules under adapters/).
//
//	client, err := fanfare.NewClient(fanfare.ConfigFromEnv()) // FANFARE_API_URL, FANFARE_ORG_ID, FANFARE_SECRET_KEY
//	if err != nil {
//		log.Fatal(err) // says what is wrong; never prints the key
//	}
//
//	// 1. The authorize endpoint: your auth → claims policy → rate limit → exchange code.
//	mux.Handle("POST /api/fanfare/authorize", alice.New(
//		yourAuth, // puts fanfare.WithIdentity(ctx, fanfare.Identity{Subject: user.ID, ...}) in the context
//		fanfare.SanitizeClaims(fanfare.ClaimsOptions{}),
//		fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{}), // the guide's 10 per minute
//	).Then(fanfare.NewAuthorizeHandler(client, fanfare.AuthorizeOptions{
//		Provider: "your-platform",
//		Issuer:   "https://your-domain.com",
//	})))
//
//	// 2. Checkout: only admitted consumers, one admission for one order, and
//	// every completion delivered to Fanfare (the store records it, the worker
//	// delivers it, retrying while Fanfare is down).
//	store := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}) // many instances: redisstore.NewStore
//	worker := fanfare.NewCompletionWorker(client, store, fanfare.CompletionWorkerOptions{})
//	defer worker.Close(shutdownCtx)
//	requireAdmission := fanfare.RequireAdmission(client, fanfare.AdmissionOptions{
//		Distribution: fanfare.Queue("q_drop"),
//		Store:        store,
//		Completions:  worker,
//	})
//	mux.Handle("POST /api/checkout", requireAdmission(checkout))
//
//	func checkout(w http.ResponseWriter, r *http.Request) {
//		adm, _ := fanfare.AdmissionFromContext(r.Context()) // validated by Fanfare
//		// ... place the order for adm.ConsumerID; a 2xx completes the admission
//	}
//
// RequireAdmission checks a token's origin before any network call,
// optionally verifies its signature locally ([NewHMACVerifier],
// [NewPEMVerifier], [NewJWKSVerifier]), validates it with Fanfare, holds it
// so that concurrent requests with one admission get exactly one success,
// and after a 2xx marks it used and records its completion in the [Store]
// for a [CompletionWorker] to deliver. Refusals follow the vendor's guide;
// the README lists every answer.
//
// Everywhere: fail closed; the secret key never appears in a log line, an
// error or a response; every input is bounded; every error handler can be
// replaced. Package fanfaretest emulates the Fanfare API on loopback for
// tests; the redisstore and otelfanfare modules add shared state and
// OpenTelemetry.
package fanfare
