package fanfare

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strconv"
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

	run *hold // nil unless the admission came from RequireAdmission
}

// Complete marks the admission used and records the completion owed to
// Fanfare in one atomic Store step, so the admission is refused from now on
// and its completion is never lost; then it makes one quick attempt at
// Fanfare (at most 100 ms) and leaves a miss to AdmissionOptions.Completions.
// Call it when the order is placed under AdmissionOptions.CompleteManually;
// otherwise the middleware calls it after a 2xx answer. Calling it again
// returns the first call's result.
//
// ctx's cancellation is ignored: a consumer hanging up must not lose a
// completion. Complete fails only when the Store did: then the admission
// stays held until its lease runs out. On an Admission that did not come
// from RequireAdmission (one stored with [WithAdmission] for a test) it
// returns an error.
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
	// Code is the response body's "code" for Reason (each sentinel's doc
	// gives it), for metrics labels and bodies; programs compare Reason
	// with errors.Is.
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

// admissionAnswers gives each reason its status, code and default body,
// encoded once; the first answers an unknown reason. The 403s keep the
// guide's error and message and vary only the code, so clients written
// against the guide keep working.
var admissionAnswers = func() []admissionAnswer {
	const invalid, invalidMsg = "Invalid admission", "Your access has expired or is invalid"
	answer := func(reason error, status int, code, err, msg string) admissionAnswer {
		return admissionAnswer{reason, status, code, mustJSON(ErrorBody{err, msg, code})}
	}
	return []admissionAnswer{
		answer(ErrAdmissionInvalid, http.StatusForbidden, "ADMISSION_INVALID", invalid, invalidMsg),
		answer(ErrAdmissionRequired, http.StatusForbidden, "ADMISSION_REQUIRED", invalid, invalidMsg),
		answer(ErrAdmissionExpired, http.StatusForbidden, "ADMISSION_EXPIRED", invalid, invalidMsg),
		answer(ErrAdmissionMismatch, http.StatusForbidden, "ADMISSION_MISMATCH", invalid, invalidMsg),
		answer(ErrAdmissionInUse, http.StatusConflict, "ADMISSION_IN_USE", "Admission in use", "This admission is being used by another checkout"),
		answer(ErrAdmissionUsed, http.StatusConflict, "ADMISSION_USED", "Admission used", "This admission has already been used"),
		answer(ErrUnavailable, http.StatusServiceUnavailable, "ADMISSION_UNAVAILABLE", "Admission check unavailable", "Please try again in a moment"),
	}
}()

type admissionAnswer struct {
	reason error
	status int
	code   string
	body   []byte
}

// admissionFailure builds the AdmissionError for reason.
func admissionFailure(reason, cause error) *AdmissionError {
	a := admissionAnswers[0]
	for _, b := range admissionAnswers {
		if b.reason == reason {
			a = b
		}
	}
	e := &AdmissionError{Status: a.status, Code: a.code, Reason: a.reason, Err: cause}
	if a.reason == ErrUnavailable {
		e.RetryAfter = 5 * time.Second
	}
	return e
}

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
	for _, a := range admissionAnswers {
		if a.code == ae.Code && ae.Status != 0 {
			writeJSONBytes(w, ae.Status, a.body)
			return
		}
	}
	status := cmp.Or(ae.Status, http.StatusForbidden)
	writeJSON(w, status, ErrorBody{Error: http.StatusText(status), Code: ae.Code})
}
