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
//	// 2. Checkout: only admitted consumers, one admission for one order.
//	requireAdmission := fanfare.RequireAdmission(client, fanfare.AdmissionOptions{
//		Distribution: fanfare.Queue("q_drop"),
//	})
//	mux.Handle("POST /api/checkout", requireAdmission(checkout))
//
//	func checkout(w http.ResponseWriter, r *http.Request) {
//		adm, _ := fanfare.AdmissionFromContext(r.Context()) // validated by Fanfare
//		// ... place the order for adm.ConsumerID; a 2xx completes the admission
//	}
//
// RequireAdmission extracts the token (header Fanfare-Admission, a cookie or
// the JSON body's admissionToken), checks its origin before any network call
// (distribution, consumer, expiry, fingerprint), optionally verifies its
// signature locally ([NewHMACVerifier], [NewPEMVerifier], [NewJWKSVerifier]),
// validates it with Fanfare, holds it so concurrent requests with the same
// admission get exactly one success, and completes it after a 2xx answer.
// Refusals follow the vendor's guide: 403 ADMISSION_INVALID (and its
// REQUIRED, EXPIRED, MISMATCH variants), 409 ADMISSION_IN_USE or
// ADMISSION_USED, 503 ADMISSION_UNAVAILABLE with Retry-After when Fanfare
// cannot answer.
//
// Rules that hold everywhere: fail closed (an error, a timeout or a panicking
// hook refuses the request); the secret key never appears in a log line, an
// error or a response; every input read from a request or from Fanfare is
// bounded; every error handler can be replaced.
//
// Tests and local development use package fanfaretest, an emulator of the
// Fanfare API on loopback with fault injection and an injectable clock.
package fanfare
