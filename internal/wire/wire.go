// Package wire holds the JSON shapes of the Fanfare API, shared by the client
// in package fanfare and the emulator in package fanfaretest so the two cannot
// drift apart. See ../shared/reference/fanfare-jwt-guide.txt.
package wire

import "github.com/golang-jwt/jwt/v5"

// Headers the Fanfare API authenticates server-side calls with.
const (
	HeaderOrganizationID = "X-Organization-Id"
	HeaderSecretKey      = "X-Secret-Key"
)

// Paths of the Fanfare API.
const (
	PathAuthorize = "/auth/external/authorize"
	// PathExchange and the .../enter path are the browser SDK's calls; the
	// guide does not publish them, so their shape is the emulator's.
	PathExchange = "/auth/external/exchange"
	PathJWKS     = "/.well-known/jwks.json"
)

// Error codes Fanfare answers with in {"error": code}.
const (
	CodeExchangeCodeExpired = "exchange_code_expired"
	CodeInvalidExchangeCode = "invalid_exchange_code"
	CodeConsumerConflict    = "consumer_conflict"
	CodeUnauthorized        = "unauthorized"
	CodeBadRequest          = "bad_request"
	CodeNotFound            = "not_found"
)

// AuthorizeRequest is the body of POST /auth/external/authorize.
type AuthorizeRequest struct {
	Provider string         `json:"provider"`
	Issuer   string         `json:"issuer"`
	Subject  string         `json:"subject"`
	Claims   map[string]any `json:"claims,omitempty"`
}

// AuthorizeResponse is the success body of POST /auth/external/authorize.
// ExpiresAt is an RFC 3339 timestamp.
type AuthorizeResponse struct {
	ExchangeCode string `json:"exchangeCode"`
	ExpiresAt    string `json:"expiresAt"`
}

// ExchangeRequest is the body of POST /auth/external/exchange (browser side).
type ExchangeRequest struct {
	ExchangeCode string `json:"exchangeCode"`
}

// ExchangeResponse is the success body of POST /auth/external/exchange.
type ExchangeResponse struct {
	AccessToken string `json:"accessToken"`
	ConsumerID  string `json:"consumerId"`
	ExpiresAt   string `json:"expiresAt"`
}

// EnterResponse is the success body of POST /{queues|draws|auctions}/{id}/enter.
type EnterResponse struct {
	AdmissionToken   string `json:"admissionToken"`
	ConsumerID       string `json:"consumerId"`
	DistributionID   string `json:"distributionId"`
	DistributionType string `json:"distributionType"`
	Position         *int   `json:"position,omitempty"`
	AdmittedAt       string `json:"admittedAt"`
	ExpiresAt        string `json:"expiresAt"`
}

// ValidateRequest is the body of POST /{queues|draws|auctions}/{id}/validate.
// The success body is a bare JSON boolean.
type ValidateRequest struct {
	ConsumerID string `json:"consumerId"`
	Token      string `json:"token"`
}

// CompleteRequest is the body of POST /{queues|draws|auctions}/{id}/complete.
type CompleteRequest struct {
	ConsumerID string `json:"consumerId"`
}

// ErrorBody is the body of a Fanfare error response.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
}

// AdmissionClaims is the payload of an admission token: the guide's
// AdmissionTokenPayload plus the registered iat/exp claims. AdmittedAt and
// ExpiresAt are RFC 3339 timestamps.
type AdmissionClaims struct {
	ConsumerID       string `json:"consumerId"`
	DistributionID   string `json:"distributionId"`
	DistributionType string `json:"distributionType"`
	Position         *int   `json:"position,omitempty"`
	AdmittedAt       string `json:"admittedAt"`
	ExpiresAt        string `json:"expiresAt"`
	Fingerprint      string `json:"fingerprint,omitempty"`
	jwt.RegisteredClaims
}

// AccessClaims is the payload of a consumer access token (the guide's
// AccessTokenPayload); Issuer is always "consumer-app".
type AccessClaims struct {
	ConsumerID     string `json:"consumerId"`
	OrganizationID string `json:"organizationId"`
	SessionID      string `json:"sessionId"`
	Email          string `json:"email,omitempty"`
	Phone          string `json:"phone,omitempty"`
	IsGuest        bool   `json:"isGuest,omitempty"`
	jwt.RegisteredClaims
}

// AccessTokenIssuer is the iss claim of every access token.
const AccessTokenIssuer = "consumer-app"

// StatusWaiting is the status of an enter call that put the consumer in line
// (202 Accepted) instead of admitting it.
const StatusWaiting = "waiting"

// EnterWaitingResponse is the 202 body of an enter call while the consumer
// waits in line. Position is the consumer's place in line, from 1.
type EnterWaitingResponse struct {
	Status           string `json:"status"`
	ConsumerID       string `json:"consumerId"`
	DistributionID   string `json:"distributionId"`
	DistributionType string `json:"distributionType"`
	Position         int    `json:"position"`
}

// CompleteResponse is the success body of POST .../complete.
type CompleteResponse struct {
	Completed bool `json:"completed"`
}

// JWKS is the body of GET /.well-known/jwks.json (RFC 7517).
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWK is one public key of a JWKS. Fanfare publishes EC P-256 keys
// (kty "EC", crv "P-256", alg "ES256"); X and Y are unpadded base64url.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}
