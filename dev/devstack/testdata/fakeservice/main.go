// Command fakeservice stands in for a vidpipe service in the dev stack's
// tests of Run (the infrastructure is real): it prints the configuration
// the stack gave it, serves /healthz and /readyz on api.addr (and
// api.ops_addr when set) or stage.http_addr, and stops on SIGTERM.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	for _, k := range []string{"VIDPIPE_KAFKA_BROKERS", "VIDPIPE_S3_ENDPOINT", "VIDPIPE_POSTGRES_URL", "VIDPIPE_KAFKA_CLIENT_ID"} {
		fmt.Printf("config %s=%s\n", k, os.Getenv(k))
	}
	addr := os.Getenv("VIDPIPE_API_ADDR")
	if addr == "" {
		addr = os.Getenv("VIDPIPE_STAGE_HTTP_ADDR")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("/healthz", ok)
	mux.Handle("/readyz", ok)
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	if ops := os.Getenv("VIDPIPE_API_OPS_ADDR"); ops != "" {
		ol, err := net.Listen("tcp", ops)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			os.Exit(1)
		}
		opsSrv := &http.Server{Handler: mux}
		go opsSrv.Serve(ol)
		defer opsSrv.Close()
		fmt.Printf("operations on %s\n", ol.Addr())
	}
	fmt.Printf("listening on %s as pid %d\n", l.Addr(), os.Getpid())
	<-ctx.Done()
	srv.Close()
	fmt.Println("got SIGTERM, stopping")
}
