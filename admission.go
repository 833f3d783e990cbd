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
	ConsumerID   string       // Fanfare's id of the admitted consumer
	Distribution Distribution // the queue, draw or auction that admitted it
	Position     int          // the place in a queue; 0 when the token has none
	AdmittedAt   time.Time
	ExpiresAt    time.Time
	Fingerprint  string // the device fingerprint bound to the admission, if any
	// Verified reports that AdmissionOptions.Verifier checked the token's
	// signature.
	Verified bool
	// Validated reports that Fanfare confirmed the admission: false when
	// remote validation is off, or when Fanfare was unreachable and
	// AcceptVerifiedDuringOutage let a verified token through.
	Validated bool

	run *hold // nil unless the admission came from RequireAdmission
}

// Complete marks the admission used and records the completion owed to
// Fanfare in one atomic Store step, then makes one quick attempt at Fanfare
// (at most 100 ms), leaving a miss to AdmissionOptions.Completions. Call it
// when the order is placed under AdmissionOptions.CompleteManually; a second
// call returns the first one's result. ctx's cancellation is ignored: a
// consumer hanging up must not lose a completion. Complete fails when the
// Store did (the admission then stays held until its lease runs out), on an
// Admission that did not come from RequireAdmission, and after the handler
// returned without completing: the admission was released then, and another
// request may hold it, so a late call spends nothing.
func (a *Admission) Complete(ctx context.Context) error {
	if a == nil || a.run == nil {
		return errors.New("fanfare: complete: the admission did not come from RequireAdmission")
	}
	return a.run.complete(ctx)
}

// Sentinel errors of [RequireAdmission], matched with [errors.Is] on the
// *[AdmissionError] an ErrorHandler receives. Each gives the status and code
// of the default answer. Fanfare being unreachable matches [ErrUnavailable]:
// 503 "ADMISSION_UNAVAILABLE".
var (
	// ErrAdmissionRequired: no admission token. 403 "ADMISSION_REQUIRED".
	ErrAdmissionRequired = errors.New("fanfare: admission required")
	// ErrAdmissionInvalid: the token is malformed, badly signed, refused by
	// Fanfare, or not yet valid. 403 "ADMISSION_INVALID". The
	// validate-admission handler passes it too, when Fanfare refuses.
	ErrAdmissionInvalid = errors.New("fanfare: admission invalid")
	// ErrAdmissionExpired: the token's expiry has passed. 403 "ADMISSION_EXPIRED".
	ErrAdmissionExpired = errors.New("fanfare: admission expired")
	// ErrAdmissionMismatch: the token is for another distribution, consumer
	// or device than the request. 403 "ADMISSION_MISMATCH".
	ErrAdmissionMismatch = errors.New("fanfare: admission does not match the request")
	// ErrAdmissionInUse: another request is checking out with the same
	// admission right now. 409 "ADMISSION_IN_USE".
	ErrAdmissionInUse = errors.New("fanfare: admission in use")
	// ErrAdmissionUsed: the admission already bought an order. 409 "ADMISSION_USED".
	ErrAdmissionUsed = errors.New("fanfare: admission already used")
)

// AdmissionError is why [RequireAdmission] refused a request, with the
// status and code of the default answer, so a custom ErrorHandler can answer
// with the same status. It matches its Reason and its cause with [errors.Is].
type AdmissionError struct {
	Status int    // of the default answer: 403, 409 or 503
	Code   string // the answer body's "code", e.g. "ADMISSION_USED", for metrics labels and bodies
	Reason error  // one of the ErrAdmission… sentinels or ErrUnavailable
	// Err is the cause, if any (a JWT error, an *APIError, a store error).
	// It never carries the token.
	Err        error
	RetryAfter time.Duration // set on 503s: when the consumer may try again
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

// admissionAnswers are the default answers, each body encoded once; the
// first answers an unknown reason. The 403s keep the guide's error and
// message and vary only the code, so clients written against the guide
// keep working.
var admissionAnswers = func() []admissionAnswer {
	answer := func(reason error, status int, code, err, msg string) admissionAnswer {
		return admissionAnswer{AdmissionError{Status: status, Code: code, Reason: reason}, mustJSON(ErrorBody{err, msg, code})}
	}
	forbidden := func(reason error, code string) admissionAnswer {
		return answer(reason, http.StatusForbidden, code, "Invalid admission", "Your access has expired or is invalid")
	}
	unavailable := answer(ErrUnavailable, http.StatusServiceUnavailable, "ADMISSION_UNAVAILABLE", "Admission check unavailable", "Please try again in a moment")
	unavailable.RetryAfter = 5 * time.Second
	return []admissionAnswer{
		forbidden(ErrAdmissionInvalid, "ADMISSION_INVALID"),
		forbidden(ErrAdmissionRequired, "ADMISSION_REQUIRED"),
		forbidden(ErrAdmissionExpired, "ADMISSION_EXPIRED"),
		forbidden(ErrAdmissionMismatch, "ADMISSION_MISMATCH"),
		answer(ErrAdmissionInUse, http.StatusConflict, "ADMISSION_IN_USE", "Admission in use", "This admission is being used by another checkout"),
		answer(ErrAdmissionUsed, http.StatusConflict, "ADMISSION_USED", "Admission used", "This admission has already been used"),
		unavailable,
	}
}()

type admissionAnswer struct {
	AdmissionError
	body []byte
}

func admissionFailure(reason, cause error) *AdmissionError {
	e := admissionAnswers[0].AdmissionError
	for _, a := range admissionAnswers {
		if a.Reason == reason {
			e = a.AdmissionError
		}
	}
	e.Err = cause
	return &e
}

// writeAdmissionError is WriteError's answer to an *AdmissionError.
func writeAdmissionError(w http.ResponseWriter, ae *AdmissionError) {
	if ae.Status == http.StatusServiceUnavailable && ae.RetryAfter > 0 {
		w.Header()["Retry-After"] = []string{strconv.FormatInt(int64((ae.RetryAfter+time.Second-1)/time.Second), 10)}
	}
	for _, a := range admissionAnswers {
		if a.Code == ae.Code && ae.Status != 0 {
			writeJSONBytes(w, ae.Status, a.body)
			return
		}
	}
	status := cmp.Or(ae.Status, http.StatusForbidden)
	writeJSON(w, status, ErrorBody{Error: http.StatusText(status), Code: ae.Code})
}
