package fanfare

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses the addresses of the reverse proxies in front
// of the server, for [RateLimitOptions].TrustedProxies and [ClientIP]: CIDR
// prefixes ("10.0.0.0/8", "2001:db8::/32") or single addresses ("192.0.2.7",
// a /32 or /128). Use it on configuration read from the environment; it
// names the first entry it cannot parse.
func ParseTrustedProxies(list ...string) ([]netip.Prefix, error) {
	prefixes := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if !strings.Contains(s, "/") { // a single address: its /32 or /128
			var a netip.Addr
			a, err = netip.ParseAddr(s)
			a = a.Unmap().WithZone("")
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil {
			return nil, fmt.Errorf("fanfare: trusted proxy %q: want a CIDR prefix or an IP address", truncate(s, 64))
		}
		prefixes = append(prefixes, p.Masked())
	}
	return prefixes, nil
}

// ClientIP returns the address of the client that sent r: the connection's
// peer (r.RemoteAddr), unless the peer is one of trustedProxies. Then
// X-Forwarded-For is read from the right, each hop appended by the proxy it
// reached, and the first hop that is not a trusted proxy is the client (hops
// to its left were written by the client); without X-Forwarded-For, the
// peer's X-Real-IP is used. So a spoofed header never changes the answer
// unless a proxy you trust vouches for it.
//
// IPv4-mapped IPv6 addresses are returned as IPv4, without zones. It fails
// when RemoteAddr is not an IP address (a Unix socket, say) or a trusted
// proxy passed on a hop that is not one.
func ClientIP(r *http.Request, trustedProxies []netip.Prefix) (netip.Addr, error) {
	peer, err := parseHop(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("fanfare: RemoteAddr %q is not an IP address", truncate(r.RemoteAddr, 64))
	}
	if !trusted(peer, trustedProxies) {
		return peer, nil
	}
	if hops := r.Header["X-Forwarded-For"]; len(hops) > 0 {
		return forwardedClient(peer, hops, trustedProxies)
	}
	if v := r.Header["X-Real-Ip"]; len(v) > 0 {
		// A proxy sets X-Real-IP after any the client sent: take the last.
		a, err := parseHop(v[len(v)-1])
		if err != nil {
			return netip.Addr{}, fmt.Errorf("fanfare: X-Real-IP %q is not an IP address", truncate(v[len(v)-1], 64))
		}
		return a, nil
	}
	return peer, nil
}

// forwardedClient walks the X-Forwarded-For hops from the right and returns
// the first untrusted one, or the leftmost when every hop is a trusted proxy.
// Several header lines are one list, in order.
func forwardedClient(peer netip.Addr, lines []string, trustedProxies []netip.Prefix) (netip.Addr, error) {
	client := peer
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			comma := strings.LastIndexByte(rest, ',')
			hop := strings.TrimSpace(rest[comma+1:])
			if hop != "" { // empty list elements are allowed and mean nothing
				a, err := parseHop(hop)
				if err != nil {
					// Written by a trusted proxy, so the header is broken:
					// no budget can be picked safely.
					return netip.Addr{}, fmt.Errorf("fanfare: X-Forwarded-For hop %q is not an IP address", truncate(hop, 64))
				}
				if !trusted(a, trustedProxies) {
					return a, nil
				}
				client = a
			}
			if comma < 0 {
				break
			}
			rest = rest[:comma]
		}
	}
	return client, nil
}

// parseHop parses an address with or without a port ("192.0.2.1",
// "192.0.2.1:443", "[2001:db8::1]:443", "2001:db8::1"), unmapped and without
// zone.
func parseHop(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	// Pick the parser by shape rather than try both: a failed parse
	// allocates its error, and RemoteAddr always carries a port.
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		ap, err := netip.ParseAddrPort(s)
		return ap.Addr().Unmap().WithZone(""), err
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap().WithZone(""), err
}

// trusted reports whether a falls in one of the prefixes. An IPv4 address
// also matches an IPv4-mapped IPv6 prefix.
func trusted(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) || (a.Is4() && p.Addr().Is4In6() && p.Contains(netip.AddrFrom16(a.As16()))) {
			return true
		}
	}
	return false
}
