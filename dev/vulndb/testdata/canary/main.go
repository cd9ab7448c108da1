// Command canary calls golang.org/x/text/language.ParseAcceptLanguage from
// x/text v0.3.7, which is affected by GO-2022-1059 (fixed in v0.3.8).
// scripts/vulncheck.sh runs govulncheck on it to prove that the local
// vulnerability database finds a known, reachable vulnerability: a clean
// result on the real modules then means something.
package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	tags, weights, err := language.ParseAcceptLanguage(os.Args[1])
	fmt.Println(tags, weights, err)
}
