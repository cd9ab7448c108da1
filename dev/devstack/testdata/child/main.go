// Command child is a stand-in service for the supervisor's tests: it
// writes to stdout and stderr, then exits with -code after -exit-after
// (0: runs until signalled). On SIGTERM it says so and exits 0, unless
// -ignore-term.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	exitAfter := flag.Duration("exit-after", 0, "exit after this long (0: never)")
	code := flag.Int("code", 0, "exit status")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	flag.Parse()

	term := make(chan os.Signal, 1)
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(term, syscall.SIGTERM)
	}

	fmt.Printf("started pid %d\n", os.Getpid())
	fmt.Fprintln(os.Stderr, "a line on stderr")
	fmt.Print("a partial line") // ended by the exit, not a newline

	if *exitAfter <= 0 {
		*exitAfter = 24 * time.Hour // a pending timer also keeps the deadlock detector quiet
	}
	exit := time.After(*exitAfter)
	select {
	case <-exit:
		os.Exit(*code)
	case <-term:
		fmt.Println()
		fmt.Println("got SIGTERM, stopping")
		os.Exit(0)
	}
}
