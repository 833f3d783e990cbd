package fanfare

import "context"

// Identity is the logged-in user of your own auth, for the authorize handler
// and the rate limiter: put it into the request context with [WithIdentity]
// from your auth middleware.
type Identity struct {
	// Subject is the user's stable, unique id in your system. Required.
	Subject string
	// Email and Name are copied into the claims sent to Fanfare when set.
	Email string
	Name  string
	// Claims are extra claims sent to Fanfare, after [ClaimsPolicy]
	// sanitizes them. Never put secrets here.
	Claims map[string]any
}

type contextKey int

const (
	identityKey contextKey = iota
	admissionKey
	requestBodyKey // the requestBody RequireAdmission decoded
)

// WithIdentity returns a copy of ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey, id)
}

// IdentityFromContext returns the identity stored by [WithIdentity], if any.
// An identity with an empty Subject counts as absent.
func IdentityFromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey).(Identity)
	if !ok || id.Subject == "" {
		return Identity{}, false
	}
	return id, true
}

// WithAdmission returns a copy of ctx carrying a, as [RequireAdmission]
// gives its handler: for testing a handler without the middleware.
func WithAdmission(ctx context.Context, a *Admission) context.Context {
	return context.WithValue(ctx, admissionKey, a)
}

// AdmissionFromContext returns the admission [RequireAdmission] (or
// [WithAdmission]) stored in ctx. It never panics; a nil admission counts as
// absent.
func AdmissionFromContext(ctx context.Context) (*Admission, bool) {
	a, ok := ctx.Value(admissionKey).(*Admission)
	return a, ok && a != nil
}
