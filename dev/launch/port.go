package launch

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Someone else may take it before the caller binds it.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreeAddr returns "127.0.0.1:PORT" with a port as [FreePort] picks it.
func FreeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago (each is held until all are picked, so none repeats).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreePortRun returns the first of n consecutive TCP ports on 127.0.0.1
// that were free a moment ago, chosen in 20000–31999, below the usual
// ephemeral range, so that client connections do not take them (the dev
// stack gives a run of ports to upload-api and its workers).
func FreePortRun(n int) (int, error) {
	for range 200 {
		start := 20000 + rand.IntN(12000)
		ok := true
		for p := start; p < start+n && ok; p++ {
			ok = portFree(p)
		}
		if ok {
			return start, nil
		}
	}
	return 0, errors.New("no run of " + strconv.Itoa(n) + " free ports found")
}

// portFree reports whether port can be bound on 127.0.0.1.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// TB is the part of testing.TB the Must helpers use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// MustFreePort is [FreePort] for tests: it fails tb on error.
func MustFreePort(tb TB) int {
	tb.Helper()
	port, err := FreePort()
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return port
}

// MustFreeAddr is [FreeAddr] for tests: it fails tb on error.
func MustFreeAddr(tb TB) string {
	tb.Helper()
	addr, err := FreeAddr()
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return addr
}

// MustFreePortRun is [FreePortRun] for tests: it fails tb on error.
func MustFreePortRun(tb TB, n int) int {
	tb.Helper()
	port, err := FreePortRun(n)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return port
}
