package fanfare_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
)

// The guide's policy, 10 authorize calls a minute per user, behind the
// app's own auth middleware.
func ExampleRateLimitAuthorize() {
	// Your auth middleware puts the logged-in user into the context.
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := fanfare.WithIdentity(r.Context(), fanfare.Identity{Subject: r.Header.Get("X-Demo-User")})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	authorize := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"exchangeCode":"..."}`) // fanfare.NewAuthorizeHandler in a real app
	})
	limit := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{})
	h := auth(limit(authorize))

	for i := 1; i <= 11; i++ {
		r := httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil)
		r.Header.Set("X-Demo-User", "alice")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if i == 1 || i >= 10 {
			fmt.Println(i, w.Code, w.Header().Get("RateLimit"), w.Header().Get("Retry-After"), w.Body.String())
		}
	}
	// Output:
	// 1 200 "default";r=9;t=60  {"exchangeCode":"..."}
	// 10 200 "default";r=0;t=60  {"exchangeCode":"..."}
	// 11 429 "default";r=0;t=60 60 {"error":"Too many auth requests"}
}

// Behind a load balancer, name it so X-Forwarded-For is believed from it
// (and only from it), and send the legacy X-RateLimit-* headers too.
func ExampleRateLimitAuthorize_behindProxy() {
	proxies, err := fanfare.ParseTrustedProxies("10.0.0.0/8") // e.g. from an env variable
	if err != nil {
		panic(err)
	}
	limit := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{
		Limit:          fanfare.Limit{Requests: 5, Window: time.Minute},
		TrustedProxies: proxies,
		LegacyHeaders:  true,
	})
	h := limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))

	r := httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil)
	r.RemoteAddr = "10.1.2.3:51234"                          // the load balancer
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.7") // spoofed hop, then the real client
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Header().Get("RateLimit-Policy"))
	fmt.Println(w.Header().Get("X-RateLimit-Limit"), w.Header().Get("X-RateLimit-Remaining"))
	// Output:
	// "default";q=5;w=60
	// 5 4
}

func ExampleNewMemoryLimiter() {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{
		Limit: fanfare.Limit{Requests: 2, Window: time.Minute},
		Clock: func() time.Time { return now },
	})
	ctx := context.Background()
	for range 3 {
		d, _ := l.Allow(ctx, "id:alice")
		fmt.Printf("allowed=%v remaining=%d retryAfter=%v\n", d.Allowed, d.Remaining, d.RetryAfter)
	}
	now = now.Add(45 * time.Second)
	d, _ := l.Allow(ctx, "id:alice")
	fmt.Printf("45s later: allowed=%v retryAfter=%v\n", d.Allowed, d.RetryAfter)
	now = now.Add(15 * time.Second)
	d, _ = l.Allow(ctx, "id:alice")
	fmt.Printf("60s later: allowed=%v remaining=%d\n", d.Allowed, d.Remaining)
	// Output:
	// allowed=true remaining=1 retryAfter=0s
	// allowed=true remaining=0 retryAfter=0s
	// allowed=false remaining=0 retryAfter=1m0s
	// 45s later: allowed=false retryAfter=15s
	// 60s later: allowed=true remaining=1
}

func ExampleParseTrustedProxies() {
	proxies, err := fanfare.ParseTrustedProxies("10.0.0.0/8", "192.0.2.7", "2001:db8::/32")
	fmt.Println(proxies, err)
	_, err = fanfare.ParseTrustedProxies("10.0.0.0/33")
	fmt.Println(err)
	// Output:
	// [10.0.0.0/8 192.0.2.7/32 2001:db8::/32] <nil>
	// fanfare: trusted proxy "10.0.0.0/33": want a CIDR prefix or an IP address
}

// Metrics need no hook: every refusal passes through ErrorHandler, which
// can count it, read the decision from the fields already in w.Header(),
// and leave the answer to WriteError; every allowed request
// reaches the next handler.
func ExampleRateLimitOptions_errorHandler() {
	var allowed, limited, failed int
	limit := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{
		Limit: fanfare.Limit{Requests: 2, Window: time.Minute},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, fanfare.ErrRateLimited) {
				limited++ // a real app: a counter of its metrics library
				fmt.Println("limited, retry after", w.Header().Get("Retry-After"), "s")
			} else {
				failed++
			}
			fanfare.WriteError(w, r, err)
		},
	})
	h := limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed++
		fmt.Println("allowed,", w.Header().Get("RateLimit"))
	}))
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil))
	}
	fmt.Println("allowed", allowed, "limited", limited, "failed", failed)
	// Output:
	// allowed, "default";r=1;t=60
	// allowed, "default";r=0;t=60
	// limited, retry after 60 s
	// allowed 2 limited 1 failed 0
}
