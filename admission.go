package fanfare

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Admission is a consumer's admission to a distribution: the payload of the
// admission token Fanfare issued, after [RequireAdmission] checked it.
// Read it in a handler with [AdmissionFromContext].
type Admission struct {
	// ConsumerID is Fanfare's id of the admitted consumer.
	ConsumerID string
	// Distribution is the queue, draw or auction that admitted the consumer.
	Distribution Distribution
	// Position is the consumer's place in a queue; 0 when the token has none.
	Position int
	// AdmittedAt is when the consumer was admitted.
	AdmittedAt time.Time
	// ExpiresAt is when the admission stops being valid.
	ExpiresAt time.Time
	// Fingerprint is the device fingerprint bound to the admission, if any.
	Fingerprint string
	// Verified reports that the token's signature was checked locally
	// against a verification key (AdmissionOptions.Verifier).
	Verified bool
	// Validated reports that Fanfare confirmed the admission. It is false
	// when remote validation is off, or when Fanfare was unreachable and
	// AcceptVerifiedDuringOutage let a verified token through.
	Validated bool

	run *AdmissionHold // nil unless the admission came from RequireAdmission
}

// Complete marks the admission used and records the completion owed to
// Fanfare in one atomic step of the middleware's Store, so the admission is
// refused from now on and its completion is never lost; then it makes one
// quick attempt at Fanfare (at most 100 ms) and leaves a miss to the
// outbox's worker (AdmissionOptions.Completions). Call it when the order is
// placed if the middleware runs with AdmissionOptions.CompleteManually; by
// default the middleware calls it after a 2xx answer, and a call from the
// handler only completes earlier. Calling it again
// returns the first call's result.
//
// ctx's values are kept but its cancellation is ignored: a consumer hanging
// up must not lose a completion. Complete returns an error only when the
// Store failed: then the admission was not marked used (and stays held until
// its lease runs out). On an Admission that did not come from
// RequireAdmission (one built for a test and stored with [WithAdmission]) it
// does nothing and returns an error saying so.
func (a *Admission) Complete(ctx context.Context) error {
	if a == nil || a.run == nil {
		return errors.New("fanfare: complete: the admission did not come from RequireAdmission")
	}
	return a.run.complete(ctx)
}

// Sentinel errors of [RequireAdmission], for use with [errors.Is] on the error
// an ErrorHandler receives (always an *[AdmissionError]). Each comment gives
// the status and the AdmissionError.Code of the default answer, the
// response body's "code". Fanfare being unreachable matches
// [ErrUnavailable]: 503 "ADMISSION_UNAVAILABLE".
var (
	// ErrAdmissionRequired: the request carries no admission token.
	// 403 "ADMISSION_REQUIRED".
	ErrAdmissionRequired = errors.New("fanfare: admission required")
	// ErrAdmissionInvalid: the token is malformed, badly signed, refused
	// by Fanfare, or not yet valid. 403 "ADMISSION_INVALID". The
	// validate-admission handler ([NewValidateAdmissionHandler]) passes it
	// too, when Fanfare refuses the token.
	ErrAdmissionInvalid = errors.New("fanfare: admission invalid")
	// ErrAdmissionExpired: the token's expiry has passed.
	// 403 "ADMISSION_EXPIRED".
	ErrAdmissionExpired = errors.New("fanfare: admission expired")
	// ErrAdmissionMismatch: the token is for another distribution,
	// consumer or device than the request. 403 "ADMISSION_MISMATCH".
	ErrAdmissionMismatch = errors.New("fanfare: admission does not match the request")
	// ErrAdmissionInUse: another request is checking out with the same
	// admission right now. 409 "ADMISSION_IN_USE".
	ErrAdmissionInUse = errors.New("fanfare: admission in use")
	// ErrAdmissionUsed: the admission already bought an order.
	// 409 "ADMISSION_USED".
	ErrAdmissionUsed = errors.New("fanfare: admission already used")
)

// AdmissionError is why [RequireAdmission] refused a request, with the status
// and code of the default response, so a custom ErrorHandler can render its
// own body with the same status. It matches its Reason with [errors.Is] and
// unwraps to its cause.
type AdmissionError struct {
	// Status is the HTTP status of the default response: 403, 409 or 503.
	Status int
	// Code is the response's machine-readable code, the wire string of
	// Reason: "ADMISSION_REQUIRED", "ADMISSION_INVALID",
	// "ADMISSION_EXPIRED", "ADMISSION_MISMATCH", "ADMISSION_IN_USE",
	// "ADMISSION_USED" or "ADMISSION_UNAVAILABLE". Compare Reason with
	// errors.Is in code; Code is for metrics labels and response bodies.
	Code string
	// Reason is one of the ErrAdmission… sentinels or ErrUnavailable.
	Reason error
	// Err is the underlying cause, if any (a JWT error, an *APIError, a
	// store error). It never carries the token.
	Err error
	// RetryAfter is set on 503s: when the consumer may try again.
	RetryAfter time.Duration
}

func (e *AdmissionError) Error() string {
	if e.Err == nil {
		return e.Reason.Error()
	}
	return e.Reason.Error() + ": " + e.Err.Error()
}

// Unwrap returns the reason and the cause.
func (e *AdmissionError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// The codes of [AdmissionError], as the guide's checkout answers them.
const (
	codeAdmissionRequired    = "ADMISSION_REQUIRED"
	codeAdmissionInvalid     = "ADMISSION_INVALID"
	codeAdmissionExpired     = "ADMISSION_EXPIRED"
	codeAdmissionMismatch    = "ADMISSION_MISMATCH"
	codeAdmissionInUse       = "ADMISSION_IN_USE"
	codeAdmissionUsed        = "ADMISSION_USED"
	codeAdmissionUnavailable = "ADMISSION_UNAVAILABLE"
)

// admissionFailure builds the AdmissionError for reason.
func admissionFailure(reason, cause error) *AdmissionError {
	e := &AdmissionError{Reason: reason, Err: cause}
	switch reason {
	case ErrAdmissionRequired:
		e.Status, e.Code = http.StatusForbidden, codeAdmissionRequired
	case ErrAdmissionExpired:
		e.Status, e.Code = http.StatusForbidden, codeAdmissionExpired
	case ErrAdmissionMismatch:
		e.Status, e.Code = http.StatusForbidden, codeAdmissionMismatch
	case ErrAdmissionInUse:
		e.Status, e.Code = http.StatusConflict, codeAdmissionInUse
	case ErrAdmissionUsed:
		e.Status, e.Code = http.StatusConflict, codeAdmissionUsed
	case ErrUnavailable:
		e.Status, e.Code = http.StatusServiceUnavailable, codeAdmissionUnavailable
	default:
		e.Reason, e.Status, e.Code = ErrAdmissionInvalid, http.StatusForbidden, codeAdmissionInvalid
	}
	return e
}

// The default bodies, encoded once. 403s keep the guide's error and message
// and vary only the code, so clients written against the guide keep working.
var admissionBodies = func() map[string][]byte {
	const invalid, invalidMsg = "Invalid admission", "Your access has expired or is invalid"
	bodies := map[string]ErrorBody{
		codeAdmissionRequired:    {invalid, invalidMsg, codeAdmissionRequired},
		codeAdmissionInvalid:     {invalid, invalidMsg, codeAdmissionInvalid},
		codeAdmissionExpired:     {invalid, invalidMsg, codeAdmissionExpired},
		codeAdmissionMismatch:    {invalid, invalidMsg, codeAdmissionMismatch},
		codeAdmissionInUse:       {"Admission in use", "This admission is being used by another checkout", codeAdmissionInUse},
		codeAdmissionUsed:        {"Admission used", "This admission has already been used", codeAdmissionUsed},
		codeAdmissionUnavailable: {"Admission check unavailable", "Please try again in a moment", codeAdmissionUnavailable},
	}
	enc := make(map[string][]byte, len(bodies))
	for code, b := range bodies {
		enc[code] = mustJSON(b)
	}
	return enc
}()

// WriteAdmissionError writes the response [RequireAdmission] gives
// when AdmissionOptions.ErrorHandler is nil: the status and JSON body of
// err's *[AdmissionError] (a 403 ADMISSION_INVALID for any other error), and
// Retry-After on 503s. A custom handler can call it for the cases it does not
// render itself.
func WriteAdmissionError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *AdmissionError
	if !errors.As(err, &ae) {
		ae = admissionFailure(ErrAdmissionInvalid, nil)
	}
	if ae.Status == http.StatusServiceUnavailable && ae.RetryAfter > 0 {
		w.Header()["Retry-After"] = []string{strconv.FormatInt(int64((ae.RetryAfter+time.Second-1)/time.Second), 10)}
	}
	if body, ok := admissionBodies[ae.Code]; ok && ae.Status != 0 {
		writeJSONBytes(w, ae.Status, body)
		return
	}
	status := ae.Status
	if status == 0 {
		status = http.StatusForbidden
	}
	writeJSON(w, status, ErrorBody{Error: http.StatusText(status), Code: ae.Code})
}

// admissionState is the per-request state Admission.Complete works on.
type admissionState struct {
	mu        sync.Mutex
	completed bool // Complete ran (its local part, at least)
	ended     bool // the hold was finished: no more renewals
	err       error
}
