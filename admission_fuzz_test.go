package fanfare_test

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	fanfare "github.com/waitify-io/fanfare-go"
)

// admFuzzSeeds are tokens worth mutating: valid ones and the attack table's.
func admFuzzSeeds(f *testing.F) []string {
	k := admKeys()
	valid := admClaims(admQueue, "c_fuzz", admEpoch, 10*time.Minute)
	b := base64.RawURLEncoding.EncodeToString
	return []string{
		admSign(f, jwt.SigningMethodHS256, k.hmac, &valid, ""),
		admSign(f, jwt.SigningMethodES256, k.ec, &valid, "kid-1"),
		admSign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, &valid, ""),
		b([]byte(`{"alg":"HS256"}`)) + "." + b([]byte(`{"consumerId":1,"distributionId":[],"expiresAt":{}}`)) + ".sig",
		b([]byte(`{"alg":"HS256","crit":["exp"]}`)) + "." + b([]byte(`{}`)) + ".",
		b([]byte(`{"alg":"HS256"}`)) + "." + b([]byte(`{"exp":1e400,"nbf":-1,"position":9e99}`)) + ".x",
		"a.b.c.d.e", "....", ".", "", "null", "Bearer x.y.z",
		"eyJ=.eyJ=.==", strings.Repeat("A", 9<<10),
	}
}

func admFuzzMiddleware(f *testing.F) (local, hinted http.Handler) {
	v, err := fanfare.NewHMACVerifier(admKeys().hmac)
	if err != nil {
		f.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	clock := func() time.Time { return admEpoch }
	local = fanfare.RequireAdmission(nil, fanfare.AdmissionOptions{
		Distribution: admQueue, Verifier: v, DisableRemoteValidation: true,
		Token: fanfare.TokenFrom(fanfare.HeaderToken("Fanfare-Admission"), fanfare.CookieToken("adm"), fanfare.BodyToken("admissionToken")),
		Clock: clock, Logger: quiet,
		// Manual completion: every admitted request is released again, so
		// the fuzzer can replay a valid token.
		Completion: fanfare.CompleteManually,
	})(admEcho(http.StatusOK))
	// Without a verifier every admission needs Fanfare; this one is
	// unreachable, so nothing may ever pass.
	client, err := fanfare.NewClient(fanfare.Config{
		APIURL: "http://127.0.0.1:1", OrganizationID: "org_fuzz", SecretKey: "sk_test_fuzz",
		Retry: fanfare.RetryPolicy{MaxAttempts: 1},
	})
	if err != nil {
		f.Fatal(err)
	}
	hinted = fanfare.RequireAdmission(client, fanfare.AdmissionOptions{
		Distribution: admQueue, Clock: clock, Logger: quiet,
	})(admEcho(http.StatusOK))
	return local, hinted
}

// admCheckAnswer fails on an answer RequireAdmission must never give.
func admCheckAnswer(t *testing.T, rec *httptest.ResponseRecorder, mayAdmit bool) {
	t.Helper()
	switch rec.Code {
	case http.StatusOK:
		if !mayAdmit {
			t.Fatalf("admitted without a way to check the token: %s", rec.Body)
		}
		var got map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("handler body: %v", err)
		}
		if got["distribution"] != admQueue.String() || got["verified"] != true {
			t.Fatalf("admitted %v, want a verified admission to %v", got, admQueue)
		}
	case http.StatusForbidden, http.StatusConflict, http.StatusServiceUnavailable:
		var body fanfare.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !strings.HasPrefix(body.Code, "ADMISSION_") {
			t.Fatalf("refusal body %q is not the contract's", rec.Body)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatal("refusal without Cache-Control: no-store")
		}
	default:
		t.Fatalf("status %d, want 200, 403, 409 or 503", rec.Code)
	}
}

// FuzzAdmissionTokenDecoding feeds arbitrary tokens to the decoder, verified
// and unverified: it must never panic, and must admit only a token whose
// signature checks out.
func FuzzAdmissionTokenDecoding(f *testing.F) {
	for _, s := range admFuzzSeeds(f) {
		f.Add(s)
	}
	local, hinted := admFuzzMiddleware(f)
	f.Fuzz(func(t *testing.T, token string) {
		req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
		req.Header["Fanfare-Admission"] = []string{token}
		rec := httptest.NewRecorder()
		local.ServeHTTP(rec, req)
		admCheckAnswer(t, rec, true)

		req = httptest.NewRequest(http.MethodPost, "/checkout", nil)
		req.Header["Fanfare-Admission"] = []string{token}
		rec = httptest.NewRecorder()
		hinted.ServeHTTP(rec, req)
		admCheckAnswer(t, rec, false)
	})
}

// FuzzAdmissionTokenExtraction feeds arbitrary headers, cookies and bodies:
// extraction must never panic, never admit a forged token, and always leave
// the body readable for the handler when it admits.
func FuzzAdmissionTokenExtraction(f *testing.F) {
	seeds := admFuzzSeeds(f)
	valid := seeds[0]
	f.Add("", "", `{"admissionToken":"`+valid+`","consumerId":"c_fuzz"}`, "application/json")
	f.Add(valid, "", `{"consumerId":"c_other"}`, "application/json")
	f.Add("", valid, "", "")
	f.Add("", "", `{"admissionToken":"`+valid+`","admissionToken":"x"}`, "application/json; charset=utf-8")
	f.Add("", "", `{"admissionToken":null,"consumerId":null}`, "application/problem+json")
	f.Add("", "", `{"admissionToken":"\u0065yJ"}`, "APPLICATION/JSON")
	f.Add("", "", `[1,2,3]`, "application/json")
	f.Add("", "", `{"admissionToken":`, "application/json")
	f.Add("", "", `{"admissionToken":"`+valid+`"}`, "text/plain")
	f.Add("x", "y", "\x00\xff", "application/+json")
	local, _ := admFuzzMiddleware(f)
	f.Fuzz(func(t *testing.T, header, cookie, body, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/checkout", strings.NewReader(body))
		if header != "" {
			req.Header["Fanfare-Admission"] = []string{header}
		}
		if cookie != "" {
			req.Header["Cookie"] = []string{"adm=" + cookie}
		}
		req.Header["Content-Type"] = []string{contentType}
		rec := httptest.NewRecorder()
		local.ServeHTTP(rec, req)
		admCheckAnswer(t, rec, true)
		if rec.Code == http.StatusOK {
			var got map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &got)
			// The echo travels as a JSON string, which replaces invalid
			// UTF-8: compare what the body becomes the same way.
			var want string
			enc, _ := json.Marshal(body)
			_ = json.Unmarshal(enc, &want)
			if got["body"] != want {
				t.Fatalf("handler read body %q, want %q", got["body"], want)
			}
		}
	})
}
