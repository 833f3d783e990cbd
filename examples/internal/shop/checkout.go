package shop

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
)

// Limits of a cart.
const (
	maxCartItems = 50
	maxQuantity  = 10
)

// CheckoutRequest is the guide's CheckoutRequest body. RequireAdmission reads
// the admission from it (admissionToken, consumerId, experienceType,
// distributionId); the shop reads the cart.
type CheckoutRequest struct {
	AdmissionToken string     `json:"admissionToken"`
	ConsumerID     string     `json:"consumerId"`
	ExperienceID   string     `json:"experienceId,omitempty"`
	ExperienceType string     `json:"experienceType"`
	DistributionID string     `json:"distributionId"`
	Cart           []CartItem `json:"cart"`
}

// CheckoutResponse is the body of a successful checkout.
type CheckoutResponse struct {
	Success bool   `json:"success"`
	OrderID string `json:"orderId"`
}

// Checkout is the shop's own checkout handler. It runs behind
// RequireLogin and fanfare.RequireAdmission, so by the time it runs the user
// is logged in and Fanfare has confirmed the admission; it ties the user to
// the admission's consumer (see [Consumers]), checks the cart and places the
// order. Its 2xx answer is what tells RequireAdmission to complete the
// admission; any other answer leaves the admission usable for a retry.
func Checkout(orders *Orders, consumers *Consumers, clock func() time.Time, log *slog.Logger) http.Handler {
	if clock == nil {
		clock = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, okUser := fanfare.IdentityFromContext(r.Context())
		adm, okAdm := fanfare.AdmissionFromContext(r.Context())
		if !okUser || !okAdm {
			// Mounted without its middleware: fail closed.
			log.ErrorContext(r.Context(), "shop: checkout reached without a user or an admission")
			writeError(w, http.StatusInternalServerError, "Internal server error", "")
			return
		}

		var req CheckoutRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, http.StatusBadRequest, "Invalid request body", "")
			return
		}
		if msg := checkCart(req.Cart); msg != "" {
			writeError(w, http.StatusBadRequest, msg, "INVALID_CART")
			return
		}

		if err := consumers.Bind(user.Subject, adm.ConsumerID); err != nil {
			if errors.Is(err, errBindingsFull) {
				writeError(w, http.StatusServiceUnavailable, "Checkout unavailable", "")
				return
			}
			writeJSON(w, http.StatusForbidden, fanfare.ErrorBody{
				Error:   "Invalid admission",
				Message: "This admission belongs to another account",
				Code:    "ADMISSION_MISMATCH",
			})
			return
		}

		order, err := orders.Place(Order{
			UserID:       user.Subject,
			ConsumerID:   adm.ConsumerID,
			Distribution: adm.Distribution,
			Cart:         req.Cart,
			PlacedAt:     clock(),
		})
		if err != nil {
			log.ErrorContext(r.Context(), "shop: place order", slog.Any("error", err))
			writeError(w, http.StatusServiceUnavailable, "Checkout unavailable", "")
			return
		}
		log.InfoContext(r.Context(), "shop: order placed",
			slog.String("order", order.ID), slog.String("user", user.Subject),
			slog.String("consumer", adm.ConsumerID), slog.String("distribution", adm.Distribution.String()))
		writeJSON(w, http.StatusOK, CheckoutResponse{Success: true, OrderID: order.ID})
	})
}

// checkCart returns why cart is refused, or "".
func checkCart(cart []CartItem) string {
	if len(cart) == 0 || len(cart) > maxCartItems {
		return "cart must hold 1 to 50 items"
	}
	for _, it := range cart {
		if !validField(it.SKU, 1, 64) || it.Quantity < 1 || it.Quantity > maxQuantity {
			return "each cart item needs a sku and a quantity of 1 to 10"
		}
	}
	return ""
}

// PublicConfig is the body of GET /api/config: what the page needs to start
// the Fanfare SDK. Everything in it is public; never add the secret key.
type PublicConfig struct {
	OrganizationID   string `json:"organizationId"`
	PublishableKey   string `json:"publishableKey"`
	APIURL           string `json:"apiUrl"`
	DistributionType string `json:"distributionType"`
	DistributionID   string `json:"distributionId"`
}

// ConfigHandler answers GET /api/config with c.
func ConfigHandler(c PublicConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c)
	})
}
