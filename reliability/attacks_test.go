package reliability

// The attack table, in one place: hostile tokens, requests, claims and rate
// limit evasions, each with the status and code the README promises, sent
// over loopback HTTP to the library's real handlers in front of the
// emulator. The count is printed at the end of the suite.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// arena is what the attack table runs against: one emulator, a checkout
// validated remotely (fingerprints from X-Device), one that also verifies
// signatures with the emulator's JWKS, the validate-admission endpoint, the
// authorize endpoint behind SanitizeClaims, and an attacker's key server.
type arena struct {
	e                *env
	remote, verified *checkoutApp
	fingerprinted    *checkoutApp
	cookies          *checkoutApp // tokens from the header or a cookie
	validateURL      string
	authorizeURL     string
	hc               *http.Client
	attackerKey      *ecdsa.PrivateKey
	attackerURL      string
	attackerHits     atomic.Int64
}

func newArena(t *testing.T) *arena {
	a := &arena{e: newEnv(t, fanfaretest.Options{})}
	var err error
	if a.attackerKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	attacker, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		a.attackerHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"keys":[%s]}`, jwkOf(&a.attackerKey.PublicKey))
	}))
	a.attackerURL = attacker.URL
	device := func(r *http.Request) string { return r.Header.Get("X-Device") }
	a.remote = newCheckoutApp(t, a.e, fanfare.AdmissionOptions{})
	a.fingerprinted = newCheckoutApp(t, a.e, fanfare.AdmissionOptions{Fingerprint: device})
	a.cookies = newCheckoutApp(t, a.e, fanfare.AdmissionOptions{
		Token: fanfare.TokenFrom(fanfare.HeaderToken("Fanfare-Admission"), fanfare.CookieToken("fanfare_admission")),
	})
	hc := &http.Client{Transport: newTransport(), Timeout: jwksTimeout}
	t.Cleanup(hc.CloseIdleConnections)
	v, err := fanfare.NewJWKSVerifier(context.Background(), a.e.jwksURL(), fanfare.JWKSOptions{HTTPClient: hc, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	a.verified = newCheckoutApp(t, a.e, fanfare.AdmissionOptions{Verifier: v})
	validate, vc := serve(t, fanfare.NewValidateAdmissionHandler(a.e.client, fanfare.ValidateAdmissionOptions{Logger: logger()}))
	a.validateURL, a.hc = validate.URL, vc
	auth := fanfare.NewAuthorizeHandler(a.e.client, fanfare.AuthorizeOptions{
		Provider: "reliability", Issuer: "https://shop.example", Logger: logger(),
	})
	authorize, _ := serve(t, userClaims(fanfare.SanitizeClaims(fanfare.ClaimsOptions{Logger: logger()})(auth)))
	a.authorizeURL = authorize.URL
	return a
}

// userClaims stands in for the merchant's auth: the user is X-User, and the
// claims are the request's JSON body — profile data a user controls.
func userClaims(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-User") == "" {
			next.ServeHTTP(w, r)
			return
		}
		var claims map[string]any
		if err := json.NewDecoder(r.Body).Decode(&claims); err != nil && err != io.EOF {
			http.Error(w, "bad profile", http.StatusBadRequest)
			return
		}
		id := fanfare.Identity{Subject: r.Header.Get("X-User"), Claims: claims}
		next.ServeHTTP(w, r.WithContext(fanfare.WithIdentity(r.Context(), id)))
	})
}

// b64 is unpadded base64url, as JWS segments are.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf is the JWK of an EC P-256 public key.
func jwkOf(pub *ecdsa.PublicKey) string {
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":%q,"y":%q,"use":"sig","alg":"ES256"}`, b64(raw[1:33]), b64(raw[33:]))
}

// payload is an admission's claims as JSON, with extra fields (raw JSON
// members appended verbatim, duplicates included).
func (a *arena) payload(consumer string, d fanfare.Distribution, exp time.Time, extra ...string) string {
	now := a.e.clock.Now()
	p := fmt.Sprintf(`{"consumerId":%q,"distributionId":%q,"distributionType":%q,"position":1,"admittedAt":%q,"expiresAt":%q,"iat":%d,"exp":%d,"jti":"adm_attack"`,
		consumer, d.ID, d.Type, now.Format(time.RFC3339), exp.Format(time.RFC3339), now.Unix(), exp.Unix())
	for _, x := range extra {
		p += "," + x
	}
	return p + "}"
}

// sign signs header and payload (JSON texts) with method and key, as a
// forger would.
func sign(t *testing.T, header, payload string, method jwt.SigningMethod, key any) string {
	t.Helper()
	input := b64([]byte(header)) + "." + b64([]byte(payload))
	sig, err := method.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return rec.token(input + "." + b64(sig))
}

// attack is one row of the table.
type attack struct {
	group, name string
	// want is the status and code (RequireAdmission's code, else the
	// body's error, else a verdict) the README promises; "A / B" accepts
	// either.
	status int
	code   string
	// noCall: the README promises the attack never costs a validate call.
	noCall bool
	run    func(t *testing.T, a *arena) response
}

// verdict reads the code of an answer: RequireAdmission's "code", else the
// "error" of a JSON body, else "valid" for {"valid":true}.
func verdict(res response) string {
	var b struct {
		Error string `json:"error"`
		Code  string `json:"code"`
		Valid bool   `json:"valid"`
	}
	_ = json.Unmarshal([]byte(res.Body), &b)
	switch {
	case b.Code != "":
		return b.Code
	case b.Error != "":
		return b.Error
	case b.Valid:
		return "valid"
	}
	return strings.TrimSpace(res.Body)
}

// checkoutWith posts body with the given content type and headers (pairs)
// to app.
func checkoutWith(t *testing.T, app *checkoutApp, contentType, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, app.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return send(t, app.hc, req)
}

func TestAttacks(t *testing.T) {
	a := newArena(t)
	rows := append(append(append(tokenAttacks(), requestAttacks()...), claimAttacks()...), rateLimitAttacks()...)
	var b strings.Builder
	b.WriteString("Attack table\n\n| # | group | attack | want | got | validate calls |\n|---|---|---|---|---|---|\n")
	passed := 0
	for i, row := range rows {
		var res response
		calls := a.e.srv.Calls(fanfaretest.EndpointValidate)
		ok := t.Run(row.group+"/"+row.name, func(t *testing.T) {
			res = row.run(t, a)
			if res.Status != row.status || !slices.Contains(strings.Split(row.code, " / "), verdict(res)) {
				t.Errorf("got %d %q (%.300s), want %d %q", res.Status, verdict(res), res.Body, row.status, row.code)
			}
			if n := a.e.srv.Calls(fanfaretest.EndpointValidate) - calls; row.noCall && n != 0 {
				t.Errorf("%d validate calls, want none", n)
			}
		})
		if ok {
			passed++
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %d %s | %d %s | %d |\n", i+1, row.group, row.name, row.status, row.code,
			res.Status, verdict(res), a.e.srv.Calls(fanfaretest.EndpointValidate)-calls)
	}
	if n := a.attackerHits.Load(); n != 0 {
		t.Errorf("the attacker's key server was fetched %d times", n)
	}
	if n := a.remote.admitted.Load() + a.verified.admitted.Load() + a.fingerprinted.admitted.Load() + a.cookies.admitted.Load(); n != 0 {
		t.Errorf("%d attacks reached the checkout", n)
	}
	fmt.Fprintf(&b, "\nattacks: %d, answered as the README promises: %d; checkouts reached: %d; attacker key server fetched: %d times\n",
		len(rows), passed, a.remote.admitted.Load()+a.verified.admitted.Load()+a.fingerprinted.admitted.Load()+a.cookies.admitted.Load(), a.attackerHits.Load())
	publish("2 attack table", b.String())
}

// es256 signs with the attacker's key under header.
func (a *arena) es256(t *testing.T, header, payload string) string {
	return sign(t, header, payload, jwt.SigningMethodES256, a.attackerKey)
}

func (a *arena) in10m() time.Time { return a.e.clock.Now().Add(10 * time.Minute) }

func tokenRow(name string, code string, noCall bool, token func(t *testing.T, a *arena) string) attack {
	return attack{group: "token", name: name, status: http.StatusForbidden, code: code, noCall: noCall,
		run: func(t *testing.T, a *arena) response { return a.verified.checkout(t, token(t, a)) }}
}

func remoteTokenRow(name string, code string, noCall bool, token func(t *testing.T, a *arena) string) attack {
	return attack{group: "token", name: name + " (no Verifier)", status: http.StatusForbidden, code: code, noCall: noCall,
		run: func(t *testing.T, a *arena) response { return a.remote.checkout(t, token(t, a)) }}
}

const (
	invalid  = "ADMISSION_INVALID"
	expired  = "ADMISSION_EXPIRED"
	mismatch = "ADMISSION_MISMATCH"
	required = "ADMISSION_REQUIRED"
)

func tokenAttacks() []attack {
	es256Header := func(a *arena, extra string) string {
		return fmt.Sprintf(`{"alg":"ES256","typ":"JWT","kid":%q%s}`, a.e.srv.KeyID(), extra)
	}
	genuinePayload := func(a *arena) string { return a.payload("cons_t", queue, a.in10m()) }
	var rows []attack
	for _, verified := range []bool{true, false} {
		row := tokenRow
		if !verified {
			row = remoteTokenRow
		}
		rows = append(rows,
			row(`alg "none"`, invalid, verified, func(t *testing.T, a *arena) string {
				return rec.token(b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(genuinePayload(a))) + ".")
			}),
			row(`alg "None" with a signature`, invalid, verified, func(t *testing.T, a *arena) string {
				return rec.token(b64([]byte(`{"alg":"None"}`)) + "." + b64([]byte(genuinePayload(a))) + ".c2ln")
			}),
			row("HS256 keyed with the emulator's public key PEM (alg confusion)", invalid, verified, func(t *testing.T, a *arena) string {
				return sign(t, `{"alg":"HS256","typ":"JWT"}`, genuinePayload(a), jwt.SigningMethodHS256, a.e.srv.PublicKeyPEM())
			}),
			row("HS256 keyed with the secret key", invalid, verified, func(t *testing.T, a *arena) string {
				return sign(t, `{"alg":"HS256","typ":"JWT"}`, genuinePayload(a), jwt.SigningMethodHS256, []byte(secretKey))
			}),
			row("foreign ES256 key under the emulator's kid", invalid, verified, func(t *testing.T, a *arena) string {
				return a.es256(t, es256Header(a, ""), genuinePayload(a))
			}),
			row("foreign ES256 key, no kid", invalid, verified, func(t *testing.T, a *arena) string {
				return a.es256(t, `{"alg":"ES256","typ":"JWT"}`, genuinePayload(a))
			}),
			row("unknown kid", invalid, verified, func(t *testing.T, a *arena) string {
				return a.es256(t, `{"alg":"ES256","kid":"attacker-kid"}`, genuinePayload(a))
			}),
			row("jku pointing at the attacker's key set", invalid, verified, func(t *testing.T, a *arena) string {
				return a.es256(t, fmt.Sprintf(`{"alg":"ES256","jku":%q}`, a.attackerURL), genuinePayload(a))
			}),
			row("x5u pointing at the attacker", invalid, verified, func(t *testing.T, a *arena) string {
				return a.es256(t, fmt.Sprintf(`{"alg":"ES256","x5u":%q}`, a.attackerURL), genuinePayload(a))
			}),
			row("jwk header embedding the attacker's key", invalid, verified, func(t *testing.T, a *arena) string {
				return a.es256(t, fmt.Sprintf(`{"alg":"ES256","jwk":%s}`, jwkOf(&a.attackerKey.PublicKey)), genuinePayload(a))
			}),
			row("crit header", invalid, true, func(t *testing.T, a *arena) string {
				return a.es256(t, es256Header(a, `,"crit":["exp"]`), genuinePayload(a))
			}),
			row("alg repeated in the header", invalid, true, func(t *testing.T, a *arena) string {
				return a.es256(t, es256Header(a, `,"alg":"ES256"`), genuinePayload(a))
			}),
			row("exp as a string", invalid, true, func(t *testing.T, a *arena) string {
				exp := a.in10m()
				p := strings.Replace(genuinePayload(a), fmt.Sprintf(`"exp":%d`, exp.Unix()), fmt.Sprintf(`"exp":"%d"`, exp.Unix()), 1)
				return a.es256(t, es256Header(a, ""), p)
			}),
		)
	}
	genuine := func(t *testing.T, a *arena) string { return a.e.admit(queue, "cons_t") }
	rows = append(rows,
		tokenRow("a genuine token with its payload swapped for another consumer's", invalid, true, func(t *testing.T, a *arena) string {
			parts := strings.Split(genuine(t, a), ".")
			return rec.token(parts[0] + "." + b64([]byte(a.payload("cons_evil", queue, a.in10m()))) + "." + parts[2])
		}),
		remoteTokenRow("a genuine token with its payload swapped for another consumer's", invalid, false, func(t *testing.T, a *arena) string {
			parts := strings.Split(genuine(t, a), ".")
			return rec.token(parts[0] + "." + b64([]byte(a.payload("cons_evil", queue, a.in10m()))) + "." + parts[2])
		}),
	)
	framing := []struct{ name, tok string }{
		{"two segments", "eyJhbGciOiJFUzI1NiJ9.eyJ9"},
		{"four segments", "a.b.c.d"},
		{"empty segments", ".."},
		{"padded base64", "eyJhbGciOiJFUzI1NiJ9==.eyJjb25zdW1lcklkIjoiYyJ9==.c2ln"},
		{"standard-alphabet base64 (+/)", "eyJhbGciOiJFUzI1NiJ9.eyJ+/+/.c2ln"},
		{"non-base64 bytes", "eyJhbGciOiJFUzI1NiJ9.!!!.c2ln"},
		{"header not JSON", b64([]byte("not json")) + "." + b64([]byte("{}")) + ".c2ln"},
		{"payload a JSON array", b64([]byte(`{"alg":"ES256"}`)) + "." + b64([]byte("[1,2]")) + ".c2ln"},
		{"whitespace inside", "eyJhbGciOiJFUzI1NiJ9 .e30.c2ln"},
		{"NUL byte", "eyJhbGciOiJFUzI1NiJ9.e30\x00.c2ln"},
		{"huge (9 KiB)", "eyJhbGciOiJFUzI1NiJ9." + strings.Repeat("A", 9<<10) + ".c2ln"},
		{"many dots (8000)", strings.Repeat(".", 8000)},
	}
	for _, f := range framing {
		tok := f.tok
		rows = append(rows, attack{group: "token", name: "malformed: " + f.name, status: http.StatusForbidden, code: invalid, noCall: true,
			run: func(t *testing.T, a *arena) response {
				if strings.ContainsAny(tok, " \x00") { // not a valid header value: send it in the body
					b, _ := json.Marshal(map[string]string{"admissionToken": tok})
					return checkoutWith(t, a.remote, "application/json", string(b))
				}
				return a.remote.checkout(t, tok)
			}})
	}
	// Without a Verifier the decoder refuses these before any call to
	// Fanfare: expiry, repeated claims, absurd lifetimes.
	claimRow := func(name, code string, payload func(a *arena) string) attack {
		return remoteTokenRow(name, code, !strings.HasPrefix(name, "exp as a string"), func(t *testing.T, a *arena) string {
			return a.es256(t, `{"alg":"ES256","typ":"JWT"}`, payload(a))
		})
	}
	now := func(a *arena) time.Time { return a.e.clock.Now() }
	rows = append(rows,
		claimRow("consumerId repeated", invalid, func(a *arena) string {
			return a.payload("cons_t", queue, a.in10m(), `"consumerId":"cons_evil"`)
		}),
		claimRow("consumerId repeated in another case (ConsumerID)", invalid, func(a *arena) string {
			return a.payload("cons_t", queue, a.in10m(), `"ConsumerID":"cons_evil"`)
		}),
		claimRow("exp repeated in another case (EXP)", invalid, func(a *arena) string {
			return a.payload("cons_t", queue, a.in10m(), fmt.Sprintf(`"EXP":%d`, a.in10m().Add(time.Hour).Unix()))
		}),
		claimRow("expired 6s ago (past the 5s leeway)", expired, func(a *arena) string {
			return a.payload("cons_t", queue, now(a).Add(-6*time.Second))
		}),
		claimRow("expired an hour ago", expired, func(a *arena) string {
			return a.payload("cons_t", queue, now(a).Add(-time.Hour))
		}),
		claimRow("not valid for another minute (nbf)", invalid, func(a *arena) string {
			return a.payload("cons_t", queue, a.in10m(), fmt.Sprintf(`"nbf":%d`, now(a).Add(time.Minute).Unix()))
		}),
		claimRow("no exp", invalid, func(a *arena) string {
			return fmt.Sprintf(`{"consumerId":"cons_t","distributionId":"q_drop","distributionType":"queue","iat":%d}`, now(a).Unix())
		}),
		claimRow("exp as a string", invalid, func(a *arena) string {
			return fmt.Sprintf(`{"consumerId":"cons_t","distributionId":"q_drop","distributionType":"queue","iat":%d,"exp":"%d"}`, now(a).Unix(), a.in10m().Unix())
		}),
		claimRow("absurd lifetime: exp in the year 9999", invalid+" / "+expired, func(a *arena) string {
			return a.payload("cons_t", queue, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
		}),
		claimRow("absurd lifetime: exp 1e300", invalid+" / "+expired, func(a *arena) string {
			return fmt.Sprintf(`{"consumerId":"cons_t","distributionId":"q_drop","distributionType":"queue","iat":%d,"exp":1e300}`, now(a).Unix())
		}),
	)
	rows = append(rows,
		attack{group: "token", name: "expired genuine token (6s past, leeway 5s)", status: http.StatusForbidden, code: expired, noCall: true,
			run: func(t *testing.T, a *arena) response {
				return a.remote.checkout(t, rec.token(a.e.srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: queue, ConsumerID: "cons_t", TTL: -6 * time.Second})))
			}},
		attack{group: "token", name: "genuine token expired 4s ago (within the leeway): Fanfare decides", status: http.StatusForbidden, code: invalid,
			run: func(t *testing.T, a *arena) response {
				return a.remote.checkout(t, rec.token(a.e.srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: queue, ConsumerID: "cons_t", TTL: -4 * time.Second})))
			}},
		attack{group: "token", name: "genuine token for another queue", status: http.StatusForbidden, code: mismatch, noCall: true,
			run: func(t *testing.T, a *arena) response {
				return a.remote.checkout(t, a.e.admit(fanfare.Queue("q_other"), "cons_t"))
			}},
		attack{group: "token", name: "genuine token for a draw of the same id", status: http.StatusForbidden, code: mismatch, noCall: true,
			run: func(t *testing.T, a *arena) response {
				return a.remote.checkout(t, a.e.admit(fanfare.Draw("q_drop"), "cons_t"))
			}},
		attack{group: "token", name: "genuine token, body names another consumer", status: http.StatusForbidden, code: mismatch, noCall: true,
			run: func(t *testing.T, a *arena) response {
				return checkoutWith(t, a.remote, "application/json", `{"consumerId":"cons_evil"}`, "Fanfare-Admission", a.e.admit(queue, "cons_t"))
			}},
		attack{group: "token", name: "genuine token, another device's fingerprint", status: http.StatusForbidden, code: mismatch, noCall: true,
			run: func(t *testing.T, a *arena) response {
				tok := rec.token(a.e.srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: queue, ConsumerID: "cons_t", Fingerprint: "dev_A"}))
				return checkoutWith(t, a.fingerprinted, "", "", "Fanfare-Admission", tok, "X-Device", "dev_B")
			}},
		attack{group: "token", name: "genuine token, no fingerprint sent", status: http.StatusForbidden, code: mismatch, noCall: true,
			run: func(t *testing.T, a *arena) response {
				return a.fingerprinted.checkout(t, rec.token(a.e.srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: queue, ConsumerID: "cons_t", Fingerprint: "dev_A"})))
			}},
		attack{group: "token", name: "genuine token without a fingerprint claim, device sent", status: http.StatusForbidden, code: mismatch, noCall: true,
			run: func(t *testing.T, a *arena) response {
				return checkoutWith(t, a.fingerprinted, "", "", "Fanfare-Admission", a.e.admit(queue, "cons_t"), "X-Device", "dev_A")
			}},
		attack{group: "token", name: "genuine token Fanfare no longer knows (emulator reset)", status: http.StatusForbidden, code: invalid,
			run: func(t *testing.T, a *arena) response {
				// A token signed by the emulator's key for a consumer it never
				// admitted: only Fanfare's validate call can refuse it.
				return a.verified.checkout(t, a.e.admit(queue, "cons_t_replay_after_complete"))
			}},
	)
	// The last row is an admission spent: its replay must be 409.
	rows = append(rows, attack{group: "token", name: "replay of a spent admission", status: http.StatusConflict, code: "ADMISSION_USED",
		run: func(t *testing.T, a *arena) response {
			tok := a.e.admit(queue, "cons_spent")
			first := a.remote.checkout(t, tok)
			a.remote.admitted.Add(-1) // the genuine checkout is not an attack
			if first.Status != http.StatusOK {
				t.Fatalf("the genuine checkout: %d %s", first.Status, first.Body)
			}
			// The replay itself costs a validate call: the Store is asked
			// only after Fanfare (see the report of issue 11).
			return a.remote.checkout(t, tok)
		}})
	return fixReplayRow(rows)
}

// fixReplayRow turns the "Fanfare no longer knows" row into a real replay:
// the admission is completed with Fanfare first, so validate answers false.
func fixReplayRow(rows []attack) []attack {
	for i := range rows {
		if strings.HasPrefix(rows[i].name, "genuine token Fanfare no longer knows") {
			rows[i].name = "genuine token already completed with Fanfare (replayed on a fresh instance)"
			rows[i].run = func(t *testing.T, a *arena) response {
				tok := a.e.admit(queue, "cons_completed")
				if err := a.e.client.CompleteAdmission(context.Background(), queue, "cons_completed"); err != nil {
					t.Fatal(err)
				}
				return a.verified.checkout(t, tok)
			}
		}
	}
	return rows
}

func requestAttacks() []attack {
	row := func(name string, status int, code string, noCall bool, run func(t *testing.T, a *arena) response) attack {
		return attack{group: "request", name: name, status: status, code: code, noCall: noCall, run: run}
	}
	tokFor := func(a *arena, c string) string { return a.e.admit(queue, c) }
	body := func(fields ...string) string { return "{" + strings.Join(fields, ",") + "}" }
	str := func(k, v string) string { return fmt.Sprintf("%q:%q", k, v) }
	return []attack{
		row("header and body carry different tokens", 403, invalid, true, func(t *testing.T, a *arena) response {
			return checkoutWith(t, a.remote, "application/json", body(str("admissionToken", tokFor(a, "cons_b"))), "Fanfare-Admission", tokFor(a, "cons_a"))
		}),
		row("header and cookie carry different tokens", 403, invalid, true, func(t *testing.T, a *arena) response {
			return checkoutWith(t, a.cookies, "", "", "Fanfare-Admission", tokFor(a, "cons_a"), "Cookie", "fanfare_admission="+tokFor(a, "cons_b"))
		}),
		row("two admission cookies", 403, invalid, true, func(t *testing.T, a *arena) response {
			return checkoutWith(t, a.cookies, "", "", "Cookie", "fanfare_admission="+tokFor(a, "cons_a")+"; fanfare_admission="+tokFor(a, "cons_b"))
		}),
		row("two admission headers", 403, invalid, true, func(t *testing.T, a *arena) response {
			return checkoutWith(t, a.remote, "", "", "Fanfare-Admission", tokFor(a, "cons_a"), "Fanfare-Admission", tokFor(a, "cons_b"))
		}),
		row("admissionToken repeated in the body", 403, invalid, true, func(t *testing.T, a *arena) response {
			return checkoutWith(t, a.remote, "application/json", body(str("admissionToken", tokFor(a, "cons_a")), str("admissionToken", tokFor(a, "cons_b"))))
		}),
		row("admissionToken repeated in another case (AdmissionToken)", 403, invalid, true, func(t *testing.T, a *arena) response {
			return checkoutWith(t, a.remote, "application/json", body(str("admissionToken", tokFor(a, "cons_a")), str("AdmissionToken", tokFor(a, "cons_b"))))
		}),
		row("consumerId repeated in another case (CONSUMERID)", 403, invalid, true, func(t *testing.T, a *arena) response {
			return checkoutWith(t, a.remote, "application/json", body(str("consumerId", "cons_a"), str("CONSUMERID", "cons_evil")), "Fanfare-Admission", tokFor(a, "cons_a"))
		}),
		row("JSON under text/plain naming another consumer", 403, mismatch, true, func(t *testing.T, a *arena) response {
			return checkoutWith(t, a.remote, "text/plain", body(str("consumerId", "cons_evil")), "Fanfare-Admission", tokFor(a, "cons_a"))
		}),
		row("JSON without a content type naming another consumer", 403, mismatch, true, func(t *testing.T, a *arena) response {
			return checkoutWith(t, a.remote, "", body(str("consumerId", "cons_evil")), "Fanfare-Admission", tokFor(a, "cons_a"))
		}),
		row("token only in a text/plain JSON body (never read as a token source)", 403, required, true, func(t *testing.T, a *arena) response {
			return checkoutWith(t, a.remote, "text/plain", body(str("admissionToken", tokFor(a, "cons_a"))))
		}),
		row("token in the query string (not a source)", 403, required, true, func(t *testing.T, a *arena) response {
			req, _ := http.NewRequest(http.MethodPost, a.remote.url+"?admissionToken="+tokFor(a, "cons_a"), nil)
			return send(t, a.remote.hc, req)
		}),
		row("body over 1 MiB", 403, invalid, true, func(t *testing.T, a *arena) response {
			big := body(str("pad", strings.Repeat("x", 1<<20)))
			return checkoutWith(t, a.remote, "application/json", big, "Fanfare-Admission", tokFor(a, "cons_a"))
		}),
		row("chunked body over 1 MiB (no Content-Length)", 403, invalid, true, func(t *testing.T, a *arena) response {
			big := body(str("pad", strings.Repeat("x", 1<<20)))
			req, _ := http.NewRequest(http.MethodPost, a.remote.url, io.MultiReader(strings.NewReader(big))) // unknown length: chunked
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Fanfare-Admission", tokFor(a, "cons_a"))
			return send(t, a.remote.hc, req)
		}),
		row("validate-admission: queueId and drawId", 400, "Invalid request body", true, func(t *testing.T, a *arena) response {
			return post(t, a.hc, a.validateURL, body(str("queueId", "q_drop"), str("drawId", "d_1"), str("consumerId", "cons_a"), str("token", tokFor(a, "cons_a"))))
		}),
		row("validate-admission: token repeated", 400, "Invalid request body", true, func(t *testing.T, a *arena) response {
			return post(t, a.hc, a.validateURL, body(str("queueId", "q_drop"), str("consumerId", "cons_a"), str("token", tokFor(a, "cons_a")), str("token", "x")))
		}),
		row("validate-admission: consumerId repeated in another case", 400, "Invalid request body", true, func(t *testing.T, a *arena) response {
			return post(t, a.hc, a.validateURL, body(str("queueId", "q_drop"), str("consumerId", "cons_a"), str("ConsumerId", "cons_b"), str("token", tokFor(a, "cons_a"))))
		}),
		row("validate-admission: body over 16 KiB", 413, "Request body too large", true, func(t *testing.T, a *arena) response {
			return post(t, a.hc, a.validateURL, body(str("queueId", "q_drop"), str("consumerId", "cons_a"), str("token", strings.Repeat("x", 16<<10))))
		}),
		row("validate-admission: GET", 405, "Method not allowed", true, func(t *testing.T, a *arena) response {
			req, _ := http.NewRequest(http.MethodGet, a.validateURL, nil)
			return send(t, a.hc, req)
		}),
		row("validate-admission: a token for another consumer", 403, "Invalid or expired admission token", false, func(t *testing.T, a *arena) response {
			return post(t, a.hc, a.validateURL, body(str("queueId", "q_drop"), str("consumerId", "cons_evil"), str("token", tokFor(a, "cons_a"))))
		}),
		row("authorize: GET", 405, "Method not allowed", true, func(t *testing.T, a *arena) response {
			req, _ := http.NewRequest(http.MethodGet, a.authorizeURL, nil)
			return send(t, a.hc, req)
		}),
		row("authorize: no identity", 401, "Unauthorized", true, func(t *testing.T, a *arena) response {
			return post(t, a.hc, a.authorizeURL, "")
		}),
	}
}

func claimAttacks() []attack {
	var rows []attack
	n := 0
	// dropped sends claims holding a unique value under a denied spelling
	// and checks that the emulator received the rest but never the value.
	dropped := func(name, claims string, needle ...string) attack {
		n++
		value := fmt.Sprintf("SECRET-VALUE-%03d", n)
		claims = strings.ReplaceAll(claims, "$V", value)
		if len(needle) > 0 {
			value = needle[0]
		}
		return attack{group: "claims", name: name, status: http.StatusOK, code: "dropped",
			run: func(t *testing.T, a *arena) response {
				res := post(t, a.hc, a.authorizeURL, claims, "X-User", "user_claims")
				auths := a.e.srv.Authorizations()
				if res.Status == http.StatusOK && len(auths) > 0 {
					sent, _ := json.Marshal(auths[len(auths)-1].Claims)
					res.Body = "dropped"
					if strings.Contains(string(sent), value) {
						res.Body = "SENT: " + string(sent)
					} else if !strings.Contains(string(sent), "kept") {
						res.Body = "the harmless claim was lost too: " + string(sent)
					}
				}
				return res
			}}
	}
	for _, key := range []string{
		"password", "Password", "PASSWORD", "pwd", "user_password", "passwordHash",
		"p\u0430ssword",  // Cyrillic а
		"pass\u200bword", // zero-width space
		"ｐａｓｓｗｏｒｄ",       // fullwidth
		"pässword",       // accented
		"creditCardNumber", "card_number", "CardNumber", "credit-card", "ssn", "SSN", "cvv", "CVV2", "pin",
	} {
		kj, _ := json.Marshal(key)
		rows = append(rows, dropped("denied key "+string(kj), fmt.Sprintf(`{"keep":"kept",%s:"$V"}`, kj)))
	}
	rows = append(rows,
		dropped("denied key nested three levels down", `{"keep":"kept","profile":{"billing":{"card":{"cvv":"$V"}}}}`),
		dropped("denied key inside an array", `{"keep":"kept","accounts":[{"password":"$V"}]}`),
		dropped("card number (Luhn) under a harmless key", `{"keep":"kept","note":"4111 1111 1111 1111"}`, "4111 1111 1111 1111"),
		dropped("card number without spaces, as a JSON number", `{"keep":"kept","ref":4111111111111111}`, "4111111111111111"),
		dropped("SSN under a harmless key", `{"keep":"kept","memo":"123-45-6789"}`, "123-45-6789"),
	)
	deep := strings.Repeat(`{"a":`, 40) + `"x"` + strings.Repeat("}", 40)
	rows = append(rows,
		attack{group: "claims", name: "nesting 40 deep (limit 32): refused, nothing sent", status: http.StatusInternalServerError, code: "Internal server error",
			run: func(t *testing.T, a *arena) response {
				before := len(a.e.srv.Authorizations())
				res := post(t, a.hc, a.authorizeURL, `{"deep":`+deep+`}`, "X-User", "user_claims")
				if len(a.e.srv.Authorizations()) != before {
					res.Body = "SENT to Fanfare"
				}
				return res
			}},
		attack{group: "claims", name: "10 001 bytes (limit 10 000)", status: http.StatusRequestEntityTooLarge, code: "Claims too large",
			run: func(t *testing.T, a *arena) response {
				return post(t, a.hc, a.authorizeURL, `{"pad":"`+strings.Repeat("x", 10001-len(`{"pad":""}`))+`"}`, "X-User", "user_claims")
			}},
		attack{group: "claims", name: "exactly 10 000 bytes: sent whole", status: http.StatusOK, code: "sent, 10000 bytes",
			run: func(t *testing.T, a *arena) response {
				res := post(t, a.hc, a.authorizeURL, `{"pad":"`+strings.Repeat("x", 10000-len(`{"pad":""}`))+`"}`, "X-User", "user_claims")
				auths := a.e.srv.Authorizations()
				if res.Status == http.StatusOK && len(auths) > 0 {
					sent, _ := json.Marshal(auths[len(auths)-1].Claims)
					res.Body = fmt.Sprintf("sent, %d bytes", len(sent))
				}
				return res
			}},
	)
	return rows
}

// flood sends 10 requests through a fresh limiter, each with the headers
// vary(i) gives, then an 11th, whose answer it returns.
func flood(t *testing.T, opts fanfare.RateLimitOptions, vary func(i int) []string) response {
	clock := fanfaretest.NewClock(epoch)
	opts.Clock, opts.Logger = clock.Now, logger()
	app, hc := serve(t, fanfare.RateLimitAuthorize(opts)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"exchangeCode":"x"}`)
	})))
	var res response
	for i := 0; i <= 10; i++ {
		res = post(t, hc, app.URL, "", vary(i)...)
		if i < 10 && res.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, res.Status, res.Body)
		}
		clock.Advance(time.Second)
	}
	return res
}

func rateLimitAttacks() []attack {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	row := func(name string, opts fanfare.RateLimitOptions, vary func(i int) []string) attack {
		return attack{group: "rate limit", name: name + ": the 11th in a minute", status: http.StatusTooManyRequests, code: "Too many auth requests",
			run: func(t *testing.T, _ *arena) response { return flood(t, opts, vary) }}
	}
	return []attack{
		row("spoofed X-Forwarded-For, no trusted proxy", fanfare.RateLimitOptions{}, func(i int) []string {
			return []string{"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i)}
		}),
		row("spoofed X-Real-IP, no trusted proxy", fanfare.RateLimitOptions{}, func(i int) []string {
			return []string{"X-Real-IP", fmt.Sprintf("198.51.100.%d", i)}
		}),
		row("spoofed hops left of the real client, behind a trusted proxy", fanfare.RateLimitOptions{TrustedProxies: loopback}, func(i int) []string {
			return []string{"X-Forwarded-For", fmt.Sprintf("198.51.100.%d, 203.0.113.7", i)}
		}),
		row("spoofed X-Real-IP beside X-Forwarded-For, behind a trusted proxy", fanfare.RateLimitOptions{TrustedProxies: loopback}, func(i int) []string {
			return []string{"X-Forwarded-For", "203.0.113.8", "X-Real-IP", fmt.Sprintf("198.51.100.%d", i)}
		}),
		row("a new IPv6 address of one /64 each time", fanfare.RateLimitOptions{TrustedProxies: loopback}, func(i int) []string {
			return []string{"X-Forwarded-For", fmt.Sprintf("2001:db8:1:2:%x::%x", i*797, i+1)}
		}),
		row("IPv4 and IPv4-mapped IPv6 spellings alternated", fanfare.RateLimitOptions{TrustedProxies: loopback}, func(i int) []string {
			if i%2 == 0 {
				return []string{"X-Forwarded-For", "203.0.113.9"}
			}
			return []string{"X-Forwarded-For", "::ffff:203.0.113.9"}
		}),
		row("IPv4 with a zone, port or brackets", fanfare.RateLimitOptions{TrustedProxies: loopback}, func(i int) []string {
			return []string{"X-Forwarded-For", []string{"203.0.113.10", "203.0.113.10:1234", "[::ffff:203.0.113.10]:80", "203.0.113.10"}[i%4]}
		}),
	}
}
