package shop

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	fanfare "github.com/waitify-io/fanfare-go"
)

// SessionCookie is the name of the toy login's session cookie.
const SessionCookie = "shop_session"

const (
	sessionTTL  = time.Hour
	maxSessions = 100_000
)

// Sessions is a TOY LOGIN standing in for your application's own
// authentication: anyone can log in as any user id, no password asked. It
// exists so the example has a logged-in user to hand to Fanfare. In your app,
// keep your real auth and put its user into the request context with
// [fanfare.WithIdentity], as [Sessions.Authenticate] does.
//
// Sessions live in memory for an hour; at most 100 000 exist at once.
type Sessions struct {
	clock func() time.Time

	mu   sync.Mutex
	byID map[string]session
}

type session struct {
	id      fanfare.Identity
	expires time.Time
}

// NewSessions returns an empty session store. A nil clock means time.Now.
func NewSessions(clock func() time.Time) *Sessions {
	if clock == nil {
		clock = time.Now
	}
	return &Sessions{clock: clock, byID: make(map[string]session)}
}

// LoginRequest is the body of POST /login.
type LoginRequest struct {
	UserID string `json:"userId"`
	Email  string `json:"email"`
}

// Login is the toy POST /login {"userId","email"}: it starts a session for
// whoever asks and sets the session cookie.
func (s *Sessions) Login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid request body", "")
		return
	}
	if !validField(req.UserID, 1, 64) || !validField(req.Email, 0, 254) {
		writeError(w, http.StatusBadRequest, "userId (1 to 64 characters) required, email up to 254", "")
		return
	}
	sid, expires, ok := s.start(fanfare.Identity{Subject: req.UserID, Email: req.Email})
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "Too many sessions", "")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    sid,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,                 // scripts never see it
		SameSite: http.SameSiteLaxMode, // no cross-site POSTs carry it
		Secure:   r.TLS != nil,         // always true behind TLS in production
	})
	writeJSON(w, http.StatusOK, map[string]any{"userId": req.UserID, "toyLogin": true})
}

// Authenticate puts the logged-in user, if any, into the request context
// with [fanfare.WithIdentity]. It lets anonymous requests through: the
// handlers behind it decide what an anonymous request may do.
func (s *Sessions) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := s.Identity(r); ok {
			r = r.WithContext(fanfare.WithIdentity(r.Context(), id))
		}
		next.ServeHTTP(w, r)
	})
}

// Identity returns the user logged in by r's session cookie, if any: what
// Authenticate stores, for routers whose middleware are not net/http's.
func (s *Sessions) Identity(r *http.Request) (fanfare.Identity, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return fanfare.Identity{}, false
	}
	return s.lookup(c.Value)
}

// RequireLogin answers 401 {"error":"Unauthorized"} to a request without a
// logged-in user. Put it after [Sessions.Authenticate].
func RequireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !LoggedIn(r) {
			WriteUnauthorized(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// LoggedIn reports whether r carries a logged-in user (see Authenticate).
func LoggedIn(r *http.Request) bool {
	_, ok := fanfare.IdentityFromContext(r.Context())
	return ok
}

// WriteUnauthorized answers 401 {"error":"Unauthorized"}, as RequireLogin
// does: for routers whose middleware are not net/http's.
func WriteUnauthorized(w http.ResponseWriter) {
	writeError(w, http.StatusUnauthorized, "Unauthorized", "")
}

func (s *Sessions) start(id fanfare.Identity) (sid string, expires time.Time, ok bool) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails since Go 1.24
	sid = base64.RawURLEncoding.EncodeToString(b)
	now := s.clock()
	expires = now.Add(sessionTTL)

	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= maxSessions {
		for k, v := range s.byID {
			if !now.Before(v.expires) {
				delete(s.byID, k)
			}
		}
		if len(s.byID) >= maxSessions {
			return "", time.Time{}, false
		}
	}
	s.byID[sid] = session{id: id, expires: expires}
	return sid, expires, true
}

func (s *Sessions) lookup(sid string) (fanfare.Identity, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byID[sid]
	if !ok {
		return fanfare.Identity{}, false
	}
	if !s.clock().Before(sess.expires) {
		delete(s.byID, sid)
		return fanfare.Identity{}, false
	}
	return sess.id, true
}

// validField reports whether s is valid UTF-8 of lo to hi bytes without
// control characters.
func validField(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
