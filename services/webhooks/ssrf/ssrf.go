// Package ssrf keeps webhook deliveries away from internal networks.
//
// A webhook URL is chosen by a user, so a delivery must not become a way
// to reach what only the server can reach: loopback, private networks,
// link-local addresses (cloud metadata at 169.254.169.254 and
// fd00:ec2::254), carrier-grade NAT, multicast, unspecified and other
// special-purpose ranges, in IPv4 and IPv6 (IPv4-mapped and the NAT64 and
// 6to4 forms included, by the IPv4 address they carry).
//
// The guard is applied twice: when an endpoint is registered
// ([Guard.CheckURL] resolves its host), and on every delivery by the
// dialer's Control hook ([Guard.Control]), which sees the address actually
// connected to, so a DNS answer that changes between the check and the
// delivery (DNS rebinding) is refused as well. A Guard with AllowPrivate
// set (development: a receiver on 127.0.0.1) refuses nothing.
package ssrf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrForbidden is wrapped by every refusal of an address.
var ErrForbidden = errors.New("address not allowed for webhooks")

// blocked are the ranges a webhook may never reach (unless AllowPrivate).
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network", unspecified
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // carrier-grade NAT
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"192.88.99.0/24",  // 6to4 relay anycast
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast
		"::/128",          // unspecified
		"::1/128",         // loopback
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard
		"2001::/32",       // Teredo
		"2001:db8::/32",   // documentation
		"fc00::/7",        // unique local (incl. fd00:ec2::254, AWS metadata)
		"fe80::/10",       // link-local
		"fec0::/10",       // deprecated site-local
		"ff00::/8",        // multicast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// embedded6 are IPv6 ranges that carry an IPv4 address in their last
// (NAT64) or second and third (6to4) bytes: checked by that address.
var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// Check returns nil when ip may be reached by a webhook, else an error
// wrapping ErrForbidden that names the range.
func Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrForbidden)
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if ip.Is6() {
		switch {
		case nat64.Contains(ip):
			b := ip.As16()
			if err := Check(netip.AddrFrom4([4]byte(b[12:16]))); err != nil {
				return fmt.Errorf("%w (NAT64 form of it: %s)", err, ip)
			}
		case sixTo4.Contains(ip):
			b := ip.As16()
			if err := Check(netip.AddrFrom4([4]byte(b[2:6]))); err != nil {
				return fmt.Errorf("%w (6to4 form of it: %s)", err, ip)
			}
		}
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return fmt.Errorf("%w: %s is in %s (%s)", ErrForbidden, ip, p, describe(p))
		}
	}
	return nil
}

func describe(p netip.Prefix) string {
	a := p.Addr()
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local, cloud metadata"
	case a.IsMulticast():
		return "multicast"
	case a.IsUnspecified():
		return "unspecified"
	case p.String() == "100.64.0.0/10":
		return "carrier-grade NAT"
	}
	return "special-purpose"
}

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard checks webhook URLs and the connections of deliveries.
type Guard struct {
	// AllowPrivate lets every address through (development and tests:
	// receivers on 127.0.0.1). Default: false.
	AllowPrivate bool
	// Resolver resolves host names in CheckURL. Default: net.DefaultResolver.
	Resolver Resolver
}

// CheckURL validates a webhook URL: absolute, https (http only with
// AllowPrivate), a host, no user information, no fragment, and every
// address its host resolves to allowed by Check (a literal IP is checked
// as it is). The error is meant for the user.
func (g Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url does not parse: %w", err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && g.AllowPrivate:
	case u.Scheme == "http":
		return errors.New("url must use https")
	default:
		return fmt.Errorf("url must be an https URL (got scheme %q)", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return errors.New("url must be absolute with a host")
	}
	if u.User != nil {
		return errors.New("url must not carry user information")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("url must not have a fragment")
	}
	if g.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return Check(ip)
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("host %s does not resolve: %w", host, err)
	}
	if len(ips) == 0 {
		return fmt.Errorf("host %s has no address", host)
	}
	for _, ip := range ips {
		if err := Check(ip); err != nil {
			return fmt.Errorf("host %s: %w", host, err)
		}
	}
	return nil
}

// Control is a net.Dialer Control hook: it refuses a connection to an
// address Check forbids, after name resolution and before the connect,
// so it judges the address actually dialled. With AllowPrivate it allows
// everything.
func (g Guard) Control(network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialled address %q: %v", ErrForbidden, address, err)
	}
	return Check(ap.Addr())
}
