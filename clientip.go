package fanfare

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses the addresses of the reverse proxies in front
// of the server, for [RateLimitOptions].TrustedProxies: CIDR prefixes
// ("10.0.0.0/8", "2001:db8::/32") or single addresses ("192.0.2.7", a /32 or
// /128). Use it on configuration read from the environment; it names the
// first entry it cannot parse.
func ParseTrustedProxies(list ...string) ([]netip.Prefix, error) {
	prefixes := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if !strings.Contains(s, "/") {
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

// clientIP returns the address of the client that sent r, unmapped and
// without zone: the peer (r.RemoteAddr), unless the peer is a trusted proxy.
// Then X-Forwarded-For is read from the right (several lines are one list),
// and the first hop that is not a trusted proxy is the client, or the
// leftmost when all are; without X-Forwarded-For, the last X-Real-IP. It
// fails when RemoteAddr is not an IP address, or a trusted proxy passed on a
// hop that is not one: no budget can be picked safely then.
func clientIP(r *http.Request, trustedProxies []netip.Prefix) (netip.Addr, error) {
	client, err := parseHop(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("fanfare: RemoteAddr %q is not an IP address", truncate(r.RemoteAddr, 64))
	}
	if !trusted(client, trustedProxies) {
		return client, nil
	}
	if v := r.Header["X-Real-Ip"]; len(v) > 0 && len(r.Header["X-Forwarded-For"]) == 0 {
		if client, err = parseHop(v[len(v)-1]); err != nil {
			return netip.Addr{}, fmt.Errorf("fanfare: X-Real-IP %q is not an IP address", truncate(v[len(v)-1], 64))
		}
		return client, nil
	}
	lines := r.Header["X-Forwarded-For"]
	for i := len(lines) - 1; i >= 0; i-- {
		for rest, more := lines[i], true; more; {
			comma := strings.LastIndexByte(rest, ',')
			hop := strings.TrimSpace(rest[comma+1:])
			rest, more = rest[:max(comma, 0)], comma >= 0
			if hop == "" { // empty list elements are allowed and mean nothing
				continue
			}
			if client, err = parseHop(hop); err != nil {
				return netip.Addr{}, fmt.Errorf("fanfare: X-Forwarded-For hop %q is not an IP address", truncate(hop, 64))
			}
			if !trusted(client, trustedProxies) {
				return client, nil
			}
		}
	}
	return client, nil
}

// parseHop parses an address with or without a port, unmapped and without
// zone. It picks the parser by shape, since a failed parse allocates.
func parseHop(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
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
