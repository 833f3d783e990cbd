package fanfare_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	fanfare "github.com/waitify-io/fanfare-go"
)

func TestRequireAdmissionTokenSources(t *testing.T) {
	s := newLocalSetup(t)
	s.opts.Token = fanfare.TokenFrom(
		fanfare.HeaderToken("Fanfare-Admission"),
		fanfare.CookieToken("fanfare_adm"),
		fanfare.BodyToken("admissionToken"),
		func(r *http.Request) (string, error) {
			if r.URL.Query().Get("fail") != "" {
				return "", errors.New("boom")
			}
			return r.URL.Query().Get("adm"), nil
		})
	h := s.handler(admEcho(http.StatusOK))

	tests := []struct {
		name       string
		req        func(tok string) *http.Request
		wantStatus int
		wantCode   string
		wantBody   string // what the handler read, when it ran
	}{
		{"header", func(tok string) *http.Request { return admRequest(tok) }, 200, "", ""},
		{"cookie", func(tok string) *http.Request {
			r := admRequest("")
			r.AddCookie(&http.Cookie{Name: "fanfare_adm", Value: tok})
			return r
		}, 200, "", ""},
		{"JSON body, restored for the handler", func(tok string) *http.Request {
			return admJSONRequest(`{"admissionToken":"` + tok + `","cart":[1,2]}`)
		}, 200, "", `{"admissionToken":"TOKEN","cart":[1,2]}`},
		{"JSON body with a +json type", func(tok string) *http.Request {
			r := admJSONRequest(`{"admissionToken":"` + tok + `"}`)
			r.Header.Set("Content-Type", "application/vnd.shop+json; charset=utf-8")
			return r
		}, 200, "", ""},
		{"token func", func(tok string) *http.Request {
			return httptest.NewRequest(http.MethodPost, "/checkout?adm="+tok, nil)
		}, 200, "", ""},
		{"token func error", func(string) *http.Request {
			return httptest.NewRequest(http.MethodPost, "/checkout?fail=1", nil)
		}, 403, "ADMISSION_INVALID", ""},
		{"no token", func(string) *http.Request { return admRequest("") }, 403, "ADMISSION_REQUIRED", ""},
		{"two admission headers", func(tok string) *http.Request {
			r := admRequest(tok)
			r.Header.Add("Fanfare-Admission", tok)
			return r
		}, 403, "ADMISSION_INVALID", ""},
		{"body field not a string", func(string) *http.Request {
			return admJSONRequest(`{"admissionToken":42}`)
		}, 403, "ADMISSION_INVALID", ""},
		{"body not a JSON object", func(string) *http.Request {
			return admJSONRequest(`["admissionToken"]`)
		}, 403, "ADMISSION_INVALID", ""},
		{"body over MaxBodyBytes", func(tok string) *http.Request {
			return admJSONRequest(`{"admissionToken":"` + tok + `","pad":"` + strings.Repeat("x", 1<<20) + `"}`)
		}, 403, "ADMISSION_INVALID", ""},
		{"non-JSON body is not read", func(tok string) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/checkout", strings.NewReader(`{"admissionToken":"`+tok+`"}`))
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, 403, "ADMISSION_REQUIRED", ""},
		{"header and body disagree", func(tok string) *http.Request {
			r := admJSONRequest(`{"admissionToken":"garbage"}`)
			r.Header.Set("Fanfare-Admission", tok)
			return r
		}, 403, "ADMISSION_INVALID", ""},
		{"header and cookie disagree", func(tok string) *http.Request {
			r := admRequest(tok)
			r.AddCookie(&http.Cookie{Name: "fanfare_adm", Value: "other"})
			return r
		}, 403, "ADMISSION_INVALID", ""},
		{"two cookies disagree", func(tok string) *http.Request {
			r := admRequest("")
			r.AddCookie(&http.Cookie{Name: "fanfare_adm", Value: tok})
			r.AddCookie(&http.Cookie{Name: "fanfare_adm", Value: "other"})
			return r
		}, 403, "ADMISSION_INVALID", ""},
		{"header and body agree", func(tok string) *http.Request {
			r := admJSONRequest(`{"admissionToken":"` + tok + `"}`)
			r.Header.Set("Fanfare-Admission", tok)
			return r
		}, 200, "", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			consumer := "c_src_" + string(rune('a'+i))
			tok := s.token(t, admQueue, consumer, nil)
			res := admDo(t, h, tc.req(tok))
			require.Equal(t, tc.wantStatus, res.Status, "status; body %s", res.Raw)
			if tc.wantCode != "" {
				assert.Equal(t, tc.wantCode, res.Body.Code)
				return
			}
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(res.Raw), &got))
			assert.Equal(t, consumer, got["consumer"])
			assert.Equal(t, true, got["verified"])
			if tc.wantBody != "" {
				assert.Equal(t, strings.ReplaceAll(tc.wantBody, "TOKEN", tok), got["body"])
			}
		})
	}
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
	f.Add("", "", `{"admissionToken":"`+valid+`","AdmissionToken":"x"}`, "application/json")
	f.Add("", "", `{"admissionToken":null,"consumerId":null}`, "application/problem+json")
	f.Add("", "", `{"admissionToken":"\u0065yJ"}`, "APPLICATION/JSON")
	f.Add("", "", `[1,2,3]`, "application/json")
	f.Add("", "", `{"admissionToken":`, "application/json")
	f.Add("", "", `{"admissionToken":"`+valid+`"}`, "text/plain")
	f.Add("x", "y", "\x00\xff", "application/+json")
	local, _ := admGuards(f, nil)
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
