package smtest

import (
	"net"
	"strings"
)

// allowedHosts returns the host names (lower case, without port or
// brackets) that WithHostCheck lets through besides the loopback ones: the
// listen address's host, or every interface address when it is unspecified
// (0.0.0.0, ::), and extra.
func allowedHosts(listen net.Addr, extra []string) map[string]bool {
	hosts := map[string]bool{}
	if ta, ok := listen.(*net.TCPAddr); ok {
		if !ta.IP.IsUnspecified() {
			hosts[ta.IP.String()] = true
		} else if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					hosts[ipn.IP.String()] = true
				}
			}
		}
	}
	for _, h := range extra {
		hosts[normalHost(h)] = true
	}
	return hosts
}

// normalHost strips the port and IPv6 brackets of a Host header value and
// lowers its case; IP addresses are put in canonical form.
func normalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return h
}

// hostAllowed reports whether a request with this Host header may be
// answered (always, without WithHostCheck).
func (s *Server) hostAllowed(host string) bool {
	if s.allowedHosts == nil {
		return true
	}
	h := normalHost(host)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return true
	}
	return s.allowedHosts[h]
}
