package fanfare

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Errors of the validate-admission body, answered 400 (see
// ValidateAdmissionOptions.ErrorHandler).
var (
	// ErrInvalidRequestBody: the body is not a JSON object of strings
	// {queueId|drawId|auctionId, consumerId, token}, names more than one
	// distribution, or lacks consumerId or token.
	ErrInvalidRequestBody = errors.New("fanfare: invalid request body")
	// ErrNoDistribution: the body names no queueId, drawId or auctionId.
	// [DistributionFromBody]'s error matches it too when the body names no
	// distribution in either shape.
	ErrNoDistribution = errors.New("fanfare: queueId, drawId or auctionId required")
)

// maxValidateBodyBytes caps the validate-admission request body. An
// admission token is well under 2 KiB.
const maxValidateBodyBytes = 16 << 10

// ValidateAdmissionOptions configures [NewValidateAdmissionHandler]. The
// zero value is ready to use.
type ValidateAdmissionOptions struct {
	// Logger receives the cause of failed validations but a plain "invalid"
	// answer and a malformed body, which are ordinary traffic; its lines
	// never carry the secret key, the admission token or Fanfare's raw
	// body. Default: slog.Default().
	Logger *slog.Logger

	// ErrorHandler writes the response of every failed request but a wrong
	// method (the handler answers that 405 itself). err is one of:
	//   - an *http.MaxBytesError (errors.As): the body exceeds 16 KiB,
	//     413 {"error":"Request body too large"};
	//   - ErrInvalidRequestBody: 400 {"error":"Invalid request body"};
	//   - ErrNoDistribution: 400 {"error":"queueId or drawId required"};
	//   - ErrAdmissionInvalid: Fanfare answered that the token does not
	//     admit the consumer to the distribution, or refused the question
	//     (e.g. 404: no such distribution or admission), 403
	//     {"valid":false,"error":"Invalid or expired admission token"};
	//   - ErrUnavailable: 503 {"error":"Validation failed"} with Retry-After;
	//   - anything else (e.g. ErrUnauthorized: the secret key was refused):
	//     502 {"error":"Validation failed"}.
	// Never write err itself into the response.
	// Default: WriteValidateAdmissionError.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// NewValidateAdmissionHandler returns the vendor guide's step-3 endpoint,
// e.g. POST /api/validate-admission: it asks Fanfare whether an admission
// token admits a consumer, and answers 200 {"valid":true} or 403
// {"valid":false,"error":"Invalid or expired admission token"}. It answers
// POST only, with a body of at most 16 KiB such as
//
//	{"queueId":"q_123","consumerId":"c_456","token":"eyJ..."}
//
// (exactly one of queueId, drawId and auctionId). Failures are answered as
// ValidateAdmissionOptions.ErrorHandler lists; a Fanfare outage is 503,
// never a "valid" answer. The check consumes nothing: to let only admitted
// consumers check out, and only once, protect the checkout route with
// [RequireAdmission] instead.
//
// NewValidateAdmissionHandler panics with a message starting "fanfare: "
// when client is nil.
func NewValidateAdmissionHandler(client *Client, opts ValidateAdmissionOptions) http.Handler {
	if client == nil {
		panic("fanfare: NewValidateAdmissionHandler needs a non-nil *Client")
	}
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	if opts.ErrorHandler == nil {
		opts.ErrorHandler = WriteValidateAdmissionError
	}
	return &validateAdmissionHandler{client: client, o: opts}
}

type validateAdmissionHandler struct {
	client *Client
	o      ValidateAdmissionOptions // defaults filled in
}

// validateAdmissionRequest is the body of the validate-admission endpoint.
type validateAdmissionRequest struct {
	QueueID    string `json:"queueId"`
	DrawID     string `json:"drawId"`
	AuctionID  string `json:"auctionId"`
	ConsumerID string `json:"consumerId"`
	Token      string `json:"token"`
}

var (
	errMultipleDistributions = fmt.Errorf("%w: more than one of queueId, drawId and auctionId", ErrInvalidRequestBody)
	errMissingConsumerToken  = fmt.Errorf("%w: consumerId and token are required", ErrInvalidRequestBody)
	errNotJSONObject         = fmt.Errorf("%w: not a JSON object of strings", ErrInvalidRequestBody)
	errBodyUnreadable        = fmt.Errorf("%w: the body could not be read", ErrInvalidRequestBody)
)

// readValidateBody reads the validate-admission body through its size cap,
// parses and checks it. Its errors wrap an *http.MaxBytesError or match
// ErrInvalidRequestBody or ErrNoDistribution, and never quote the body.
func readValidateBody(w http.ResponseWriter, r *http.Request) (d Distribution, req validateAdmissionRequest, err error) {
	raw, err := readBody(w, r, maxValidateBodyBytes)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return d, req, fmt.Errorf("fanfare: the request body exceeds %d bytes: %w", maxValidateBodyBytes, tooLarge)
	case err != nil:
		return d, req, errBodyUnreadable
	}
	// json.Unmarshal lets the last of a field repeated in any case win:
	// decodeObject refuses the ambiguity.
	if _, err := decodeObject(raw); json.Unmarshal(raw, &req) != nil || err != nil && !errors.Is(err, errNotObject) {
		return d, req, errNotJSONObject
	}
	d, n := namedDistribution(req.QueueID, req.DrawID, req.AuctionID)
	switch {
	case n == 0:
		return d, req, ErrNoDistribution
	case n > 1:
		return d, req, errMultipleDistributions
	case req.ConsumerID == "" || req.Token == "":
		return d, req, errMissingConsumerToken
	}
	if d.Validate() != nil {
		return d, req, fmt.Errorf("%w: the %s id %q cannot name a distribution", ErrInvalidRequestBody, d.Type, truncate(d.ID, 40))
	}
	return d, req, nil
}

func (h *validateAdmissionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !postOnly(w, r) {
		return
	}
	d, req, err := readValidateBody(w, r)
	if err != nil {
		h.o.ErrorHandler(w, r, err)
		return
	}
	valid, err := h.client.ValidateAdmission(r.Context(), d, req.ConsumerID, req.Token)
	switch {
	case err == nil && valid:
		writeJSONBytes(w, http.StatusOK, bodyValid)
		return
	case err == nil:
		err = ErrAdmissionInvalid
	case errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrInvalidDistribution):
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

// WriteValidateAdmissionError writes the default answer of
// [NewValidateAdmissionHandler] to err, as
// ValidateAdmissionOptions.ErrorHandler lists. A custom ErrorHandler can
// call it for the errors it does not render itself.
func WriteValidateAdmissionError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := http.StatusBadGateway, bodyValidationFailed
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		status, body = http.StatusRequestEntityTooLarge, bodyRequestTooLarge
	case errors.Is(err, ErrInvalidRequestBody):
		status, body = http.StatusBadRequest, bodyInvalidRequest
	case errors.Is(err, ErrNoDistribution):
		status, body = http.StatusBadRequest, bodyNoDistribution
	case errors.Is(err, ErrAdmissionInvalid):
		status, body = http.StatusForbidden, bodyInvalidAdmissionToken
	case errors.Is(err, ErrUnavailable):
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, body)
}

// Response bodies of the validate-admission handler, encoded once.
var (
	bodyValid                 = []byte(`{"valid":true}`)
	bodyInvalidAdmissionToken = []byte(`{"valid":false,"error":"Invalid or expired admission token"}`)
	bodyValidationFailed      = mustJSON(ErrorBody{Error: "Validation failed"})
	bodyRequestTooLarge       = mustJSON(ErrorBody{Error: "Request body too large"})
	bodyInvalidRequest        = mustJSON(ErrorBody{Error: "Invalid request body"})
	bodyNoDistribution        = mustJSON(ErrorBody{Error: "queueId or drawId required"})
)
