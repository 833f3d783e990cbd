package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
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
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), tt.args, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
