package main

// The guide's checkout written plainly in Go: what a developer following
// the vendor guide's "Step 4: Secure Checkout Flow" writes without the
// library. It runs as its own process (the load command re-executed with
// roleEnv=guide), like the checkout example, so both sides of the
// comparison pay for the same process boundary.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// roleEnv names the environment variable that makes the load command serve
// the guide's pattern instead of driving load.
const roleEnv = "FANFARE_LOAD_ROLE"

// guideShop is the guide's pattern: a toy login (its own auth, as the shop
// has), then validate, place the order, complete, with http.DefaultClient
// and no single-use guard.
type guideShop struct {
	apiURL, orgID, secretKey string

	mu       sync.Mutex
	sessions map[string]string // session id → user id
	orders   map[string]string // order id → consumer id
}

// serveGuide serves the guide's pattern on a free loopback port until
// SIGINT or SIGTERM, printing "listening on URL" first. It returns the exit
// code.
func serveGuide(stdout, stderr io.Writer) int {
	g := &guideShop{
		apiURL:    os.Getenv("FANFARE_API_URL"),
		orgID:     os.Getenv("FANFARE_ORG_ID"),
		secretKey: os.Getenv("FANFARE_SECRET_KEY"),
		sessions:  map[string]string{},
		orders:    map[string]string{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "guide:", err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", g.login)
	mux.HandleFunc("POST /api/checkout", g.checkout)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	fmt.Fprintf(stdout, "guide: listening on http://%s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintln(stderr, "guide:", err)
		return 1
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	return 0
}

func (g *guideShop) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserID string `json:"userId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.UserID == "" {
		http.Error(w, `{"error":"Invalid request body"}`, http.StatusBadRequest)
		return
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	sid := base64.RawURLEncoding.EncodeToString(b)
	g.mu.Lock()
	g.sessions[sid] = req.UserID
	g.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}`))
}

func (g *guideShop) checkout(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(sessionCookie)
	g.mu.Lock()
	_, loggedIn := g.sessions[cookieValue(c, err)]
	g.mu.Unlock()
	if !loggedIn {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized"})
		return
	}
	var req checkoutRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Invalid request body"})
		return
	}

	// 1. Validate admission token with Fanfare.
	if !g.validate(r.Context(), req) {
		writeJSON(w, http.StatusForbidden, map[string]string{
			"error": "Invalid admission", "message": "Your access has expired or is invalid", "code": "ADMISSION_INVALID",
		})
		return
	}
	// 2. Process the order.
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	orderID := "ord_" + hex.EncodeToString(b)
	g.mu.Lock()
	g.orders[orderID] = req.ConsumerID
	g.mu.Unlock()
	// 3. Complete the admission (marks it as used). The guide awaits the
	// fetch and ignores its status: only a network error fails checkout.
	if err := g.complete(r.Context(), req); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "Checkout failed", "message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "orderId": orderID})
}

// endpoint is the guide's per-type path.
func endpoint(typ, id, op string) string {
	switch typ {
	case "queue":
		return "/queues/" + id + "/" + op
	case "draw":
		return "/draws/" + id + "/" + op
	}
	return "/auctions/" + id + "/" + op
}

func (g *guideShop) post(ctx context.Context, path string, body any) (*http.Response, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.apiURL+path, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Organization-Id", g.orgID)
	req.Header.Set("X-Secret-Key", g.secretKey)
	return http.DefaultClient.Do(req)
}

func (g *guideShop) validate(ctx context.Context, req checkoutRequest) bool {
	res, err := g.post(ctx, endpoint(req.ExperienceType, req.DistributionID, "validate"),
		map[string]string{"consumerId": req.ConsumerID, "token": req.AdmissionToken})
	if err != nil {
		return false
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return false
	}
	var valid bool
	return json.Unmarshal(raw, &valid) == nil && valid
}

func (g *guideShop) complete(ctx context.Context, req checkoutRequest) error {
	res, err := g.post(ctx, endpoint(req.ExperienceType, req.DistributionID, "complete"),
		map[string]string{"consumerId": req.ConsumerID})
	if err != nil {
		return errors.New("complete failed")
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return res.Body.Close()
}

func cookieValue(c *http.Cookie, err error) string {
	if err != nil {
		return ""
	}
	return c.Value
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
