// Package fanfaretest runs an emulator of the Fanfare API on loopback, for
// tests, demos and local development: a real HTTP server, shaped like
// httptest.Server, that speaks the API of the vendor's JWT guide and signs
// real tokens.
//
//	srv := fanfaretest.NewServer(fanfaretest.Options{})
//	defer srv.Close()
//	client := srv.Client()                              // a *fanfare.Client wired to the emulator
//	token := srv.Admit(fanfare.Queue("q_1"), "cons_1")  // an admission, no browser needed
//	ok, err := client.ValidateAdmission(ctx, fanfare.Queue("q_1"), "cons_1", token)
//
// # Endpoints
//
// From the guide (server side: X-Organization-Id and X-Secret-Key required,
// 401 {"error":"unauthorized"} otherwise):
//
//   - POST /auth/external/authorize {provider, issuer, subject, claims} →
//     {exchangeCode, expiresAt}; the code is single-use and lives 60 seconds.
//   - POST /{queues|draws|auctions}/{id}/validate {consumerId, token} → true
//     or false: false for a token that is tampered with, signed with another
//     algorithm or key, expired, completed, unknown to this emulator, or for
//     another consumer or distribution.
//   - POST /{queues|draws|auctions}/{id}/complete {consumerId} →
//     {"completed":true}; completes every live admission of the consumer to
//     the distribution; idempotent (expired admissions are left as they are);
//     404 {"error":"not_found"} when the consumer never had an admission to
//     the distribution.
//
// Emulator endpoints: the guide does not publish the browser SDK's calls, so
// their shape is the emulator's own. They need no secret and answer CORS
// (Access-Control-Allow-Origin: *):
//
//   - POST /auth/external/exchange {exchangeCode} → {accessToken, consumerId,
//     expiresAt}, or 400 {"error":"invalid_exchange_code"} /
//     {"error":"exchange_code_expired"}, or 409 {"error":"consumer_conflict"}
//     when the request's bearer access token belongs to another consumer
//     than the one the identity is linked to (an identity seen for the first
//     time joins the bearer's consumer; an invalid bearer is ignored). The
//     same (provider, issuer, subject) always maps to the same consumer id.
//   - POST /{queues|draws|auctions}/{id}/enter with Authorization: Bearer
//     <accessToken> → 200 {admissionToken, consumerId, distributionId,
//     distributionType, position, admittedAt, expiresAt}; with
//     Options.HoldEntries, 202 {"status":"waiting", "position": n, ...} until
//     [Server.AdmitWaiting].
//   - GET /.well-known/jwks.json → the ES256 public key as a JWKS
//     ({"keys":[]} in HS256 mode), Cache-Control: max-age=300.
//
// Admission tokens are ES256 JWTs (header kid = [Server.KeyID]) or HS256
// with Options.HS256Secret; their payload is the guide's
// AdmissionTokenPayload plus iat, exp and jti. Access tokens carry the
// guide's AccessTokenPayload with iss "consumer-app".
//
// # Tests
//
// [Server.Calls], [Server.Authorizations], [Server.ValidateCalls],
// [Server.Completions] and [Server.Completed] show what reached the
// emulator; [Server.InjectFault] makes an endpoint slow, failing, dropping
// connections or answering garbage; Options.Clock with a [Clock] moves time
// without sleeping. [Start] is [NewServer] returning an error instead of
// panicking; the command cmd/fanfare-emulator uses it to run the same
// emulator standalone for frontend work.
//
// # Admin API
//
// What the Server's methods offer in Go is also on HTTP under /_emulator/
// ([Server.AdminURL]), for tests written in other languages against
// cmd/fanfare-emulator: admit a consumer, inject and clear faults, list
// calls, completions, authorizations and validate calls, move a manual
// clock (Options.ManualClock), admit consumers held in line
// (Options.HoldEntries), reset. It answers loopback clients only, needs no
// key, and refuses bad input with 400 and a message saying what is wrong:
//
//	curl -s --json '{"type":"queue","id":"q_1","consumerId":"cons_1"}' http://127.0.0.1:7070/_emulator/admit
//	curl -s --json '{"endpoint":"complete","status":503,"times":2}' http://127.0.0.1:7070/_emulator/faults
//	curl -s http://127.0.0.1:7070/_emulator/completions
//
// Its requests are neither counted by [Server.Calls] nor faulted.
package fanfaretest
