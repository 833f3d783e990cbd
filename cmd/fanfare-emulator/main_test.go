package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitify-io/fanfare-go/internal/wire"
)

// TestBinary builds the command, runs it on a free port, reads what it
// prints, calls the emulator with the printed credentials and stops it
// with SIGINT.
func TestBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the emulator with SIGINT")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "fanfare-emulator")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "go build")

	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-org-id", "org_cli", "-publishable-key", "pk_test_cli")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
		}
	})

	fields := map[string]string{}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "fanfare-emulator") {
			fields[k] = strings.TrimSpace(v)
		}
		if strings.HasPrefix(line, "Serving") {
			break
		}
	}
	require.NoError(t, lines.Err())
	url := fields["URL"]
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), "URL line %q", url)
	assert.Equal(t, "org_cli", fields["Organization ID"])
	assert.Equal(t, "pk_test_cli", fields["Publishable key"])
	assert.True(t, strings.HasPrefix(fields["Secret key"], "sk_test_"), "secret key %q", fields["Secret key"])
	assert.Equal(t, url+"/.well-known/jwks.json", fields["JWKS"])
	assert.Equal(t, url+"/_emulator/ (loopback clients only)", fields["Admin API"])

	req, err := http.NewRequest(http.MethodPost, url+wire.PathAuthorize,
		strings.NewReader(`{"provider":"shop","issuer":"https://shop.example","subject":"u1"}`))
	require.NoError(t, err)
	req.Header.Set(wire.HeaderOrganizationID, fields["Organization ID"])
	req.Header.Set(wire.HeaderSecretKey, fields["Secret key"])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got wire.AuthorizeResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.NotEmpty(t, got.ExchangeCode)

	info, err := http.Get(url + "/_emulator/")
	require.NoError(t, err)
	defer info.Body.Close()
	assert.Equal(t, http.StatusOK, info.StatusCode, "the binary serves the admin API")

	go func() {
		rest, _ := io.ReadAll(stdout) // drain, so the process never blocks on a full pipe
		if !strings.Contains(string(rest), "stopped") {
			t.Errorf("no stop line; got %q", rest)
		}
		exited <- cmd.Wait()
	}()
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	select {
	case err := <-exited:
		require.NoError(t, err, "exit status")
	case <-time.After(10 * time.Second):
		t.Fatal("the emulator did not stop on SIGINT")
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"publishable key as secret", []string{"-secret-key", "pk_test_x"}, "sk_"},
		{"zero TTL", []string{"-admission-ttl", "0s"}, "positive"},
		{"unknown flag", []string{"-nope"}, "nope"},
		{"bad address", []string{"-addr", "256.0.0.1:99999"}, "listen"},
		{"clock start without manual clock", []string{"-clock-start", "2030-01-01T00:00:00Z"}, "needs -manual-clock"},
		{"bad clock start", []string{"-manual-clock", "-clock-start", "tomorrow"}, "RFC 3339"},
		{"short HS256 secret", []string{"-hs256-secret", "short"}, "at least 32"},
		{"bad fingerprint header", []string{"-fingerprint-header", "X Device"}, "FingerprintHeader"},
		{"stray argument", []string{"-hold-entries", "true"}, "unexpected argument"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), tt.args, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// startRun runs the command's run in the background with args (on a free
// port) and returns its URL, what it printed up to "Serving", and a stop
// function that returns run's error.
func startRun(t *testing.T, args ...string) (url string, printed map[string]string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw)
		_ = pw.CloseWithError(err)
		errc <- err
	}()
	printed = map[string]string{}
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		line := lines.Text()
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "fanfare-emulator") {
			printed[k] = strings.TrimSpace(v)
		}
		if strings.HasPrefix(line, "Serving") {
			break
		}
	}
	require.NoError(t, lines.Err())
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-errc
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return printed["URL"], printed, stop
}

// call sends a request to the admin API and decodes the JSON answer.
func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	return resp.StatusCode, got
}

// TestRunAdmin drives the command's admin API as a test suite in another
// language would: admit, fault, complete, read completions and calls, move
// the manual clock, admit held entries.
func TestRunAdmin(t *testing.T) {
	url, printed, stop := startRun(t, "-manual-clock", "-clock-start", "2030-01-01T00:00:00Z",
		"-hold-entries", "-fingerprint-header", "x-device-id", "-org-id", "org_cli", "-secret-key", "sk_test_cli", "-admission-ttl", "2m")
	assert.Equal(t, "manual, at 2030-01-01T00:00:00Z; POST /_emulator/clock moves it", printed["Clock"])
	assert.Equal(t, "held until POST /_emulator/admit-waiting", printed["Entries"])
	assert.Equal(t, "/enter copies header X-Device-Id into the token", printed["Fingerprint"])
	admin := url + "/_emulator/"

	status, info := call(t, http.MethodGet, admin, "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, info["manualClock"])
	assert.Equal(t, true, info["holdEntries"])
	assert.Equal(t, "X-Device-Id", info["fingerprintHeader"])
	assert.Equal(t, "2m0s", info["admissionTtl"])
	assert.Equal(t, "2030-01-01T00:00:00Z", info["now"])

	status, admitted := call(t, http.MethodPost, admin+"admit", `{"type":"queue","id":"q_1","consumerId":"cons_1"}`)
	require.Equal(t, http.StatusOK, status, "admit: %v", admitted)
	token, _ := admitted["token"].(string)
	require.NotEmpty(t, token)
	assert.Equal(t, "2030-01-01T00:02:00Z", admitted["expiresAt"])

	validate := func() string {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url+"/queues/q_1/validate",
			strings.NewReader(`{"consumerId":"cons_1","token":"`+token+`"}`))
		require.NoError(t, err)
		req.Header.Set(wire.HeaderOrganizationID, "org_cli")
		req.Header.Set(wire.HeaderSecretKey, "sk_test_cli")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.Status + " " + string(b)
	}
	status, faults := call(t, http.MethodPost, admin+"faults", `{"endpoint":"validate","status":503,"times":1}`)
	require.Equal(t, http.StatusOK, status, "faults: %v", faults)
	assert.Equal(t, "503 Service Unavailable "+`{"error":"service_unavailable","message":"injected fault"}`, validate())
	assert.Equal(t, "200 OK true", validate(), "the fault applied once")

	status, calls := call(t, http.MethodGet, admin+"calls", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 2.0, calls["calls"].(map[string]any)["validate"])

	status, clock := call(t, http.MethodPost, admin+"clock", `{"advance":"2m"}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "2030-01-01T00:02:00Z", clock["now"])
	assert.Equal(t, "200 OK false", validate(), "expired on the manual clock")

	status, got := call(t, http.MethodPost, admin+"admit-waiting", `{"type":"queue","id":"q_1"}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 0.0, got["admitted"])

	status, got = call(t, http.MethodPost, admin+"faults", `{"endpoint":"validate","status":503,"drop":true}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "bad_request", got["error"])

	status, got = call(t, http.MethodGet, admin+"completions", "")
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, got["completions"])

	require.NoError(t, stop())
}

func TestRunHS256(t *testing.T) {
	secret := strings.Repeat("s", 32)
	url, printed, stop := startRun(t, "-hs256-secret", secret)
	assert.Contains(t, printed["Signing"], "HS256")
	for k, v := range printed {
		assert.NotContains(t, v, secret, "the HS256 secret is never printed (%s)", k)
	}
	status, info := call(t, http.MethodGet, url+"/_emulator/", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "HS256", info["signing"])
	assert.Equal(t, false, info["manualClock"])
	require.NoError(t, stop())
}
