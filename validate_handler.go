package fanfare

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// ErrInvalidRequestBody: the validate-admission body is not a JSON object of
// strings {queueId|drawId|auctionId, consumerId, token}, names no
// distribution or more than one, or lacks consumerId or token. Answered 400
// (see ValidateAdmissionOptions.ErrorHandler). [DistributionFromBody]'s error
// matches it when the body names no distribution in either shape.
var ErrInvalidRequestBody = errors.New("fanfare: invalid request body")

// errNoDistribution keeps the guide's own 400 body for a body that names no
// distribution.
var errNoDistribution = fmt.Errorf("%w: queueId, drawId or auctionId required", ErrInvalidRequestBody)

// maxValidateBodyBytes caps the request body: a token is well under 2 KiB.
const maxValidateBodyBytes = 16 << 10

// ValidateAdmissionOptions configures [NewValidateAdmissionHandler]. The
// zero value is ready to use.
type ValidateAdmissionOptions struct {
	// Logger receives the cause of failed validations but an "invalid"
	// answer and a malformed body, which are ordinary traffic; it never
	// sees the secret key, the token or Fanfare's raw body.
	// Default: slog.Default().
	Logger *slog.Logger

	// ErrorHandler writes the response of every failed request but a wrong
	// method (405). err is an *http.MaxBytesError (a body over 16 KiB) or
	// matches ErrInvalidRequestBody, ErrAdmissionInvalid
	// (Fanfare refused the token or the question) or ErrUnavailable, or is
	// an *APIError; WriteError lists the answers. Never write err itself
	// into the response. Default: WriteError.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// NewValidateAdmissionHandler returns the vendor guide's step-3 endpoint,
// e.g. POST /api/validate-admission. For a POST body of at most 16 KiB such as
// {"queueId":"q_123","consumerId":"c_456","token":"eyJ..."} (exactly one of
// queueId, drawId and auctionId) it asks Fanfare whether the token admits the
// consumer, and answers 200 {"valid":true} or 403 {"valid":false,...}; an
// outage is never "valid". The check consumes nothing: to let only admitted
// consumers check out, once, put [RequireAdmission] on the checkout route.
// It panics when client is nil.
func NewValidateAdmissionHandler(client *Client, opts ValidateAdmissionOptions) http.Handler {
	if client == nil {
		panic("fanfare: NewValidateAdmissionHandler needs a non-nil *Client")
	}
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	if opts.ErrorHandler == nil {
		opts.ErrorHandler = WriteError
	}
	return &validateAdmissionHandler{client: client, o: opts}
}

type validateAdmissionHandler struct {
	client *Client
	o      ValidateAdmissionOptions
}

var errMultipleDistributions = fmt.Errorf("%w: more than one of queueId, drawId and auctionId", ErrInvalidRequestBody)

// readValidateBody reads, parses and checks the body. Its errors wrap an
// *http.MaxBytesError or match ErrInvalidRequestBody,
// and never quote the body.
func readValidateBody(w http.ResponseWriter, r *http.Request) (d Distribution, consumerID, token string, err error) {
	raw, err := readBody(w, r, maxValidateBodyBytes)
	switch {
	case isMaxBytes(err):
		return d, "", "", fmt.Errorf("fanfare: the request body exceeds %d bytes: %w", maxValidateBodyBytes, err)
	case err != nil:
		return d, "", "", fmt.Errorf("%w: the body could not be read", ErrInvalidRequestBody)
	}
	var req struct{ QueueID, DrawID, AuctionID, ConsumerID, Token string }
	// json.Unmarshal lets the last of a field repeated in any case win:
	// decodeObject refuses the ambiguity.
	if _, err := decodeObject(raw); json.Unmarshal(raw, &req) != nil || err != nil && !errors.Is(err, errNotObject) {
		return d, "", "", fmt.Errorf("%w: not a JSON object of strings", ErrInvalidRequestBody)
	}
	d, n := namedDistribution(req.QueueID, req.DrawID, req.AuctionID)
	switch {
	case n == 0:
		err = errNoDistribution
	case n > 1:
		err = errMultipleDistributions
	case req.ConsumerID == "" || req.Token == "":
		err = fmt.Errorf("%w: consumerId and token are required", ErrInvalidRequestBody)
	case d.Validate() != nil:
		err = fmt.Errorf("%w: the %s id %q cannot name a distribution", ErrInvalidRequestBody, d.Type, truncate(d.ID, 40))
	}
	return d, req.ConsumerID, req.Token, err
}

func (h *validateAdmissionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !postOnly(w, r) {
		return
	}
	d, consumerID, token, err := readValidateBody(w, r)
	if err != nil {
		h.o.ErrorHandler(w, r, err)
		return
	}
	valid, err := h.client.ValidateAdmission(r.Context(), d, consumerID, token)
	switch {
	case err == nil && valid:
		writeJSONBytes(w, http.StatusOK, bodyValid)
		return
	case err == nil:
		err = ErrAdmissionInvalid
	case errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnauthorized):
		logUpstream(h.o.Logger, r, "fanfare: validate admission failed", err)
	default:
		// Fanfare judged the question itself (400, 403, 404, ...): for the
		// consumer that is an invalid admission.
		h.o.Logger.LogAttrs(r.Context(), slog.LevelInfo, "fanfare: validate admission refused",
			slog.String("path", r.URL.Path), slog.String("distribution", d.String()), slog.Any("error", err))
		err = fmt.Errorf("%w: %w", ErrAdmissionInvalid, err)
	}
	h.o.ErrorHandler(w, r, err)
}
