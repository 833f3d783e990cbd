package fanfare_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
)

func mustPrefixes(t testing.TB, list ...string) []netip.Prefix {
	t.Helper()
	p, err := fanfare.ParseTrustedProxies(list...)
	require.NoError(t, err)
	return p
}

func TestClientIP(t *testing.T) {
	proxies := mustPrefixes(t, "10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.200")
	for _, tc := range []struct {
		name    string
		remote  string
		trusted []netip.Prefix
		headers map[string][]string
		want    string
		wantErr string
	}{
		{name: "peer", remote: "203.0.113.9:5555", want: "203.0.113.9"},
		{name: "peer IPv6", remote: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "peer IPv6 zone dropped", remote: "[fe80::1%eth0]:443", want: "fe80::1"},
		{name: "peer IPv4-mapped is IPv4", remote: "[::ffff:203.0.113.9]:1", want: "203.0.113.9"},
		{name: "peer without port", remote: "203.0.113.9", want: "203.0.113.9"},
		{name: "no proxies: X-Forwarded-For ignored", remote: "203.0.113.9:1",
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, want: "203.0.113.9"},
		{name: "no proxies: X-Real-IP ignored", remote: "203.0.113.9:1",
			headers: map[string][]string{"X-Real-Ip": {"198.51.100.1"}}, want: "203.0.113.9"},
		{name: "untrusted peer: spoofed header ignored", remote: "203.0.113.9:1", trusted: proxies,
			headers: map[string][]string{"X-Forwarded-For": {"10.1.1.1"}}, want: "203.0.113.9"},
		{name: "trusted peer: client from X-Forwarded-For", remote: "10.0.0.2:1", trusted: proxies,
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, want: "198.51.100.7"},
		{name: "rightmost untrusted hop wins over a spoofed left part", remote: "10.0.0.2:1", trusted: proxies,
			headers: map[string][]string{"X-Forwarded-For": {"1.1.1.1, 6.6.6.6, 198.51.100.7, 10.9.9.9"}}, want: "198.51.100.7"},
		{name: "several header lines are one list", remote: "10.0.0.2:1", trusted: proxies,
			headers: map[string][]string{"X-Forwarded-For": {"1.1.1.1, 198.51.100.7", "10.3.3.3", "192.0.2.200"}}, want: "198.51.100.7"},
		{name: "every hop trusted: leftmost", remote: "10.0.0.2:1", trusted: proxies,
			headers: map[string][]string{"X-Forwarded-For": {"10.1.1.1, 10.2.2.2"}}, want: "10.1.1.1"},
		{name: "empty elements skipped", remote: "10.0.0.2:1", trusted: proxies,
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.7,, ", ""}}, want: "198.51.100.7"},
		{name: "hop with port", remote: "10.0.0.2:1", trusted: proxies,
			headers: map[string][]string{"X-Forwarded-For": {"[2001:db8:1::5]:1234, 198.51.100.7:80"}}, want: "198.51.100.7"},
		{name: "IPv6 proxy chain", remote: "[2001:db8:ffff::1]:1", trusted: proxies,
			headers: map[string][]string{"X-Forwarded-For": {"2001:db8:1::5, 2001:db8:ffff:1::9"}}, want: "2001:db8:1::5"},
		{name: "garbage left of the client is ignored", remote: "10.0.0.2:1", trusted: proxies,
			headers: map[string][]string{"X-Forwarded-For": {"not-an-ip, 198.51.100.7"}}, want: "198.51.100.7"},
		{name: "garbage from a trusted proxy fails", remote: "10.0.0.2:1", trusted: proxies,
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.7, unknown"}}, wantErr: "X-Forwarded-For hop"},
		{name: "trusted peer: X-Real-IP", remote: "10.0.0.2:1", trusted: proxies,
			headers: map[string][]string{"X-Real-Ip": {"6.6.6.6", "198.51.100.7"}}, want: "198.51.100.7"},
		{name: "X-Forwarded-For before X-Real-IP", remote: "10.0.0.2:1", trusted: proxies,
			headers: map[string][]string{"X-Real-Ip": {"6.6.6.6"}, "X-Forwarded-For": {"198.51.100.7"}}, want: "198.51.100.7"},
		{name: "bad X-Real-IP from a trusted proxy fails", remote: "10.0.0.2:1", trusted: proxies,
			headers: map[string][]string{"X-Real-Ip": {"nope"}}, wantErr: "X-Real-IP"},
		{name: "trusted peer without headers", remote: "10.0.0.2:1", trusted: proxies, want: "10.0.0.2"},
		{name: "IPv4-mapped prefix matches IPv4 peer", remote: "192.0.2.1:1", trusted: []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.0/120")},
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, want: "198.51.100.7"},
		{name: "unix socket peer fails", remote: "@", wantErr: "RemoteAddr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/authorize", nil)
			r.RemoteAddr = tc.remote
			for k, v := range tc.headers {
				r.Header[k] = v
			}
			got, err := fanfare.ClientIP(r, tc.trusted)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.True(t, strings.HasPrefix(err.Error(), "fanfare: "), "error %q", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.String())
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := fanfare.ParseTrustedProxies("10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "::1", "::ffff:198.51.100.1", "172.16.5.4/12")
	require.NoError(t, err)
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "::1/128", "198.51.100.1/32", "172.16.0.0/12"}
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i], got[i].String())
	}

	for _, bad := range []string{"", "10.0.0.0/33", "example.com", "fe80::1%eth0/64", "10.0.0.1/"} {
		t.Run(bad, func(t *testing.T) {
			_, err := fanfare.ParseTrustedProxies("10.0.0.0/8", bad)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "fanfare: trusted proxy "), "error %q", err)
		})
	}
}

// FuzzClientIP checks that headers never matter unless the peer is a
// trusted proxy, and that an answer is always a valid address.
func FuzzClientIP(f *testing.F) {
	f.Add("203.0.113.9:1", "198.51.100.1", "")
	f.Add("10.0.0.1:1", "1.1.1.1, 198.51.100.7, 10.2.2.2", "")
	f.Add("10.0.0.1:1", "", "198.51.100.7")
	f.Add("[2001:db8::1]:1", "[2001:db8::2]:80,,", "x")
	f.Add("10.0.0.1:1", "unknown, ::ffff:1.2.3.4%eth0", "")
	f.Add("@", ",", "")
	trustedProxies := mustPrefixes(f, "10.0.0.0/8", "2001:db8::/32")
	f.Fuzz(func(t *testing.T, remote, xff, xrealip string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		if xff != "" {
			r.Header["X-Forwarded-For"] = strings.Split(xff, "\n")
		}
		if xrealip != "" {
			r.Header["X-Real-Ip"] = []string{xrealip}
		}
		got, err := fanfare.ClientIP(r, trustedProxies)
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "fanfare: "))
			return
		}
		require.True(t, got.IsValid())
		require.False(t, got.Is4In6())
		require.Empty(t, got.Zone())
		peer, err := fanfare.ClientIP(&http.Request{RemoteAddr: remote}, nil)
		require.NoError(t, err, "a request with headers resolved, so its peer alone must")
		if !peer.IsValid() || !(netip.MustParsePrefix("10.0.0.0/8").Contains(peer) || netip.MustParsePrefix("2001:db8::/32").Contains(peer)) {
			require.Equal(t, peer, got, "headers from an untrusted peer changed the client")
		}
	})
}

func FuzzParseTrustedProxies(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:1.2.3.4", "", "x/8", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := fanfare.ParseTrustedProxies(s)
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "fanfare: trusted proxy "))
			return
		}
		require.Len(t, got, 1)
		require.True(t, got[0].IsValid())
		require.Equal(t, got[0], got[0].Masked())
	})
}
