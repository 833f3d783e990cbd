package fanfare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitify-io/fanfare-go/internal/scrub"
)

const testSecret = "sk_test_0123456789abcdef"

func TestNewClientValidatesConfig(t *testing.T) {
	valid := Config{APIURL: "https://api.fanfare.io", OrganizationID: "org_1", SecretKey: testSecret}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // substring; "" means success
	}{
		{"valid", func(*Config) {}, ""},
		{"default URL", func(c *Config) { c.APIURL = "" }, ""},
		{"loopback http", func(c *Config) { c.APIURL = "http://127.0.0.1:7070" }, ""},
		{"localhost http", func(c *Config) { c.APIURL = "http://localhost:7070/" }, ""},
		{"ipv6 loopback http", func(c *Config) { c.APIURL = "http://[::1]:7070" }, ""},
		{"remote http", func(c *Config) { c.APIURL = "http://api.fanfare.io" }, "must use https"},
		{"relative URL", func(c *Config) { c.APIURL = "api.fanfare.io" }, "not an absolute"},
		{"ftp URL", func(c *Config) { c.APIURL = "ftp://api.fanfare.io" }, "not an absolute"},
		{"user info", func(c *Config) { c.APIURL = "https://u:p@api.fanfare.io" }, "user info"},
		{"query", func(c *Config) { c.APIURL = "https://api.fanfare.io?x=1" }, "query"},
		{"an empty query", func(c *Config) { c.APIURL = "https://api.fanfare.io?" }, "query"},
		{"no org", func(c *Config) { c.OrganizationID = " " }, "OrganizationID is empty"},
		{"no key", func(c *Config) { c.SecretKey = "" }, "SecretKey is empty"},
		{"publishable key", func(c *Config) { c.SecretKey = "pk_live_abc" }, "publishable keys belong in the browser"},
		{"no prefix", func(c *Config) { c.SecretKey = "live_abc" }, "must start with sk_"},
		{"white space", func(c *Config) { c.SecretKey = "sk_abc\n" }, "white space"},
		{"negative timeout", func(c *Config) { c.AttemptTimeout = -1 }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			c, err := NewClient(cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, c)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.True(t, strings.HasPrefix(err.Error(), "fanfare: invalid config: "), "got %q", err)
			assert.NotContains(t, err.Error(), cfg.SecretKey[min(3, len(cfg.SecretKey)):]+"x", "sanity")
			if cfg.SecretKey != "" {
				assert.NotContains(t, err.Error(), strings.TrimSpace(cfg.SecretKey))
			}
		})
	}
}

func TestNewClientDefaults(t *testing.T) {
	c, err := NewClient(Config{OrganizationID: "org_1", SecretKey: testSecret, UserAgent: "shop/2"})
	require.NoError(t, err)
	assert.Equal(t, defaultAPIURL, c.base)
	assert.Equal(t, "org_1", c.orgID)
	assert.Equal(t, 3*time.Second, c.attemptTimeout)
	assert.Equal(t, 3, c.retry.MaxAttempts)
	assert.Equal(t, "shop/2 "+userAgent, c.header.Get("User-Agent"))
	c, err = NewClient(Config{OrganizationID: "org_1", SecretKey: testSecret})
	require.NoError(t, err)
	assert.Equal(t, userAgent, c.header.Get("User-Agent"))
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("FANFARE_API_URL", "")
	t.Setenv("FANFARE_ORG_ID", "org_env")
	t.Setenv("FANFARE_SECRET_KEY", testSecret)
	cfg := ConfigFromEnv()
	assert.Equal(t, defaultAPIURL, cfg.APIURL)
	assert.Equal(t, "org_env", cfg.OrganizationID)
	assert.Equal(t, testSecret, cfg.SecretKey)

	t.Setenv("FANFARE_API_URL", "http://127.0.0.1:7070")
	assert.Equal(t, "http://127.0.0.1:7070", ConfigFromEnv().APIURL)
}

// TestSecretNeverPrinted prints a config and a client every way a Go program
// can and checks that the key shows up in none of them.
func TestSecretNeverPrinted(t *testing.T) {
	cfg := Config{APIURL: "http://127.0.0.1:1", OrganizationID: "org_1", SecretKey: testSecret}
	c, err := NewClient(cfg)
	require.NoError(t, err)

	var outputs []string
	for _, v := range []any{cfg, &cfg, c, *c, []any{cfg, c}, map[string]any{"c": c}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%T %v"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
	}
	// slog needs no LogValue: its TextHandler prints with %+v (Format), its
	// JSONHandler with json.Marshal (Config.MarshalJSON; a Client has no
	// exported field). Each handler must still show the config.
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("config", "cfg", cfg, "client", c, "ptr", &cfg, "value", *c)
		out := buf.String()
		assert.Contains(t, out, "org_1", "%s handler: the config is printed: %s", name, out)
		assert.Contains(t, out, scrub.Redacted, "%s handler: the key is shown redacted: %s", name, out)
		outputs = append(outputs, out)
	}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	outputs = append(outputs, string(b))
	for _, out := range outputs {
		assert.NotContains(t, out, "0123456789abcdef", "secret printed in %q", out)
	}
	assert.Contains(t, fmt.Sprint(cfg), "[REDACTED]")
	assert.Contains(t, fmt.Sprintf("%+v", c), "org_1")
}

func TestDecodeAuthorizeResponse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    ExchangeCode
		wantErr bool
	}{
		{"ok", `{"exchangeCode":"abc","expiresAt":"2026-11-23T20:00:00Z"}`,
			ExchangeCode{Code: "abc", ExpiresAt: time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)}, false},
		{"fractional seconds", `{"exchangeCode":"abc","expiresAt":"2026-11-23T20:00:00.5Z"}`,
			ExchangeCode{Code: "abc", ExpiresAt: time.Date(2026, 11, 23, 20, 0, 0, 5e8, time.UTC)}, false},
		{"no code", `{"expiresAt":"2026-11-23T20:00:00Z"}`, ExchangeCode{}, true},
		{"bad time", `{"exchangeCode":"abc","expiresAt":"tomorrow"}`, ExchangeCode{}, true},
		{"not json", `<html>`, ExchangeCode{}, true},
		{"array", `[]`, ExchangeCode{}, true},
		{"empty", ``, ExchangeCode{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAuthorizeResponse([]byte(tt.body))
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want.Code, got.Code)
			assert.True(t, tt.want.ExpiresAt.Equal(got.ExpiresAt), "got %v want %v", got.ExpiresAt, tt.want.ExpiresAt)
		})
	}
}

func TestDecodeValidateResponse(t *testing.T) {
	tests := []struct {
		body    string
		want    bool
		wantErr bool
	}{
		{"true", true, false},
		{" false\n", false, false},
		{`"true"`, false, true},
		{`{"valid":true}`, false, true},
		{"1", false, true},
		{"", false, true},
		{"truex", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			got, err := decodeValidateResponse([]byte(tt.body))
			assert.Equal(t, tt.wantErr, err != nil, "err = %v", err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestBackoffIsBounded(t *testing.T) {
	c := &Client{retry: RetryPolicy{MaxAttempts: 10, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}}
	for n := 1; n < 100; n++ {
		d := c.backoff(n)
		assert.Greater(t, d, time.Duration(0))
		assert.LessOrEqual(t, d, time.Second+1)
		if n == 1 {
			assert.LessOrEqual(t, d, 50*time.Millisecond+1)
		}
	}
}

func FuzzDecodeAuthorizeResponse(f *testing.F) {
	f.Add([]byte(`{"exchangeCode":"abc","expiresAt":"2026-11-23T20:00:00Z"}`))
	f.Add([]byte(`{"exchangeCode":"","expiresAt":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		code, err := decodeAuthorizeResponse(raw)
		if err == nil && (code.Code == "" || code.ExpiresAt.IsZero()) {
			t.Fatalf("accepted an incomplete response: %+v", code)
		}
	})
}

func FuzzDecodeValidateResponse(f *testing.F) {
	for _, s := range []string{"true", "false", " true ", `"true"`, "{}", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		valid, err := decodeValidateResponse(raw)
		if valid && string(bytes.TrimSpace(raw)) != "true" {
			t.Fatalf("%q decoded as valid", raw)
		}
		if err != nil && valid {
			t.Fatal("valid with an error")
		}
	})
}
