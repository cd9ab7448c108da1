package ssrf_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/services/webhooks/ssrf"
)

func TestCheck(t *testing.T) {
	forbidden := map[string]string{
		"loopback v4":           "127.0.0.1",
		"loopback v4 other":     "127.8.9.10",
		"loopback v6":           "::1",
		"private 10":            "10.1.2.3",
		"private 172":           "172.16.5.4",
		"private 192":           "192.168.1.1",
		"link-local metadata":   "169.254.169.254",
		"CGNAT":                 "100.64.0.1",
		"multicast v4":          "224.0.0.1",
		"unspecified v4":        "0.0.0.0",
		"unspecified v6":        "::",
		"broadcast":             "255.255.255.255",
		"IPv4-mapped loopback":  "::ffff:127.0.0.1",
		"IPv4-mapped metadata":  "::ffff:169.254.169.254",
		"unique local / AWS v6": "fd00:ec2::254",
		"link-local v6":         "fe80::1",
		"multicast v6":          "ff02::1",
		"NAT64 of loopback":     "64:ff9b::7f00:1",
		"6to4 of private":       "2002:c0a8:0101::1",
		"zoned link-local v6":   "fe80::1%eth0",
	}
	for name, s := range forbidden {
		t.Run(name, func(t *testing.T) {
			err := ssrf.Check(netip.MustParseAddr(s))
			if !errors.Is(err, ssrf.ErrForbidden) {
				t.Errorf("Check(%s) = %v, want ErrForbidden", s, err)
			}
		})
	}
	for _, s := range []string{"93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"} {
		if err := ssrf.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want allowed", s, err)
		}
	}
}

// fakeResolver answers every name with the given addresses (a stand-in
// for DNS in a unit test of the URL rules; the delivery-time guard is
// tested against real connections in package dispatch).
type fakeResolver []string

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == "nxdomain.invalid" {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range r {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	strict := ssrf.Guard{Resolver: fakeResolver{"93.184.215.14"}}
	rebinding := ssrf.Guard{Resolver: fakeResolver{"93.184.215.14", "127.0.0.1"}}
	dev := ssrf.Guard{AllowPrivate: true}
	tests := map[string]struct {
		g    ssrf.Guard
		url  string
		want string // "" ok, else a substring of the error
	}{
		"https public":           {strict, "https://hooks.example.com/in", ""},
		"http refused":           {strict, "http://hooks.example.com/in", "https"},
		"ftp refused":            {strict, "ftp://hooks.example.com/in", "scheme"},
		"literal loopback":       {strict, "https://127.0.0.1/in", "loopback"},
		"literal v6 loopback":    {strict, "https://[::1]:8443/in", "loopback"},
		"literal metadata":       {strict, "https://169.254.169.254/latest/meta-data", "link-local"},
		"name with a private ip": {rebinding, "https://hooks.example.com/in", "not allowed"},
		"no host":                {strict, "https:///in", "host"},
		"user info":              {strict, "https://u:p@hooks.example.com/in", "user information"},
		"fragment":               {strict, "https://hooks.example.com/in#x", "fragment"},
		"unresolvable":           {strict, "https://nxdomain.invalid/in", "does not resolve"},
		"dev: http loopback ok":  {dev, "http://127.0.0.1:9999/", ""},
		"dev: still no ftp":      {dev, "ftp://127.0.0.1/", "scheme"},
		"relative":               {strict, "/in", "scheme"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.g.CheckURL(ctx, tc.url)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckURL(%s) = %v, want ok", tc.url, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckURL(%s) = %v, want an error containing %q", tc.url, err, tc.want)
			}
		})
	}
}

func TestControl(t *testing.T) {
	g := ssrf.Guard{}
	if err := g.Control("tcp4", "127.0.0.1:80", nil); !errors.Is(err, ssrf.ErrForbidden) {
		t.Errorf("Control(127.0.0.1:80) = %v, want ErrForbidden", err)
	}
	if err := g.Control("tcp6", "[::ffff:10.0.0.1]:443", nil); !errors.Is(err, ssrf.ErrForbidden) {
		t.Errorf("Control(mapped private) = %v, want ErrForbidden", err)
	}
	if err := g.Control("tcp4", "8.8.8.8:443", nil); err != nil {
		t.Errorf("Control(8.8.8.8:443) = %v, want allowed", err)
	}
	if err := (ssrf.Guard{AllowPrivate: true}).Control("tcp4", "127.0.0.1:80", nil); err != nil {
		t.Errorf("AllowPrivate: Control = %v", err)
	}
}
